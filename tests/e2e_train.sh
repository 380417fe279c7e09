#!/bin/bash
# End-to-end tests of the attn_train CLI on Fashion-MNIST: usage errors, a short data-parallel
# run and its metrics, determinism, N ranks x batch B == 1 rank x batch N*B, and a failing rank.
. "$(dirname "$0")/e2e_lib.sh"
FM=/usr/share/datasets/fashion-mnist
if [ ! -e $FM/train-images-idx3-ubyte.gz ]; then # make deps installs it: missing is a failure, not a skip
  echo "FAIL: $FM not found (make deps installs the Debian package dataset-fashion-mnist)"; exit 1
fi

"$BUILD/attn_data" convert idx $FM --shards 2 --out "$T/fm" >/dev/null || { echo "FAIL: convert"; exit 1; }

# --- usage errors: one line naming the problem, non-zero exit, on 1 and 2 ranks
expect_err() { # name, pattern, args...
  local name=$1 pat=$2; shift 2
  for np in 1 2; do
    $MPI -np $np "$TRAIN" "$@" >"$T/out" 2>"$T/err"; rc=$?
    n=$(grep -c . "$T/err")
    if [ $rc -ne 0 ] && [ "$n" = 1 ] && grep -q -- "$pat" "$T/err"; then ok "$name (np $np): $(cat "$T/err")"
    else bad "$name (np $np): rc=$rc lines=$n: $(head -3 "$T/err")"; fi
  done
}
expect_err "unknown flag" "--bogus" --model cnn --data "$T/fm" --bogus 3
expect_err "bad value" "batch" --model cnn --data "$T/fm" --batch ten
expect_err "missing data directory" "$T/nope" --model cnn --data "$T/nope"
expect_err "unknown model" "resnet9000" --model resnet9000 --data "$T/fm"

# --- a short run on 2 ranks: progress, metrics.jsonl, test evaluation
COMMON="--model cnn --attn spatial --data $T/fm --batch 32 --steps 6 --eval-batches 2 --log-every 2 --threads 1"
$MPI -np 2 "$TRAIN" $COMMON --log-dir "$T/run1" >"$T/out1" 2>&1; rc=$?
check "2-rank run exits 0" "[ $rc = 0 ]"
check "progress lines on rank 0" "grep -q 'step 6/6' $T/out1 && [ \$(grep -c 'step 6/6' $T/out1) = 1 ]"
check "metrics.jsonl has 6 train steps and a test line" \
  "[ \$(grep -c '\"split\": \"train\"' $T/run1/metrics.jsonl) = 6 ] && grep -q '\"split\": \"test\"' $T/run1/metrics.jsonl"

# --- determinism: same seed and rank count, bit-identical losses
$MPI -np 2 "$TRAIN" $COMMON --log-dir "$T/run2" >/dev/null 2>&1; rc=$?
check "second 2-rank run exits 0 (rc=$rc)" "[ $rc = 0 ]"
losses() { grep '"train"' "$1" | sed 's/.*"loss": \([^,]*\),.*/\1/'; }
check "bit-identical losses run to run" "[ \"\$(losses $T/run1/metrics.jsonl)\" = \"\$(losses $T/run2/metrics.jsonl)\" ]"

# --- data parallelism: 2 ranks x batch 16 == 1 rank x batch 32 (dropout on, spatial attention)
EQ="--model cnn --attn spatial --data $T/fm --steps 5 --optimizer sgd --lr 0.05 --momentum 0.9 --eval-batches 1 --threads 1"
$MPI -np 1 "$TRAIN" $EQ --batch 32 --log-dir "$T/eq1" --save-params "$T/p1.h5" >/dev/null 2>&1; rc1=$?
$MPI -np 2 "$TRAIN" $EQ --batch 16 --log-dir "$T/eq2" --save-params "$T/p2.h5" >/dev/null 2>&1; rc2=$?
$MPI -np 1 "$TRAIN" $EQ --steps 0 --epochs 0 --batch 32 --log-dir "$T/eq0" --save-params "$T/p0.h5" >/dev/null 2>&1; rc0=$?
check "np=1, np=2 and the untrained reference exit 0 (rc=$rc1 $rc2 $rc0)" "[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc0 = 0 ]"
cat > "$T/cmp.py" <<'PY'
import sys, h5py, numpy as np
a, b, z = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]), h5py.File(sys.argv[3])
assert sorted(a) == sorted(b) == sorted(z)
worst = max(float(np.abs(a[k][()] - b[k][()]).max() / max(np.abs(b[k][()]).max(), 1e-12)) for k in a)
# how far training moved the parameters from the untrained ones (z): the agreement must be far tighter
moved = max(float(np.abs(a[k][()] - z[k][()]).max() / max(np.abs(z[k][()]).max(), 1e-12)) for k in a)
print(f"max relative difference {worst:.2e} over {len(a)} tensors; training moved them by {moved:.2e}")
sys.exit(0 if worst < 1e-5 and moved > 100 * worst and moved > 1e-4 else 1)
PY
check "np=2 batch 16 == np=1 batch 32 after 5 steps (1e-5 relative)" "/usr/bin/python3 $T/cmp.py $T/p1.h5 $T/p2.h5 $T/p0.h5"
check "np=2 and np=1 losses agree" "/usr/bin/python3 - <<PY
import json
a=[json.loads(l)['loss'] for l in open('$T/eq1/metrics.jsonl') if '\"train\"' in l]
b=[json.loads(l)['loss'] for l in open('$T/eq2/metrics.jsonl') if '\"train\"' in l]
assert len(a)==len(b)==5 and all(abs(x-y)<=1e-5*abs(x) for x,y in zip(a,b)), (a,b)
PY"

# --- gradient accumulation: 2 ranks x 2 micro-batches of 8 == 1 rank x batch 32
$MPI -np 2 "$TRAIN" $EQ --batch 8 --accum 2 --log-dir "$T/eq3" --save-params "$T/p3.h5" >/dev/null 2>&1; rc=$?
check "np=2 --accum 2 --batch 8 == np=1 --batch 32 after 5 steps (1e-5 relative) (rc=$rc)" "[ $rc = 0 ] && /usr/bin/python3 $T/cmp.py $T/p1.h5 $T/p3.h5 $T/p0.h5"

# --- replica check: clean on healthy replicas, and it catches a replica diverged on purpose (ATTN_FAULT)
$MPI -np 2 "$TRAIN" $COMMON --check-replicas 2 --log-dir "$T/run3" >"$T/out3" 2>&1; rc=$?
check "--check-replicas passes on healthy replicas (rc=$rc)" "[ $rc = 0 ]"
ATTN_FAULT=diverge_at_step:2@1 $MPI -np 2 "$TRAIN" $COMMON --check-replicas 2 --log-dir "$T/run3d" >"$T/out3d" 2>"$T/err3d"; rc=$?
check "--check-replicas 2 catches rank 1 diverged at step 2 by step 3 (rc=$rc)" "[ $rc = 1 ] && grep -q 'replicas differ at step 3: rank 1 differs' $T/err3d"

# --- a failing rank: rank 1's copy of the data has a truncated shard; the job ends, naming rank 1
mkdir -p "$T/d0" "$T/d1"; cp "$T"/fm/* "$T/d0/"; cp "$T"/fm/* "$T/d1/"
f=$(ls "$T"/d1/train-*.h5 | head -1); head -c 4096 "$f" > "$f.x" && mv "$f.x" "$f"
start=$(date +%s)
$MPI -np 2 "$TRAIN" --model cnn --data "$T/d{rank}" --steps 3 --batch 8 >"$T/out4" 2>"$T/err4"; rc=$?
took=$(( $(date +%s) - start ))
check "a rank with a bad shard ends the job: set-up failure of one rank, exit 2 (rc=$rc, ${took}s)" "[ $rc = 2 ] && grep -q 'rank 1' $T/err4"
check "the message names the shard" "grep -q \"$(basename "$f")\" $T/err4"

# --- a NaN under --nan-policy stop ends the job with a message naming the step
$MPI -np 2 "$TRAIN" --model cnn --data "$T/fm" --steps 50 --batch 8 --lr 1000 --optimizer sgd --threads 1 \
  --eval-batches 1 >"$T/out5" 2>"$T/err5"; rc=$?
check "a non-finite gradient stops the job (rc=$rc)" "[ $rc = 1 ] && grep -q 'non-finite.*at step' $T/err5"

# --- a rank that stops answering: the other one times out in the allreduce and the job ends
$MPI -np 2 "$TRAIN" --model cnn --data "$T/fm" --steps 100000 --batch 8 --threads 1 --comm-timeout 3 \
  --log-dir "$T/hang" >"$T/out6" 2>"$T/err6" &
mpipid=$!
for i in $(seq 100); do [ -s "$T/hang/metrics.jsonl" ] && break; sleep 0.2; done
victim=$(pgrep -f "attn_train.*$T/hang" | grep -v "^$mpipid\$" | tail -1)
start=$(date +%s); kill -STOP "$victim"; wait $mpipid; rc=$?; took=$(( $(date +%s) - start ))
check "a silent rank: the job ends within seconds (rc=$rc, ${took}s)" "[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 60 ]"
check "the message names the collective and the step" "grep -q 'timed out after 3 s in \(allreduce\|broadcast\|barrier\|allgather\)[^:]* at step [0-9]' $T/err6"

e2e_end
