# Sourced by the slurm/*.sbatch scripts (not a job script itself): finds attn_train, sets the
# threads per rank and builds the launch command. Every knob is an environment variable, listed
# in slurm/README.md; sbatch passes the submitting shell's environment to the job.

# the repository: the job script (src, set by the script) lives in <repo>/slurm
attn_repo() { (cd "$(dirname "${src:-${BASH_SOURCE[0]}}")/.." && pwd); }

# ATTN_TRAIN, else <repo>/build/attn_train, else attn_train on PATH
attn_find_binary() {
  ATTN_REPO=${ATTN_REPO:-$(attn_repo)}
  if [ -n "${ATTN_TRAIN:-}" ]; then BIN=$ATTN_TRAIN
  elif [ -x "$ATTN_REPO/build/attn_train" ]; then BIN=$ATTN_REPO/build/attn_train
  else BIN=$(command -v attn_train || true)
  fi
  if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "error: attn_train not found (ATTN_TRAIN='${ATTN_TRAIN:-}', $ATTN_REPO/build/attn_train, PATH): build it (make build) or set ATTN_TRAIN=/path/to/attn_train" >&2
    exit 2
  fi
}

# threads per rank = --cpus-per-task; OpenMP threads pinned to the rank's cores
attn_threads() {
  THREADS=${ATTN_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  export OMP_NUM_THREADS=$THREADS OMP_PLACES=${OMP_PLACES:-cores} OMP_PROC_BIND=${OMP_PROC_BIND:-close}
}

# LAUNCH: srun (Slurm's PMIx launch, the default) or mpirun inside the allocation; each rank bound
# to its --cpus-per-task cores (ATTN_BIND=none leaves ranks unbound)
attn_launcher() {
  local bind=${ATTN_BIND:-cores}
  case "${ATTN_LAUNCHER:-srun}" in
    srun)
      # srun does not inherit --cpus-per-task from sbatch since Slurm 22.05: pass it on
      LAUNCH=(srun --mpi="${ATTN_SRUN_MPI:-pmix}" --cpus-per-task="$THREADS" --cpu-bind="$([ "$bind" = none ] && echo none || echo cores)") ;;
    mpirun)
      if [ "$bind" = none ]; then LAUNCH=(mpirun --bind-to none)
      else LAUNCH=(mpirun --map-by "slot:PE=$THREADS" --bind-to core)
      fi
      [ "$(id -u)" = 0 ] && LAUNCH+=(--allow-run-as-root) ;;
    *) echo "error: ATTN_LAUNCHER='$ATTN_LAUNCHER': use srun or mpirun" >&2; exit 2 ;;
  esac
}

attn_setup() {
  cd "${SLURM_SUBMIT_DIR:-.}"
  attn_find_binary
  attn_threads
  attn_launcher
  JOB="${SLURM_JOB_NAME:-attn_train}-${SLURM_JOB_ID:-local}"
  LOG_DIR=${ATTN_LOG_DIR:-runs/$JOB}
  echo "attn_slurm: job ${SLURM_JOB_ID:-local} (${SLURM_JOB_NAME:-}) on ${SLURM_JOB_NODELIST:-$(hostname)}: ${SLURM_NTASKS:-1} ranks x $THREADS threads | ${LAUNCH[*]} | $BIN | log $LOG_DIR | $(date '+%F %T')"
}
