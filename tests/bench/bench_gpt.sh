#!/bin/bash
# Benchmark (not a test): GPT training-step throughput (forward, backward, clip, AdamW) of attn_train
# (bench_gpt) next to PyTorch (../shared/bench/torch_ref.py gpt) at the same config and thread count,
# in the same run: gpt-small with 1 and 2 threads, full gpt with 1 thread; ratios, our 2-thread /
# 1-thread scaling and the fraction of cblas_sgemm's GFLOP/s that our step reaches.
#   tests/bench/bench_gpt.sh [BUILD_DIR]
#   env: STEPS (timed steps of gpt-small, default 10), GPT_STEPS (full gpt, default 4: ~15 s a step),
#        FULL=0 skips the full gpt rows, TORCH_REF=path of torch_ref.py
# PyTorch's CPU build here takes sgemm from OpenBLAS (pthreads), which ignores torch.set_num_threads:
# its runs get OPENBLAS_NUM_THREADS=N so that "N threads" means N cores for both programs.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
STEPS=${STEPS:-10}; GPT_STEPS=${GPT_STEPS:-4}; FULL=${FULL:-1}
REF=${TORCH_REF:-$HERE/../../../shared/bench/torch_ref.py}
PY=/usr/bin/python3
[ -x "$BUILD/bench_gpt" ] || { echo "bench_gpt.sh: $BUILD/bench_gpt not built (cmake --build $BUILD)"; exit 1; }
HAVE_TORCH=1
if [ ! -f "$REF" ] || ! "$PY" -c "import torch" 2>/dev/null; then
  HAVE_TORCH=0
  echo "note: $REF or PyTorch not available: PyTorch columns skipped"
fi

ours() { # model threads steps -> "tok/s fraction"
  "$BUILD/bench_gpt" --model $1 --threads $2 --steps $3 |
    sed -n 's/.* \([0-9]*\) tok\/s .* fraction \([0-9.]*\).*/\1 \2/p'
}
theirs() { # model threads steps -> tok/s
  [ $HAVE_TORCH = 1 ] || { echo "-"; return; }
  local cfg=""
  [ $1 = gpt ] && cfg="n_embd=512 n_head=8 n_layer=8 batch=64"
  OPENBLAS_NUM_THREADS=$2 OMP_NUM_THREADS=$2 "$PY" "$REF" gpt --threads $2 --steps $3 $cfg |
    sed -n 's/.* \([0-9]*\) tok\/s.*/\1/p'
}
ratio() { [ "$2" = "-" ] && echo "-" || "$PY" -c "print(f'{$1 / $2:.2f}')"; }

printf "%-26s %12s %12s %8s %10s\n" "config" "attn_train" "pytorch" "ratio" "x sgemm"
row() { # model threads steps; sets OURS
  set -- $1 $2 $3 $(ours $1 $2 $3)
  local t; t=$(theirs $1 $2 $3)
  printf "%-26s %12s %12s %8s %10s\n" "$1 threads=$2 (tok/s)" "$4" "$t" "$(ratio $4 $t)" "$5"
  OURS=$4
}
row gpt-small 1 $STEPS; one=$OURS
row gpt-small 2 $STEPS; two=$OURS
printf "%-26s %12s\n" "gpt-small 2/1 threads" "$(ratio $two $one)"
if [ "$FULL" != 0 ]; then
  row gpt 1 $GPT_STEPS
fi
