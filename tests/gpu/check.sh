#!/bin/bash
# The one command to run first on a machine with an NVIDIA GPU (CUDA toolkit with nvcc, cuBLAS;
# NCCL from the toolkit or NCCL_ROOT; Open MPI, HDF5, OpenBLAS as for the CPU build):
#   tests/gpu/check.sh            # builds build-gpu/ with -DATTN_CUDA=ON, runs everything, prints a summary
# It builds with CUDA, runs the CUDA backend tests (CPU == GPU step, no device allocation after
# step 1), the cross-backend op harness (test_gradcheck: every op on the GPU against the CPU),
# the GPU end-to-end tests (tests/gpu/e2e_gpu.sh) and bench_gpt --device cuda, then prints one
# line per item. Without a GPU every item says SKIP with the reason, and the script exits 77.
# Environment: BUILD (build folder, default build-gpu), ARCH (CMAKE_CUDA_ARCHITECTURES, default
# the project's 80-real;90), JOBS (build jobs, default nproc).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SRC/build-gpu}
JOBS=${JOBS:-$(nproc)}
LOG=$BUILD/gpu_check_logs
declare -a SUMMARY
rc_all=0
note() { SUMMARY+=("$(printf '%-5s %-44s %s' "$1" "$2" "$3")"); [ "$1" = FAIL ] && rc_all=1; return 0; }

echo "== configure and build ($BUILD)"
ARGS=(-S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DATTN_CUDA=ON)
[ -n "${ARCH:-}" ] && ARGS+=("-DCMAKE_CUDA_ARCHITECTURES=$ARCH")
if ! cmake "${ARGS[@]}" >/dev/null || ! cmake --build "$BUILD" -j "$JOBS" >"$BUILD/build.log" 2>&1; then
  tail -30 "$BUILD/build.log" 2>/dev/null
  echo "FAIL: the CUDA build failed (log: $BUILD/build.log)"; exit 1
fi
nccl=$(sed -n 's/^NCCL_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
note PASS "CUDA build (warnings as errors)" "NCCL: ${nccl:-none (MPI over host copies)}"
mkdir -p "$LOG"

probe=$("$BUILD/gpu_backend" --probe 2>&1); has_gpu=$?
if [ $has_gpu = 0 ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'
else
  echo "no usable GPU: $probe"
fi

run_item() { # name, log, command...
  local name=$1 log=$2; shift 2
  echo "== $name"
  "$@" >"$LOG/$log" 2>&1; local rc=$?
  tail -n 25 "$LOG/$log"
  case $rc in
    0) note PASS "$name" "log: $LOG/$log" ;;
    77) note SKIP "$name" "$(grep -m1 SKIP "$LOG/$log")" ;;
    *) note FAIL "$name" "rc=$rc, log: $LOG/$log" ;;
  esac
}

run_item "CUDA backend: CPU == GPU step, no cudaMalloc" gpu_backend.txt "$BUILD/gpu_backend"
if [ $has_gpu = 0 ]; then
  run_item "op harness: every op on the GPU vs the CPU" gradcheck.txt "$BUILD/test_gradcheck"
  grep -q "cuda" "$LOG/gradcheck.txt" || note FAIL "op harness ran no cuda case" "see $LOG/gradcheck.txt"
else
  note SKIP "op harness: every op on the GPU vs the CPU" "no GPU"
fi
export ATTN_BUILD_DIR=$BUILD ATTN_SOURCE_DIR=$SRC
run_item "GPU end-to-end (np=2==np=1, GPU==CPU, resume, bf16)" e2e_gpu.txt bash "$SRC/tests/gpu/e2e_gpu.sh"
if [ $has_gpu = 0 ]; then
  PEAK=${PEAK_TFLOPS:-0} # e.g. PEAK_TFLOPS=989 (H100/H200 dense bf16) for the MFU lines
  for cfg in "gpt:--model gpt" "gpt2-124M:--model gpt --n-embd 768 --n-layer 12 --n-head 12 --block 1024 --batch 8"; do
    label=${cfg%%:*}; args=${cfg#*:}
    for prec in fp32 bf16; do
      run_item "bench_gpt --device cuda $label $prec" "bench_${label}_${prec}.txt" \
        "$BUILD/bench_gpt" --device cuda $args --precision $prec --steps 10 --peak-tflops "$PEAK"
    done
    if /usr/bin/python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      # the same config in PyTorch, same GPU, same run (the gpt preset's sizes read from bench_gpt's line)
      line=$(grep -m1 '^bench_gpt' "$LOG/bench_${label}_fp32.txt")
      get() { echo "$line" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
      run_item "PyTorch $label (eager fp32, bf16, compile)" "torch_${label}.txt" /usr/bin/python3 \
        "$SRC/tests/gpu/torch_gpt_bench.py" --device cuda --n-embd "$(get n_embd)" --n-layer "$(get n_layer)" \
        --n-head "$(echo "$args" | sed -n 's/.*--n-head \([0-9]*\).*/\1/p' | grep . || echo 8)" \
        --block "$(get block)" --batch "$(get batch)" --peak-tflops "$PEAK"
    else
      note SKIP "PyTorch $label" "no PyTorch with CUDA for /usr/bin/python3"
    fi
  done
  NGPU=$(nvidia-smi -L 2>/dev/null | grep -c GPU)
  if [ "${NGPU:-0}" -ge 2 ] && [ -x "$BUILD/bench_nccl" ]; then
    run_item "bench_nccl (NCCL bus bandwidth vs bucket size, $NGPU GPUs)" bench_nccl.txt \
      mpirun --oversubscribe -np "$NGPU" "$BUILD/bench_nccl"
  else
    note SKIP "bench_nccl" "needs 2 or more GPUs (NCCL: one GPU per rank)"
  fi
  if command -v mpirun >/dev/null && [ -x "$BUILD/bench_comm" ]; then
    run_item "bench_comm (MPI allreduce bandwidth, 2 ranks)" bench_comm.txt \
      mpirun --oversubscribe -np 2 "$BUILD/bench_comm"
  fi
else
  note SKIP "bench_gpt --device cuda" "no GPU"
fi

echo
echo "== summary (GPU: $([ $has_gpu = 0 ] && echo yes || echo "none: $probe"))"
printf '%s\n' "${SUMMARY[@]}"
if [ $has_gpu != 0 ]; then exit 77; fi
exit $rc_all
