#!/bin/bash
# End-to-end tests of checkpoints: byte-identical resume (ckpt raw + cmp), resume on another rank count
# (1e-6), preemption by a signal on one rank, export, --init-from with --freeze, generate.
. "$(dirname "$0")/e2e_lib.sh"
losses() { grep '"train"' "$1" | sed 's/.*"step": \([0-9]*\),.*"loss": \([^,]*\),.*/\1 \2/'; }

# a small text dataset (a generated corpus: no dependency on ../shared)
e2e_corpus "$T/corpus.txt" 3 3000 12 "the quick brown fox jumps over a lazy dog and then sleeps in the warm sun"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null || { echo "FAIL: convert text"; exit 1; }
GPT="--model gpt-small --data $T/txt --n-layer 2 --n-embd 32 --n-head 2 --block 32 --dropout 0.1 --eval-batches 1 --threads 1 --log-every 100"

# --- bit-identical resume on the same rank count: 8 steps straight == 4 steps, stop, resume, 4 steps;
# compared byte for byte on the final parameter and optimizer buffers (ckpt raw + cmp), np=2 -> np=2
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 8 --ckpt-dir "$T/ca" --log-dir "$T/a" >/dev/null 2>&1; rc=$?
check "8 straight steps on 2 ranks (rc=$rc)" "[ $rc = 0 ]"
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 4 --ckpt-dir "$T/ck" --log-dir "$T/b1" >/dev/null 2>&1; rc=$?
check "4 steps on 2 ranks (rc=$rc)" "[ $rc = 0 ]"
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 8 --ckpt-dir "$T/ck" --resume auto --log-dir "$T/b2" >"$T/out_b2" 2>&1; rc=$?
check "np=2 -> np=2 resume reports the step (rc=$rc)" "[ $rc = 0 ] && grep -q 'resumed from .*step 4' $T/out_b2"
"$TRAIN" ckpt raw "$T/ca" "$T/a.raw" && "$TRAIN" ckpt raw "$T/ck" "$T/b.raw"
check "np=2 -> np=2: final parameters + Adam state byte-identical to the straight run (cmp)" "[ -s $T/a.raw ] && cmp $T/a.raw $T/b.raw"
check "and the losses of the resumed steps are the straight run's" \
  "[ \"\$(losses $T/a/metrics.jsonl)\" = \"\$( (losses $T/b1/metrics.jsonl; losses $T/b2/metrics.jsonl) )\" ] && [ \$(losses $T/b2/metrics.jsonl | wc -l) = 4 ]"
# the final buffers of two checkpoints to 1e-6 (relative to each buffer's largest magnitude)
cat > "$T/near.py" <<'PY'
import sys, numpy as np
a, b = np.fromfile(sys.argv[1], np.float32), np.fromfile(sys.argv[2], np.float32)
assert a.size == b.size and a.size > 0, (a.size, b.size)
worst = float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(a).max(), 1e-30))
print(f"max difference {worst:.2e} of the largest magnitude over {a.size} floats")
sys.exit(0 if worst <= 1e-6 and not np.array_equal(a, np.fromfile(sys.argv[3], np.float32)) else 1)
PY
"$TRAIN" ckpt raw "$T/ck/step_00000004" "$T/b4.raw"

# --- resume on another rank count: saved by 2 ranks x batch 8, resumed by 1 rank x batch 16 (same global
# batch, same examples in the same order, dropout keyed by the global position) and by 3 ranks
$MPI -np 1 "$TRAIN" $GPT --batch 16 --steps 8 --ckpt-dir "$T/c1ck" --resume "$T/ck/step_00000004" --log-dir "$T/c1" >"$T/out_c1" 2>&1; rc=$?
check "2 -> 1 rank resume continues at step 4 (rc=$rc)" "[ $rc = 0 ] && grep -q 'resumed from .*step 4.*written by 2 ranks' $T/out_c1"
"$TRAIN" ckpt raw "$T/c1ck" "$T/c1.raw"
check "2 -> 1 rank resume: final buffers equal the straight 2-rank run's to 1e-6 (and moved from step 4)" "$PY $T/near.py $T/a.raw $T/c1.raw $T/b4.raw"
$MPI -np 3 "$TRAIN" $GPT --batch 8 --steps 6 --ckpt-dir "$T/ck3" --resume "$T/ck/step_00000004" --log-dir "$T/c3" >"$T/out_c3" 2>&1; rc=$?
check "2 -> 3 rank resume runs steps 4 and 5 (rc=$rc)" "[ $rc = 0 ] && [ \$(losses $T/c3/metrics.jsonl | wc -l) = 2 ] && grep -q 'written by 2 ranks' $T/out_c3"
$MPI -np 1 "$TRAIN" $GPT --batch 8 --steps 7 --ckpt-dir "$T/ck1" --resume "$T/ck3" --log-dir "$T/c31" >"$T/out_c31" 2>&1; rc=$?
check "3 -> 1 rank resume (rc=$rc)" "[ $rc = 0 ] && grep -q 'resumed from .*step 6.*written by 3 ranks' $T/out_c31"
"$TRAIN" ckpt raw "$T/ck3" "$T/c3.raw"; "$TRAIN" ckpt raw "$T/ck3/latest" "$T/c3b.raw"
check "a checkpoint written by 3 ranks reads back identically (ckpt raw of root and of latest)" "[ -s $T/c3.raw ] && cmp -s $T/c3.raw $T/c3b.raw"

# --- export, and --init-from + --freeze
$MPI -np 1 "$TRAIN" export "$T/ck" "$T/export.h5" >/dev/null 2>&1; rc=$?
check "export exits 0 (rc=$rc)" "[ $rc = 0 ]"
check "export writes one dataset per parameter, readable by h5py" "$PY -c \"
import h5py; f = h5py.File('$T/export.h5'); assert 'blocks.0.attn.query.weight' in f and f['tok_emb.weight'].shape[1] == 32\""
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 3 --init-from "$T/export.h5" --freeze tok_emb,blocks.0 \
  --save-params "$T/frozen.h5" --log-dir "$T/f" >"$T/out_f" 2>&1; rc=$?
check "--init-from reports what it loaded (rc=$rc)" "[ $rc = 0 ] && grep -q 'init-from .* of .* parameters loaded' $T/out_f"
check "--freeze: frozen parameters keep the imported values, others train" "$PY -c \"
import h5py, numpy as np
a, b = h5py.File('$T/export.h5'), h5py.File('$T/frozen.h5')
assert np.array_equal(a['tok_emb.weight'][()], b['tok_emb.weight'][()])
assert np.array_equal(a['blocks.0.mlp.0.weight'][()], b['blocks.0.mlp.0.weight'][()])
assert not np.array_equal(a['blocks.1.mlp.0.weight'][()], b['blocks.1.mlp.0.weight'][()])\""
$MPI -np 1 "$TRAIN" $GPT --batch 8 --steps 1 --freeze nosuchlayer >/dev/null 2>"$T/err_fr"; rc=$?
check "--freeze with a prefix that matches nothing: exit 2 naming it (rc=$rc)" "[ $rc = 2 ] && grep -q 'nosuchlayer' $T/err_fr"
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 1 --resume "$T/nope" >/dev/null 2>"$T/err_rs"; rc=$?
check "--resume of a missing checkpoint: exit 2 (set-up error), one line naming it (rc=$rc)" \
  "[ $rc = 2 ] && [ \$(grep -c . $T/err_rs) = 1 ] && grep -q -- '--resume $T/nope' $T/err_rs"

# --- generate from the checkpoint: deterministic for a seed, unknown prompt characters rejected
"$TRAIN" generate --ckpt "$T/ck" --prompt "the " --length 40 --seed 5 >"$T/g1" 2>/dev/null; rc1=$?
"$TRAIN" generate --ckpt "$T/ck" --prompt "the " --length 40 --seed 5 >"$T/g2" 2>/dev/null; rc2=$?
check "generate: same seed, same text" "[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ -s $T/g1 ] && cmp -s $T/g1 $T/g2 && [ \$(head -c 4 $T/g1) = the ]"
"$TRAIN" generate --ckpt "$T/ck" --prompt "the Q" --length 5 >/dev/null 2>"$T/gerr"; rc=$?
check "generate: a prompt character outside the vocabulary is a clear error" "[ $rc != 0 ] && grep -q \"'Q'\" $T/gerr"

# --- preemption: SIGTERM reaches one rank only; the ranks agree, checkpoint, exit 3
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 100000 --ckpt-dir "$T/pre" --log-dir "$T/p" >"$T/out_p" 2>&1 &
mpipid=$!
for i in $(seq 150); do [ -s "$T/p/metrics.jsonl" ] && break; sleep 0.2; done
victim=$(pgrep -f "attn_train.*$T/pre" | grep -v "^$mpipid\$" | tail -1)
kill -TERM "$victim"; wait $mpipid; rc=$?
check "SIGTERM on one rank: exit status 3 (rc=$rc)" "[ $rc = 3 ]"
check "SIGTERM: a complete checkpoint at the agreed step" "[ -e $T/pre/latest/meta.h5 ] && grep -q 'stop signal' $T/out_p"

# (kill -9 in each phase of a checkpoint write: tests/e2e_fault.sh, with ATTN_FAULT instead of sleeps)

e2e_end
