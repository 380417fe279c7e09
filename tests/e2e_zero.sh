#!/bin/bash
# End-to-end tests of ZeRO-1 (--zero 1, docs/arch/zero.md): 20 steps of gpt-small with --zero 1 equal plain data
# parallelism on the same ranks to 1e-6 (parameters, both Adam moments; AdamW weight decay and global-norm clipping
# active), at np=2 and at np=3 with a trainable-parameter count not divisible by 3 and buckets that cross the ranks'
# shares; the optimizer state per rank is its share; --zero 2 is a set-up error naming the flag.
. "$(dirname "$0")/e2e_lib.sh"

# a small generated text corpus (no dependency on ../shared)
e2e_corpus "$T/corpus.txt" 3 3000 12 "the quick brown fox jumps over a lazy dog and then sleeps in the warm sun"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
# gpt-small's preset: AdamW, weight decay 0.1 on the decay-flagged weights, clip 0.5; dropout keyed by global position
GPT="--model gpt-small --data $T/txt --n-layer 2 --n-embd 32 --n-head 2 --block 32 --dropout 0.1 --eval-batches 1 --threads 1 --log-every 100 --steps 20"
SMALL="--bucket-mb 0.02 --first-bucket-mb 0.005" # several buckets, crossing the ranks' shares
# tests/raw_near.py A B TOTAL TRAINABLE: two `ckpt raw` dumps agree to 1e-6
counts() { sed -n 's/.*(\([0-9]*\) parameters, \([0-9]*\) trainable).*/\1 \2/p' "$1" | head -1; }
state() { sed -n 's/.*optimizer state \([0-9]*\) bytes on rank 0 (\([0-9]*\) for all.*/\1 \2/p' "$1" | head -1; }

for np in 2 3; do
  extra=""; [ $np = 3 ] && extra="--comm-mode thread" # the communication-thread path at np=3
  $MPI -np $np "$TRAIN" $GPT --batch 4 --ckpt-dir "$T/p$np" --log-dir "$T/lp$np" --save-params "$T/p$np.h5" >"$T/out_p$np" 2>&1; rc1=$?
  $MPI -np $np "$TRAIN" $GPT --batch 4 --zero 1 $SMALL $extra --ckpt-dir "$T/z$np" --log-dir "$T/lz$np" --save-params "$T/z$np.h5" \
    >"$T/out_z$np" 2>&1; rc2=$?
  check "np=$np: plain and --zero 1 runs exit 0 (rc=$rc1, $rc2)" "[ $rc1 = 0 ] && [ $rc2 = 0 ]"
  read total tr < <(counts "$T/out_z$np")
  read mine all < <(state "$T/out_z$np")
  read pmine pall < <(state "$T/out_p$np")
  check "np=$np: --zero 1 holds 2 x floor($tr/$np) x 4 bytes of Adam state on rank 0 ($mine of $all; plain: $pmine)" \
    "[ \"$mine\" = $((2 * (tr / np) * 4)) ] && [ \"$all\" = $((2 * tr * 4)) ] && [ \"$pmine\" = \"$all\" ]"
  [ $np = 3 ] && check "np=3: $tr trainable parameters do not divide evenly by 3" "[ $((tr % 3)) != 0 ]"
  check "np=$np: global-norm clipping was active (grad_norm > 0.5 in some steps)" \
    "grep '\"train\"' $T/lz$np/metrics.jsonl | sed 's/.*grad_norm\": \([^,]*\),.*/\1/' | awk '\$1 > 0.5 {n++} END {exit !(n > 0)}'"
  check "np=$np: the logged losses and gradient norms of the 20 steps agree to 1e-5" "$PY -c \"
import json, sys
a, b = ([json.loads(l) for l in open(f) if '\\\"train\\\"' in l] for f in ('$T/lp$np/metrics.jsonl', '$T/lz$np/metrics.jsonl'))
assert len(a) == len(b) == 20
sys.exit(0 if all(abs(x[k] - y[k]) <= 1e-5 * abs(x[k]) for x, y in zip(a, b) for k in ('loss', 'grad_norm')) else 1)\""
  "$TRAIN" ckpt raw "$T/p$np" "$T/p$np.raw"; "$TRAIN" ckpt raw "$T/z$np" "$T/z$np.raw"
  check "np=$np: after 20 steps, parameters and both Adam moments of --zero 1 equal plain data parallelism to 1e-6" \
    "$PY $SRC/tests/raw_near.py $T/p$np.raw $T/z$np.raw $total $tr"
  # rank 0's full copy (the checkpoint holds each rank's own share): relative to the model's largest magnitude, as
  # above (per tensor it would be ill-posed: the attention key biases get a gradient of pure rounding noise)
  check "np=$np: the --save-params exports (rank 0's copy after the all-gather) agree to 1e-6" "$PY -c \"
import h5py, numpy as np, sys
a, b = h5py.File('$T/p$np.h5'), h5py.File('$T/z$np.h5')
assert sorted(a) == sorted(b) and len(a) > 0
d, m = max(float(np.abs(a[k][()] - b[k][()]).max()) for k in a), max(float(np.abs(a[k][()]).max()) for k in a)
print('  exports: max difference %.2e of the largest magnitude' % (d / m)); sys.exit(0 if d <= 1e-6 * m else 1)\""
done

# --- bad input: one line naming the flag, exit 2
$MPI -np 2 "$TRAIN" $GPT --batch 4 --zero 2 >/dev/null 2>"$T/err"; rc=$?
check "--zero 2: exit 2, one line naming the flag (rc=$rc: $(head -1 $T/err))" "[ $rc = 2 ] && [ \$(grep -c . $T/err) = 1 ] && grep -q zero $T/err"
$MPI -np 2 "$TRAIN" $GPT --batch 4 --zero 1 --device cuda >/dev/null 2>"$T/err"; rc=$?
check "--zero 1 --device cuda: exit 2, one line naming --zero (rc=$rc: $(head -1 $T/err))" \
  "[ $rc = 2 ] && [ \$(grep -c . $T/err) = 1 ] && grep -q -- '--zero 1' $T/err"

e2e_end
