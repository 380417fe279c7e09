#!/bin/bash
# The CPU batch script on a private single-node Slurm cluster: `sbatch --wait` with srun --mpi=pmix
# and with mpirun, submitted from outside the repository; exit status, rank count, threads from
# --cpus-per-task, %x-%j output name, metrics. Skips (77) where a cluster cannot be started.
set -u
BUILD=${ATTN_BUILD_DIR:-$(pwd)}
SRC=$(cd "${ATTN_SOURCE_DIR:-$(dirname "$0")/../..}" && pwd)
T=$(mktemp -d /tmp/attn_slurm.XXXXXX)
CLUSTER_CLEANUP='rm -rf "$T"'
. "$SRC/tests/slurm/cluster.sh"
cluster_start "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export ATTN_TRAIN=$BUILD/attn_train
pass=0; fail=0
ok() { echo "ok   - $1"; pass=$((pass+1)); }
bad() { echo "FAIL - $1"; fail=$((fail+1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

. "$SRC/tests/slurm/tiny_data.sh"
make_tiny_text "$T/txt" || exit 1

# submitted from a directory outside the repository (the job finds slurm/attn_slurm.sh through Slurm)
mkdir -p "$T/work" && cd "$T/work"
for launcher in srun mpirun; do
  t0=$(date +%s)
  out=$(ATTN_LAUNCHER=$launcher timeout 120 sbatch --wait --parsable --job-name=cpu-$launcher --ntasks-per-node=2 --cpus-per-task=1 \
        "$SRC/slurm/train_cpu.sbatch" $GPT --steps 12 --log-every 4 --ckpt-every 6 2>&1); rc=$?
  id=$(echo "$out" | head -1)
  log=$T/work/cpu-$launcher-$id.out
  check "$launcher: sbatch --wait exit status 0 ($out)" "[ $rc = 0 ] && [ \"\$(job_state $id)\" = COMPLETED ]"
  check "$launcher: job log named %x-%j ($log)" "[ -f $log ]"
  check "$launcher: 2 ranks x 1 thread (from --cpus-per-task)" "grep -q '2 ranks x 1 thread' $log"
  check "$launcher: launched with $launcher" "grep -q \"| $launcher \" $log"
  check "$launcher: metrics.jsonl in runs/%x-%j with steps 0..11 once each" \
    "[ \"\$(grep -o '\"step\": [0-9]*, \"epoch\": [0-9]*, \"split\": \"train\"' runs/cpu-$launcher-$id/metrics.jsonl | cut -d' ' -f2 | tr -d , | tr '\n' ' ')\" = '0 1 2 3 4 5 6 7 8 9 10 11 ' ]"
  [ $fail -gt 0 ] && { echo "--- $log"; cat "$log"; }
  echo "     ($launcher job $id: $(job_field $id RunTime) in the job, $(( $(date +%s) - t0 )) s with sbatch --wait)"
done

# a wrong binary: one clear line, exit status 2, no launch
out=$(ATTN_TRAIN=$T/nonexistent timeout 60 sbatch --wait --parsable --job-name=nobin "$SRC/slurm/train_cpu.sbatch" $GPT 2>&1); rc=$?
id=$(echo "$out" | head -1)
check "missing attn_train: the job fails with status 2 and names ATTN_TRAIN" \
  "[ \"\$(job_field $id ExitCode)\" = 2:0 ] && grep -q 'attn_train not found.*ATTN_TRAIN' $T/work/nobin-$id.out"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
