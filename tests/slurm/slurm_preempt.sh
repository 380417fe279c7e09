#!/bin/bash
# slurm/train_preemptible.sbatch on a private single-node Slurm cluster, against an uninterrupted
# run of the same training:
#   A  SIGUSR1 to the batch script mid-run (scancel --signal=USR1 --batch; what --signal=B:USR1@120 does)
#   B  scontrol requeue mid-run (SIGTERM to every process of the job; the job log must say so)
#   C  SIGUSR1 during start-up (defect 1: the ranks died on it and the job was not requeued)
#   D  a second submission gets its own checkpoint directory (defect 2); ATTN_CKPT_DIR continues a run
# Each requeued job must complete, keep an intact checkpoint chain, end with parameters byte-equal
# to the uninterrupted run's and a metrics.jsonl holding every step once (defect 3).
# ATTN_SLURM_SCRIPTS=DIR runs another copy of the scripts (to check that the test fails on old ones).
set -u
BUILD=${ATTN_BUILD_DIR:-$(pwd)}
SRC=$(cd "${ATTN_SOURCE_DIR:-$(dirname "$0")/../..}" && pwd)
SCRIPTS=${ATTN_SLURM_SCRIPTS:-$SRC/slurm}
T=$(mktemp -d /tmp/attn_slurm.XXXXXX)
CLUSTER_CLEANUP='[ -n "${ATTN_KEEP_TMP:-}" ] || rm -rf "$T"'
. "$SRC/tests/slurm/cluster.sh"
cluster_start "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export ATTN_TRAIN=${ATTN_TRAIN:-$BUILD/attn_train}
PY=/usr/bin/python3
pass=0; fail=0
ok() { echo "ok   - $1"; pass=$((pass+1)); }
bad() { echo "FAIL - $1"; fail=$((fail+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
. "$SRC/tests/slurm/tiny_data.sh"
make_tiny_text "$T/txt" || exit 1
STEPS=120
RUN="$GPT --steps $STEPS --ckpt-every 30 --keep 0 --log-every 10 --threads 1"
cd "$T"

# the uninterrupted run: same ranks, same threads, plain mpirun
timeout 300 mpirun -q -np 2 "$ATTN_TRAIN" $RUN --ckpt-dir ref/ck --log-dir ref >ref.out 2>&1 || { cat ref.out; echo "FAIL: reference run"; exit 1; }

"$ATTN_TRAIN" export ref/ck/latest ref.h5 >/dev/null 2>&1 || { echo "FAIL: attn_train export"; exit 1; }
# verified LABEL ID: checkpoint chain intact, parameters byte-equal to the reference, every step once
verified() {
  "$ATTN_TRAIN" export "ckpt/$1-$2/latest" "$1.h5" >/dev/null 2>&1 || { echo "   export ckpt/$1-$2/latest failed"; return 1; }
  $PY "$SRC/tests/slurm/verify_run.py" "ckpt/$1-$2" "runs/$1-$2/metrics.jsonl" $STEPS ref.h5 "$1.h5"
}
# submit NAME [sbatch options]: the job id; the run's arguments are $RUN
submit() { local n=$1; shift; sbatch --parsable --job-name="$n" --ntasks-per-node=2 --cpus-per-task=1 "$@" "$SCRIPTS/train_preemptible.sbatch" $RUN; }
# verify LABEL ID: the common checks on a preempted job
verify() {
  local n=$1 id=$2 st=$3 log="$T/$1-$2.out"
  check "$n: the job completes after its requeue (state $st, restarts $(job_field $id Restarts))" \
    "[ '$st' = COMPLETED ] && [ \"\$(job_field $id Restarts)\" -ge 1 ]"
  check "$n: the requeued run resumes from a checkpoint" "grep -q 'resumed from .*step' $log"
  check "$n: checkpoint chain intact, final parameters byte-equal to the uninterrupted run's, every step once in metrics.jsonl" \
    "verified $n $id"
  if [ $fail -gt 0 ]; then echo "--- $log"; cat "$log"; fi
}

# A: SIGUSR1 to the batch script mid-run
id=$(submit pA); CLUSTER_JOBS_CANCEL="$id"
wait_for "pA-$id.out" "step 20/" 60 || echo "   (A: no progress line within 60 s)"
scancel --signal=USR1 --batch "$id"
st=$(job_wait "$id" 120)
check "A: USR1 -> stop file -> 'checkpointing' -> requeue" \
  "grep -q 'SIGUSR1 at' pA-$id.out && grep -q 'stop file runs/pA-$id/STOP: checkpointing at step' pA-$id.out && grep -q 'requeueing job $id' pA-$id.out"
verify pA "$id" "$st"
idA=$id

# B: scontrol requeue mid-run (SIGTERM everywhere), launched with mpirun
id=$(ATTN_LAUNCHER=mpirun submit pB); CLUSTER_JOBS_CANCEL="$id"
wait_for "pB-$id.out" "step 20/" 60 || echo "   (B: no progress line within 60 s)"
scontrol requeue "$id"
st=$(job_wait "$id" 120)
check "B: the SIGTERM of scontrol requeue is in the job log, with the newest checkpoint after it" \
  "grep -q 'SIGTERM at' pB-$id.out && grep -A3 'SIGTERM at' pB-$id.out | grep -q 'newest checkpoint: step_'"
verify pB "$id" "$st"

# C: SIGUSR1 as soon as the batch script runs (ranks still starting, or not launched yet)
id=$(submit pC); CLUSTER_JOBS_CANCEL="$id"
wait_for "pC-$id.out" "run 0 of this job" 60 || echo "   (C: the batch script did not start within 60 s)"
scancel --signal=USR1 --batch "$id"
st=$(job_wait "$id" 120)
check "C: a stop during start-up is requeued, not lost (state $st)" \
  "[ '$st' = COMPLETED ] && grep -q 'requeueing job $id' pC-$id.out"
check "C: the job completes with the uninterrupted run's parameters and every step once" \
  "verified pC $id"
[ $fail -gt 0 ] && { echo "--- pC-$id.out"; cat "pC-$id.out"; }

# D: two submissions of the same job name do not share checkpoints; ATTN_CKPT_DIR continues a run
id=$(sbatch --parsable --job-name=pA --ntasks-per-node=2 "$SCRIPTS/train_preemptible.sbatch" $GPT --steps 20 --n-embd 48 --threads 1)
st=$(job_wait "$id" 120)
check "D: a new job starts from step 0 in its own checkpoint directory (state $st)" \
  "[ '$st' = COMPLETED ] && grep -q 'no complete checkpoint in ckpt/pA-$id' pA-$id.out && ! grep -q 'resumed from' pA-$id.out"
id=$(ATTN_CKPT_DIR=ckpt/pA-$idA sbatch --parsable --job-name=more --ntasks-per-node=2 "$SCRIPTS/train_preemptible.sbatch" ${RUN/--steps $STEPS/--steps $((STEPS + 10))})
st=$(job_wait "$id" 120)
check "D: ATTN_CKPT_DIR continues job $idA from step $STEPS (state $st)" \
  "[ '$st' = COMPLETED ] && grep -q 'resumed from ckpt/pA-$idA/step_$(printf %08d $STEPS): step $STEPS' more-$id.out"
[ $fail -gt 0 ] && { echo "--- more-$id.out"; cat "more-$id.out"; }

echo "--- the cycle of job $idA (signal -> checkpoint -> requeue -> resume -> same parameters):"
grep -E "attn_slurm: (run|SIG|attn_train exited|preempted)|stop (signal|file)|checkpoint step|resumed from|metrics:|step $STEPS/" "pA-$idA.out" | grep -v "^step [0-9]*/.*eta" ; grep "step $STEPS/" "pA-$idA.out"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
