#!/bin/bash
# End-to-end tests of `attn_train sweep` and `attn_train plot`: a grid over groups of ranks, a failing
# configuration reported without stopping the others, each run equal to the same run on its own,
# the results table and plot, and bad sweep flags.
. "$(dirname "$0")/e2e_lib.sh"
TEXT=/usr/share/common-licenses/GPL-3   # an English text every Debian system has (base-files)
if [ ! -e $TEXT ]; then echo "SKIP: $TEXT not found"; exit 77; fi
losses() { grep '"train"' "$1" | sed 's/.*"loss": \([^,]*\),.*/\1/'; }

"$BUILD/attn_data" convert text $TEXT --out "$T/txt" >/dev/null || { echo "FAIL: convert"; exit 1; }
TINY="--model gpt-small --data $T/txt --n-embd 32 --n-layer 1 --n-head 2 --block 16 --steps 4 --eval-batches 1 --threads 1"

# --- 4 configurations on 2 groups of 1 rank; batch=100000 cannot run (more than the examples)
$MPI -np 2 "$TRAIN" sweep --grid lr=1e-3,2e-3 batch=4,100000 $TINY --log-dir "$T/sw" >"$T/out" 2>"$T/err"; rc=$?
check "sweep with a failing configuration exits 4 (some runs did not complete)" "[ $rc = 4 ]"
check "results.csv: a row per configuration" "[ \$(grep -c . $T/sw/results.csv) = 5 ]"
check "the two runnable configurations completed" "[ \$(grep -c ',done,' $T/sw/results.csv) = 2 ]"
check "the failing ones are reported with the flag" \
  "[ \$(grep ',failed,' $T/sw/results.csv | grep -c batch) = 2 ]"
check "results.md ranks the runs, best first" "sed -n 3p $T/sw/results.md | grep -q '(best)'"
check "one overlaid plot" "[ -s $T/sw/sweep.png ]"
check "each run has its own metrics and train.log" \
  "[ -s '$T/sw/lr=1e-3_batch=4/metrics.jsonl' ] && grep -q 'step 4/4' '$T/sw/lr=2e-3_batch=4/train.log'"

# --- a run of the sweep equals the same configuration trained on its own (bit-identical losses)
$MPI -np 1 "$TRAIN" $TINY --lr 2e-3 --batch 4 --log-dir "$T/alone" >/dev/null 2>&1
check "sweep run == standalone run" \
  "[ -n \"\$(losses $T/alone/metrics.jsonl)\" ] && [ \"\$(losses '$T/sw/lr=2e-3_batch=4/metrics.jsonl')\" = \"\$(losses $T/alone/metrics.jsonl)\" ]"

# --- groups of 2 ranks: one group runs both configurations data-parallel
$MPI -np 2 "$TRAIN" sweep --grid dropout=0,0.1 --ranks-per-run 2 $TINY --batch 2 --log-dir "$T/sw2" >"$T/out2" 2>&1; rc=$?
check "2-rank groups: exit 0, both done" "[ $rc = 0 ] && [ \$(grep -c ',done,' $T/sw2/results.csv) = 2 ]"
$MPI -np 2 "$TRAIN" $TINY --batch 2 --dropout 0.1 --log-dir "$T/alone2" >/dev/null 2>&1
check "2-rank sweep run == 2-rank standalone run" \
  "[ \"\$(losses '$T/sw2/dropout=0.1/metrics.jsonl')\" = \"\$(losses $T/alone2/metrics.jsonl)\" ]"

# --- the default thread count (no --threads): groups running side by side share the node's cores, as
# the ranks of one plain job do (unbound ranks, so the count is not capped by a one-core binding)
NT="${TINY/--threads 1/} --steps 1"
$MPI --bind-to none -np 2 "$TRAIN" sweep --grid lr=1e-3,2e-3 $NT --log-dir "$T/sw3" >/dev/null 2>&1
$MPI --bind-to none -np 2 "$TRAIN" $NT --log-dir "$T/alone3" >"$T/out3" 2>&1
thr() { grep -o 'x [0-9]* thread' "$1" | head -1; }
check "default threads in a sweep run = in a plain 2-rank job ($(thr $T/out3))" \
  "[ -n \"\$(thr $T/out3)\" ] && [ \"\$(thr '$T/sw3/lr=1e-3/train.log')\" = \"\$(thr $T/out3)\" ]"

# --- plot of two runs
"$TRAIN" plot "$T/alone" "$T/sw/lr=1e-3_batch=4" --out "$T/p.svg" >/dev/null 2>&1; rc=$?
check "plot writes an SVG" "[ $rc = 0 ] && grep -q '<svg' $T/p.svg"

# --- bad sweep flags: one line naming the problem, exit 2
expect_err() { # name, pattern, args...
  local name=$1 pat=$2; shift 2
  $MPI -np 2 "$TRAIN" "$@" >"$T/o" 2>"$T/e"; rc=$?
  if [ $rc = 2 ] && [ "$(grep -c . "$T/e")" = 1 ] && grep -q -- "$pat" "$T/e"; then ok "$name: $(cat "$T/e")"
  else bad "$name: rc=$rc $(head -3 "$T/e")"; fi
}
expect_err "ranks-per-run not dividing the job" "--ranks-per-run" sweep --grid lr=1e-3 --ranks-per-run 3 $TINY
expect_err "unknown grid key" "bogus" sweep --grid bogus=1,2 $TINY
expect_err "bad grid value" "lr" sweep --grid lr=fast $TINY
expect_err "no grid" "--grid" sweep $TINY

e2e_end
