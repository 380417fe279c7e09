#!/bin/bash
# End-to-end tests of the ResNet models through attn_train on a generated CIFAR-format dataset
# (random 16x16 would not do: attn_data cifar10 is 32x32x3): flag errors name the value; np=2 with
# and without --sync-bn keeps replicas identical (--check-replicas 1, running statistics included)
# and checkpoints the running statistics; a converted torchvision state_dict loads completely.
. "$(dirname "$0")/e2e_lib.sh"
MPI="timeout 300 mpirun -q --bind-to none"

/usr/bin/python3 - "$T/cifar" <<'PY' || { echo "FAIL: generating CIFAR files"; exit 1; }
import os, sys, numpy as np
d = sys.argv[1]; os.makedirs(d); rng = np.random.default_rng(0)
def batch(name, n):  # CIFAR-10 binary: 1 label byte + 3072 pixel bytes per image
    np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], 1).astype(np.uint8).tofile(os.path.join(d, name))
for i in range(1, 6): batch(f"data_batch_{i}.bin", 8)
batch("test_batch.bin", 8)
PY
"$BUILD/attn_data" convert cifar10 "$T/cifar" --out "$T/c" >/dev/null || { echo "FAIL: convert"; exit 1; }

# --- flag errors name the flag and the value
"$TRAIN" --model resnet18 --data "$T/c" --attn seed >"$T/out" 2>&1; rc=$?
check "--attn seed with W != C fails naming W == C (rc $rc)" "[ $rc -ne 0 ] && grep -q 'W == C' '$T/out'"
"$TRAIN" --model resnet18 --data "$T/c" --attn spatial --attn-stages 3,7 >"$T/out" 2>&1; rc=$?
check "--attn-stages 3,7 fails naming '7' (rc $rc)" "[ $rc -ne 0 ] && grep -q \"attn-stages: '7'\" '$T/out'"
"$TRAIN" --model resnet50 --data "$T/c" --attn spatial --heads 3 >"$T/out" 2>&1; rc=$?
check "--heads 3 fails naming the channels (rc $rc)" "[ $rc -ne 0 ] && grep -q 'heads' '$T/out'"

# --- np=2, per-rank BN and --sync-bn, attention on: replicas identical every step, checkpoint has the stats
COMMON="--model resnet18 --stem cifar --attn spatial --attn-stages 4 --data $T/c --batch 4 --steps 2 --threads 1 --eval-batches 1 --check-replicas 1"
for sb in 0 1; do
  $MPI -np 2 "$TRAIN" $COMMON --sync-bn $sb --ckpt-dir "$T/ck$sb" --log-dir "$T/log$sb" >"$T/out$sb" 2>&1; rc=$?
  check "np=2 --sync-bn $sb: runs with --check-replicas 1 (rc $rc)" "[ $rc = 0 ]"
  "$TRAIN" export "$T/ck$sb" "$T/m$sb.h5" >/dev/null 2>&1
  /usr/bin/python3 - "$T/m$sb.h5" >"$T/py$sb" 2>&1 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rm, rv, n = (np.array(f[k]) for k in ("bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"))
assert np.abs(rm).max() > 0 and np.abs(rv - 1).max() > 0, "running statistics not updated"
assert float(n) == 2, f"num_batches_tracked {n}"
assert "layer4.1.attn_gate" in f and "layer4.1.attn.query.weight" in f
print("stats ok")
PY
  check "np=2 --sync-bn $sb: checkpoint holds updated running statistics ($(tail -1 "$T/py$sb"))" "grep -q 'stats ok' '$T/py$sb'"
done

# --- a torchvision state_dict (tools/torchvision_to_h5.py) loads completely with --init-from
if /usr/bin/python3 -c "import torchvision" 2>/dev/null; then
  /usr/bin/python3 "$SRC/tools/torchvision_to_h5.py" --arch resnet18 --stem cifar "$T/tv.h5" >/dev/null
  "$TRAIN" --model resnet18 --stem cifar --data "$T/c" --batch 4 --steps 1 --threads 1 --eval-batches 1 \
    --init-from "$T/tv.h5" --log-dir "$T/logtv" >"$T/outtv" 2>&1; rc=$?
  check "torchvision resnet18 state_dict: $(grep -o 'init-from.*' "$T/outtv" | head -1)" \
    "[ $rc = 0 ] && grep -q '122 of 122 parameters loaded' '$T/outtv'"
else
  echo "note: python3-torchvision absent (make torch-deps): torchvision_to_h5 check not run"
fi

e2e_end e2e_resnet
