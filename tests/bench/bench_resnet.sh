#!/bin/bash
# Benchmark (not a test): ResNet training throughput of attn_train against PyTorch (torchvision, same
# depth, stem, batch, SGD momentum 0.9, threads) measured in the same run, then the conv2d rows of
# bench_ops (ResNet-50 shapes, batch 32) as a fraction of sgemm.
#   tests/bench/bench_resnet.sh [BUILD_DIR]
# env: DEPTH (50), STEM (cifar), BATCH (128), STEPS (4 timed steps after 2 warm-up), THREADS ("1 2"),
#      TORCH_REF (default ../shared/bench/torch_ref.py), OPS=0 skips the bench_ops rows.
# Input: a generated CIFAR-format dataset (random 32x32 RGB images): throughput does not depend on pixels.
set -eu
BUILD=${1:-build}; DEPTH=${DEPTH:-50}; STEM=${STEM:-cifar}; BATCH=${BATCH:-128}; STEPS=${STEPS:-4}
THREADS=${THREADS:-"1 2"}
REF=${TORCH_REF:-$(dirname "$0")/../../../shared/bench/torch_ref.py}
[ -e "$REF" ] || REF=/work/shared/bench/torch_ref.py
[ -e "$REF" ] || { echo "bench_resnet: torch_ref.py not found: set TORCH_REF"; exit 2; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T/cifar" "$BATCH" <<'PY'
import os, sys, numpy as np
d, b = sys.argv[1], int(sys.argv[2]); os.makedirs(d)
rng = np.random.default_rng(0)
def batch(name, n):  # CIFAR-10 binary: 1 label byte + 3072 pixel bytes per image
    rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], 1).astype(np.uint8)
    rec.tofile(os.path.join(d, name))
for i in range(1, 6): batch(f"data_batch_{i}.bin", b * 2)
batch("test_batch.bin", b)
PY
"$BUILD/attn_data" convert cifar10 "$T/cifar" --out "$T/data" >/dev/null
# median seconds per step from metrics.jsonl (skipping the first two steps)
median_step() { python3 - "$1" <<'PY'
import json, sys, statistics
t = [json.loads(l)["time"] for l in open(sys.argv[1]) if '"train"' in l]
print(statistics.median([b - a for a, b in zip(t[1:], t[2:])]))
PY
}
ours() { # threads -> images/s
  "$BUILD/attn_train" --model resnet$DEPTH --stem $STEM --data "$T/data" --batch $BATCH --steps $((STEPS + 2)) \
    --threads $1 --eval-batches 1 --log-dir "$T/r" >/dev/null
  python3 -c "print(round($BATCH / $(median_step "$T/r/metrics.jsonl"), 1))"
}
theirs() { # threads -> images/s (torch_ref pins its OpenBLAS to --threads)
  local ms
  ms=$(/usr/bin/python3 "$REF" resnet --threads $1 --steps $STEPS depth=$DEPTH stem=$STEM batch=$BATCH |
    sed 's/.*median_ms=\([0-9.]*\).*/\1/')
  python3 -c "print(round($BATCH * 1000 / $ms, 1))"
}
printf "%-40s %10s %10s %7s\n" "resnet$DEPTH stem=$STEM batch $BATCH (img/s)" "attn_train" "pytorch" "ratio"
for th in $THREADS; do
  a=$(ours $th); b=$(theirs $th)
  printf "%-40s %10s %10s %7.2f\n" "np=1 threads=$th" "$a" "$b" "$(python3 -c "print($a/$b)")"
done
if [ "${OPS:-1}" != 0 ]; then
  echo
  "$BUILD/bench_ops" --only r50 --reps 3 --cpu-clock --split
fi
