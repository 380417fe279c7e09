#!/bin/bash
# End-to-end fault tests driven by the ATTN_FAULT hook (src/nn_fault.h, tests/README.md): kill -9 in
# each phase of a checkpoint write (resume loads the previous complete checkpoint, says which, and ends
# byte-identical to a run that never crashed), a run-time failure on one rank (exit 1, its message, no
# hang), a rank stalled in a collective (the others time out naming it), a rank that dies, a NaN on one
# rank, a diverged replica caught by --check-replicas, and the set-up checks of --ckpt-dir / --resume.
. "$(dirname "$0")/e2e_lib.sh"
MPI="timeout 120 mpirun -q"

e2e_corpus "$T/corpus.txt" 3 3000 12 "the quick brown fox jumps over a lazy dog and then sleeps in the warm sun"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null || { echo "FAIL: convert text"; exit 1; }
GPT="--model gpt-small --data $T/txt --n-layer 2 --n-embd 32 --n-head 2 --block 32 --dropout 0.1 --eval-batches 1 --threads 1 --log-every 100 --batch 8 --steps 6"

# --- the uncrashed reference: 6 steps on 2 ranks, a checkpoint after every step
$MPI -np 2 "$TRAIN" $GPT --ckpt-every 1 --keep 2 --ckpt-dir "$T/ref" --log-dir "$T/lref" >"$T/out_ref" 2>&1; rc=$?
check "reference run exits 0 (rc=$rc)" "[ $rc = 0 ]"
"$TRAIN" ckpt raw "$T/ref" "$T/ref.raw" >/dev/null 2>&1
check "ckpt raw writes params + Adam m + v" "[ -s $T/ref.raw ]"

# --- kill -9 inside each phase of a checkpoint write, then --resume auto to the end
# phase:step@rank  (ckpt_between_renames needs a re-save of an existing step: see the resume below)
for fault in ckpt_after_shard:3@1 ckpt_after_meta:3@0 ckpt_before_latest:3@0 ckpt_during_prune:4@0; do
  d="$T/k_${fault%%:*}"
  ATTN_FAULT=$fault $MPI -np 2 "$TRAIN" $GPT --ckpt-every 1 --keep 2 --ckpt-dir "$d" --log-dir "$d.log" >"$d.out1" 2>&1; rc=$?
  check "$fault: the job dies (rc=$rc) at the fault" "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'ATTN_FAULT: rank .*$fault\\|ATTN_FAULT: rank .*${fault%@*}' $d.out1"
  $MPI -np 2 "$TRAIN" $GPT --ckpt-every 1 --keep 2 --ckpt-dir "$d" --resume auto --log-dir "$d.log2" >"$d.out2" 2>&1; rc=$?
  case $fault in
    ckpt_after_shard*|ckpt_after_meta*) want=2 ;; # step 3 never published: the previous one
    ckpt_before_latest*) want=2 ;;                 # step 3 in place but latest still at 2: latest first
    *) want=${fault#*:}; want=${want%@*} ;;       # published, killed while pruning: that one
  esac
  check "$fault: resume auto loads step $want and says so (rc=$rc)" "[ $rc = 0 ] && grep -q \"resumed from $d/step_0000000$want: step $want\" $d.out2"
  "$TRAIN" ckpt raw "$d" "$d.raw" >/dev/null 2>&1
  check "$fault: final parameters and optimizer state byte-identical to the uncrashed run (cmp)" "cmp -s $T/ref.raw $d.raw"
  "$TRAIN" ckpt verify "$d" >"$d.ver" 2>&1; rc=$?
  check "$fault: ckpt verify: every remaining checkpoint complete (rc=$rc)" "[ $rc = 0 ] && ! grep -q FAILED $d.ver"
done
# re-saving an existing step, killed between the two renames: resume from step 5 rewrites step 6
d="$T/k_renames"; cp -a "$T/ref" "$d"
ATTN_FAULT=ckpt_between_renames:6@0 $MPI -np 2 "$TRAIN" $GPT --ckpt-every 1 --keep 2 --ckpt-dir "$d" \
  --resume "$d/step_00000005" --log-dir "$d.log" >"$d.out1" 2>&1; rc=$?
check "ckpt_between_renames:6: the job dies (rc=$rc) with step 6 renamed away" "[ $rc != 0 ] && [ ! -e $d/step_00000006 ] && [ -d $d/step_00000006.old ]"
$MPI -np 2 "$TRAIN" $GPT --ckpt-every 1 --keep 2 --ckpt-dir "$d" --resume auto --log-dir "$d.log2" >"$d.out2" 2>&1; rc=$?
check "ckpt_between_renames: resume auto puts the old copy of step 6 back, says so and loads it (rc=$rc)" \
  "[ $rc = 0 ] && grep -q 'restored the previous copy from $d/step_00000006.old' $d.out2 && grep -q 'resumed from $d/step_00000006: step 6' $d.out2"
"$TRAIN" ckpt raw "$d" "$d.raw" >/dev/null 2>&1
check "ckpt_between_renames: it equals the uncrashed run's (cmp)" "[ -d $d/step_00000006 ] && cmp -s $T/ref.raw $d.raw"
"$TRAIN" ckpt list "$d" >"$d.list" 2>&1; rc=$?
check "ckpt list: step, ranks, model, complete, latest (rc=$rc)" "[ $rc = 0 ] && grep -q 'step_00000006 *6 .* 2 gpt-small .*complete (latest)' $d.list"

# --- a new run in a directory holding an older run's higher-numbered checkpoints
d="$T/lineage"; cp -a "$T/ref" "$d"   # old run: steps 5 and 6
$MPI -np 2 "$TRAIN" $GPT --steps 3 --ckpt-every 1 --keep 2 --ckpt-dir "$d" --log-dir "$d.l1" >/dev/null 2>&1; rc=$?
check "new run beside an older run's steps 5, 6: its own step 1 pruned, the old run's kept (rc=$rc)" \
  "[ $rc = 0 ] && [ \"\$(ls $d | grep '^step_' | tr '\n' ' ')\" = 'step_00000002 step_00000003 step_00000005 step_00000006 ' ]"
$MPI -np 2 "$TRAIN" $GPT --ckpt-dir "$d" --resume auto --log-dir "$d.l2" >"$d.out" 2>&1; rc=$?
check "resume auto continues the run written last (step 3), not the highest step (6) (rc=$rc)" "[ $rc = 0 ] && grep -q 'resumed from $d/step_00000003: step 3' $d.out"

# --- set-up checks: exit 2, one line naming the flag, before the first step
for args in "--ckpt-dir /proc/x --ckpt-every 1" "--resume /nonexistent" "--resume auto"; do
  start=$(date +%s)
  $MPI -np 2 "$TRAIN" $GPT $args --log-dir "$T/setup" >"$T/out_s" 2>"$T/err_s"; rc=$?
  flag=$(echo $args | cut -d' ' -f1); [ "$args" = "--resume auto" ] && flag=--ckpt-dir
  check "$args: exit 2, one line naming $flag, no step trained (rc=$rc)" \
    "[ $rc = 2 ] && [ \$(grep -c . $T/err_s) = 1 ] && grep -q -- '$flag' $T/err_s && ! grep -q '\"train\"' $T/setup/metrics.jsonl 2>/dev/null"
done

# --- a run-time failure on one rank after training started: exit 1, its message, no hang
start=$(date +%s)
ATTN_FAULT=allreduce_at_step:3@1 $MPI -np 2 "$TRAIN" $GPT --comm-timeout 20 --log-dir "$T/rt" >"$T/out_rt" 2>"$T/err_rt"; rc=$?
took=$(( $(date +%s) - start ))
check "allreduce failure on rank 1 at step 3: exit 1 within the timeout (rc=$rc, ${took}s)" "[ $rc = 1 ] && [ $took -lt 20 ]"
check "the message names rank 1, the allreduce and the step" "grep -q 'rank 1: MPI error in allreduce of gradient bucket .* at step 3' $T/err_rt"
check "steps 0-2 were trained first (a run-time, not a set-up, failure)" "[ \$(grep -c '\"train\"' $T/rt/metrics.jsonl) = 3 ]"
for mode in nonblocking thread; do
  start=$(date +%s)
  ATTN_FAULT=stall_at_step:3@1 $MPI -np 2 "$TRAIN" $GPT --steps 100 --comm-timeout 3 --comm-mode $mode --log-dir "$T/st" >"$T/out_st" 2>"$T/err_st"; rc=$?
  took=$(( $(date +%s) - start ))
  check "rank 1 stalled at step 3 ($mode): the job ends (rc=$rc, ${took}s)" "[ $rc != 0 ] && [ $rc != 124 ] && [ $took -lt 60 ]"
  check "rank 0 times out naming the collective and the step ($mode)" "grep -q 'rank 0: timed out after 3 s in allreduce of gradient bucket [0-9]* (.* MB) at step 3' $T/err_st"
done
start=$(date +%s)
ATTN_FAULT=exit_at_step:2@1 $MPI -np 2 "$TRAIN" $GPT --steps 100 --comm-timeout 10 --log-dir "$T/ex" >"$T/out_ex" 2>&1; rc=$?
took=$(( $(date +%s) - start ))
check "rank 1 killed at step 2: the job ends, no hang (rc=$rc, ${took}s)" "[ $rc != 0 ] && [ $rc != 124 ] && [ $took -lt 60 ]"

# --- a NaN on one rank: every rank sees it through the allreduce
ATTN_FAULT=nan_at_step:2@1 $MPI -np 2 "$TRAIN" $GPT --log-dir "$T/nan" >"$T/out_nan" 2>"$T/err_nan"; rc=$?
check "NaN on rank 1 at step 2, --nan-policy stop: exit 1 naming step 2 (rc=$rc)" "[ $rc = 1 ] && grep -q 'non-finite gradient norm .* at step 2' $T/err_nan"
ATTN_FAULT=nan_at_step:2@1 $MPI -np 2 "$TRAIN" $GPT --nan-policy skip --check-replicas 1 --log-dir "$T/nan2" >"$T/out_nan2" 2>&1; rc=$?
check "NaN on rank 1, --nan-policy skip: step 2 skipped on every rank, replicas equal, exit 0 (rc=$rc)" \
  "[ $rc = 0 ] && grep -q 'step 2: non-finite gradient norm, step skipped' $T/out_nan2"

# --- --check-replicas catches a replica that diverged (and passes on healthy ones)
$MPI -np 2 "$TRAIN" $GPT --check-replicas 1 --log-dir "$T/cr0" >"$T/out_cr0" 2>&1; rc=$?
check "--check-replicas 1 on healthy replicas: exit 0 (rc=$rc)" "[ $rc = 0 ]"
ATTN_FAULT=diverge_at_step:3@1 $MPI -np 2 "$TRAIN" $GPT --check-replicas 1 --log-dir "$T/cr" >"$T/out_cr" 2>"$T/err_cr"; rc=$?
check "a replica diverged on rank 1 at step 3: caught at step 3, naming rank 1 (rc=$rc)" \
  "[ $rc != 0 ] && grep -q 'replicas differ at step 3: rank 1 differs' $T/err_cr"

e2e_end
