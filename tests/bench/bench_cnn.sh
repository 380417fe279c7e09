#!/bin/bash
# Benchmark (not a test): CNN training throughput of attn_train against PyTorch on the same
# model, batch and threads, in the same run; then np=1 vs np=2 scaling.
#   tests/bench/bench_cnn.sh [BUILD_DIR] [DATA_DIR]      (DATA_DIR: a converted Fashion-MNIST)
set -eu
BUILD=${1:-build}; DATA=${2:-data/fmnist}; STEPS=${STEPS:-12}; BATCH=${BATCH:-256}
REF=${TORCH_REF:-$(dirname "$0")/../../../shared/bench/torch_ref.py}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# median seconds per step from metrics.jsonl (skipping the first two steps)
median_step() { python3 - "$1" <<'PY'
import json, sys, statistics
t = [json.loads(l)["time"] for l in open(sys.argv[1]) if '"train"' in l]
d = [b - a for a, b in zip(t[1:], t[2:])]
print(statistics.median(d))
PY
}
ours() { # np attn threads -> images/s (all ranks)
  mpirun --bind-to none -np $1 "$BUILD/attn_train" --model cnn --attn $2 --data "$DATA" --batch $BATCH --steps $STEPS \
    --threads $3 --eval-batches 1 --log-dir "$T/r" >/dev/null
  python3 -c "print(round($1 * $BATCH / $(median_step "$T/r/metrics.jsonl")))"
}
theirs() { # model threads -> images/s; Debian's torch takes sgemm from the pthreads OpenBLAS, which
  # ignores torch.set_num_threads: pin it too, or "1 thread" uses every core
  OPENBLAS_NUM_THREADS=$2 /usr/bin/python3 "$REF" $1 --threads $2 --steps $STEPS batch=$BATCH | sed 's/.* \([0-9]*\) img\/s.*/\1/'
}
printf "%-34s %10s %10s %7s\n" "config (batch $BATCH)" "attn_train" "pytorch" "ratio"
for th in 1 2; do
  for pair in "none cnn" "seed cnn_attn"; do
    set -- $pair
    a=$(ours 1 $1 $th); b=$(theirs $2 $th)
    printf "%-34s %10s %10s %7.2f\n" "np=1 threads=$th --attn $1 vs $2" "$a" "$b" "$(python3 -c "print($a/$b)")"
  done
done
a=$(ours 1 spatial 1)
printf "%-34s %10s\n" "np=1 threads=1 --attn spatial" "$a"
b=$(ours 2 spatial 1)
printf "%-34s %10s   scaling np2/np1 = %.2f\n" "np=2 threads=1 --attn spatial" "$b" "$(python3 -c "print($b/$a)")"
