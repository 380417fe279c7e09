#!/bin/bash
# Benchmark (not a test): lstm-attn training-step throughput (forward, backward, clamp by value 5,
# Adam) of attn_train (bench_lstm) next to PyTorch (../shared/bench/torch_ref.py lstm: nn.LSTM +
# learned single-head attention) at the chapter's config (hidden 256, seq 180, batch 256, vocab 65),
# 1 thread each, in the same run, alternating; ratio and the fraction of cblas_sgemm's GFLOP/s.
#   tests/bench/bench_lstm.sh [BUILD_DIR]
#   env: STEPS (timed steps each, default 3), ROUNDS (ours/theirs pairs, default 2), BIDIR=1 adds the
#        chapter's bidirectional model, TORCH_REF=path of torch_ref.py
# PyTorch's OpenBLAS is pinned to 1 thread (OPENBLAS_NUM_THREADS=1), ours runs with --threads 1.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
STEPS=${STEPS:-3}; ROUNDS=${ROUNDS:-2}; BIDIR=${BIDIR:-0}
REF=${TORCH_REF:-$HERE/../../../shared/bench/torch_ref.py}
PY=/usr/bin/python3
[ -x "$BUILD/bench_lstm" ] || { echo "bench_lstm.sh: $BUILD/bench_lstm not built (cmake --build $BUILD)"; exit 1; }
HAVE_TORCH=1
if [ ! -f "$REF" ] || ! "$PY" -c "import torch" 2>/dev/null; then
  HAVE_TORCH=0
  echo "note: $REF or PyTorch not available: PyTorch columns skipped"
fi
ours() { # bidir -> "tok/s fraction cpu_tok/s"
  "$BUILD/bench_lstm" --threads 1 --steps $STEPS --bidirectional $1 |
    sed -n 's/.* \([0-9]*\) tok\/s .* fraction \([0-9.]*\) *main_thread_cpu_ms=\([0-9.]*\).*/\1 \2 \3/p'
}
theirs() { # bidir -> tok/s
  [ $HAVE_TORCH = 1 ] || { echo "-"; return; }
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$PY" "$REF" lstm --threads 1 --steps $STEPS bidirectional=$1 |
    sed -n 's/.* \([0-9]*\) tok\/s.*/\1/p'
}
ratio() { [ "$2" = "-" ] && echo "-" || "$PY" -c "print(f'{$1 / $2:.2f}')"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf "%-30s %12s %12s %8s %10s %14s\n" "config (1 thread)" "attn_train" "pytorch" "ratio" "x sgemm" "ours cpu-time"
row() { # bidir round
  set -- $1 $2 $(ours $1)
  local t; t=$(theirs $1)
  local cpu; cpu=$("$PY" -c "print(f'{256*180/($5*1e-3):.0f}')")
  printf "%-30s %12s %12s %8s %10s %14s\n" "lstm-attn dirs=$(( $1 + 1 )) round $2 (tok/s)" "$3" "$t" "$(ratio $3 $t)" "$4" "$cpu"
}
for r in $(seq 1 $ROUNDS); do
  row 0 $r
  [ "$BIDIR" = 1 ] && row 1 $r
done
echo "x sgemm: model GFLOP/s (tests/bench/bench_lstm.c counts the products) / cblas_sgemm 2048^2 GFLOP/s, same thread count;"
echo "ours cpu-time: tokens per second of the main thread's CPU time (what a step costs on an idle core)"
