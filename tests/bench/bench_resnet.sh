#!/bin/bash
# Benchmark (not a test): ResNet training throughput of attn_train against PyTorch (torchvision, same
# depth, stem, batch, SGD momentum 0.9, threads) measured in the same run, then the conv2d rows of
# bench_ops (ResNet-50 shapes, batch 32) as a fraction of sgemm.
#   tests/bench/bench_resnet.sh [BUILD_DIR]
# env: DEPTH (50), STEM (cifar), BATCH (128), STEPS (4 timed steps after 2 warm-up), THREADS ("1 2"),
#      TORCH_REF (default ../shared/bench/torch_ref.py), OPS=0 skips the bench_ops rows,
#      NO_ONEDNN=1 adds a column: PyTorch with torch.backends.mkldnn.enabled = False (its convolutions
#      then are im2col + the same OpenBLAS sgemm as ours, instead of oneDNN's direct kernels).
# Also printed: the FLOP rate of each run (3 x the forward FLOPs of the convolutions and fc per image,
# counted on torchvision's model) as a fraction of cblas_sgemm 1024^3 at the same threads.
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
"$BUILD/attn_data" convert cifar10 "$T/cifar" --out "$T/data" --quiet >/dev/null
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
theirs() { # threads [noonednn] -> images/s (torch_ref pins its OpenBLAS to --threads; the wrapper
  # sets the same variables before torch loads, then switches oneDNN off when asked)
  local ms
  ms=$(OPENBLAS_NUM_THREADS=$1 OMP_NUM_THREADS=$1 /usr/bin/python3 -c '
import sys, runpy, torch
if sys.argv[1] == "1": torch.backends.mkldnn.enabled = False
sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name="__main__")' "${2:-0}" "$REF" resnet --threads $1 \
    --steps $STEPS depth=$DEPTH stem=$STEM batch=$BATCH | sed 's/.*median_ms=\([0-9.]*\).*/\1/')
  python3 -c "print(round($BATCH * 1000 / $ms, 1))"
}
# training FLOPs per image: 3 x (2 x the forward multiply-adds of every conv and linear layer)
FLOPS=$(/usr/bin/python3 - "$DEPTH" "$STEM" <<'PY'
import sys, torch, torch.nn as nn, torchvision
m = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}[int(sys.argv[1])](num_classes=10)
if sys.argv[2] == "cifar": m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
tot = [0]
def hook(mod, inp, out):
    if isinstance(mod, nn.Conv2d): tot[0] += 2 * out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
    elif isinstance(mod, nn.Linear): tot[0] += 2 * mod.in_features * mod.out_features
for mod in m.modules(): mod.register_forward_hook(hook)
m.eval(); m(torch.zeros(1, 3, 32, 32)); print(3 * tot[0])
PY
)
sgemm() { "$BUILD/bench_ops" --threads $1 --only no-such-row | sed -n 's/.*cblas_sgemm.* \([0-9.]*\) GFLOP\/s.*/\1/p'; }
frac() { python3 -c "print('%.2f' % ($1 * $FLOPS / 1e9 / $2))"; }
echo "resnet$DEPTH stem=$STEM batch $BATCH: $(python3 -c "print('%.2f' % ($FLOPS / 1e9))") GFLOP per training image"
printf "%-18s %10s %10s %7s" "img/s" "attn_train" "pytorch" "ratio"
[ "${NO_ONEDNN:-0}" = 1 ] && printf " %14s %7s" "pytorch-noDNN" "ratio"
printf " %8s %9s %9s\n" "sgemm" "ours/sg" "torch/sg"
for th in $THREADS; do
  a=$(ours $th); b=$(theirs $th); sg=$(sgemm $th)
  printf "%-18s %10s %10s %7.2f" "np=1 threads=$th" "$a" "$b" "$(python3 -c "print($a/$b)")"
  if [ "${NO_ONEDNN:-0}" = 1 ]; then
    c=$(theirs $th 1); printf " %14s %7.2f" "$c" "$(python3 -c "print($a/$c)")"
  fi
  printf " %8s %9s %9s\n" "$sg" "$(frac $a $sg)" "$(frac $b $sg)"
done
if [ "${OPS:-1}" != 0 ]; then
  echo
  "$BUILD/bench_ops" --only r50 --reps 3 --cpu-clock --split
fi
