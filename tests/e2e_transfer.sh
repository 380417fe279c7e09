#!/bin/bash
# End-to-end tests of the transfer-learning path (§9.5) on generated 28x28 IDX data: convert --classes,
# pretrain the cnn, `attn_train features` on 1 and 2 ranks (equal features, 1 and 2 shards), a random
# backbone, --model linear on the features (np 2), and the usage errors of each step.
. "$(dirname "$0")/e2e_lib.sh"
DATA="$DATA_BIN"

# 300 training and 60 test images of 28x28 whose class (0-9) shows in their pixels (learnable)
/usr/bin/python3 - "$T/idx" <<'EOF' || { echo "FAIL: generating IDX files"; exit 1; }
import sys, os, struct, numpy as np
d = sys.argv[1]; os.makedirs(d)
rng = np.random.default_rng(0)
for split, n in (("train", 300), ("t10k", 60)):
    y = np.arange(n) % 10
    x = rng.integers(0, 60, size=(n, 28, 28))
    for i in range(n):
        x[i, 2 * y[i]:2 * y[i] + 6, :] += 150
    open(f"{d}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + x.astype(np.uint8).tobytes())
    open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + y.astype(np.uint8).tobytes())
EOF

# --- class subsets
"$DATA" convert idx "$T/idx" --classes 0-4 --out "$T/a" --quiet; rc=$?
check "convert --classes 0-4" "[ $rc = 0 ]"
"$DATA" convert idx "$T/idx" --classes 5-9 --out "$T/b" --quiet; rc=$?
check "convert --classes 5-9" "[ $rc = 0 ]"
"$DATA" info "$T/b" >"$T/info" 2>&1
check "info: 5 classes, 150 train examples, channel statistics" \
  "grep -q \"classes   5: '5' '6' '7' '8' '9'\" $T/info && grep -q 'train *150 examples' $T/info && grep -q 'mean/std' $T/info"
"$DATA" convert idx "$T/idx" --classes 8-12 --out "$T/bad" --quiet 2>"$T/err"; rc=$?
check "convert --classes 8-12: error naming --classes ($(cat $T/err))" "[ $rc != 0 ] && grep -q -- '--classes' $T/err && [ ! -e $T/bad ]"
"$DATA" convert text "$T/info" --classes 1 --out "$T/bad" 2>"$T/err"; rc=$?
check "--classes on text: usage error" "[ $rc = 2 ] && grep -q 'applies to convert idx, cifar10 and images' $T/err"

# --- pretrain on classes 0-4
$MPI -np 2 "$TRAIN" --model cnn --data "$T/a" --batch 16 --steps 4 --threads 1 --lr 1e-3 --log-dir "$T/r0" \
  --save-params "$T/pre.h5" >"$T/out" 2>&1; rc=$?
check "pretrain cnn on classes 0-4" "[ $rc = 0 ] && [ -s $T/pre.h5 ]"

# --- features on 1 and 2 ranks
F="features --init-from $T/pre.h5 --layer fc1 --data $T/b --batch 32 --threads 1"
$MPI -np 1 "$TRAIN" $F --out "$T/f1" >"$T/out1" 2>&1; rc1=$?
$MPI -np 2 "$TRAIN" $F --out "$T/f2" >"$T/out2" 2>&1; rc2=$?
check "features np 1 and np 2 exit 0" "[ $rc1 = 0 ] && [ $rc2 = 0 ]" || cat "$T/out1" "$T/out2"
check "np 2 wrote 2 shards per split, np 1 one" \
  "[ -e $T/f2/train-00001-of-00002.h5 ] && [ -e $T/f2/test-00001-of-00002.h5 ] && [ -e $T/f1/train-00000-of-00001.h5 ]"
"$DATA" verify "$T/f2" >"$T/v" 2>&1; rc=$?
check "attn_data verify accepts the features dataset" "[ $rc = 0 ]"
"$DATA" info "$T/f2" >"$T/info" 2>&1
check "info: kind features, 1024 wide, layer fc1" "grep -q 'kind      features' $T/info && grep -q 'float32 1024 (layer fc1)' $T/info"
/usr/bin/python3 - "$T/f1" "$T/f2" "$T/b" >"$T/cmp" 2>&1 <<'EOF'
import sys, glob, h5py, numpy as np
def load(d, split):
    xs, ys = [], []
    for p in sorted(glob.glob(f"{d}/{split}-*.h5")):
        with h5py.File(p) as f:
            assert f.attrs["kind"] == "features"
            xs.append(f["features"][()]); ys.append(f["labels"][()])
    return np.concatenate(xs), np.concatenate(ys)
for split in ("train", "test"):
    x1, y1 = load(sys.argv[1], split); x2, y2 = load(sys.argv[2], split)
    with h5py.File(glob.glob(f"{sys.argv[3]}/{split}-*.h5")[0]) as f: yref = f["labels"][()]
    assert x1.shape == x2.shape == (len(yref), 1024), (x1.shape, x2.shape)
    assert (y1 == yref).all() and (y2 == yref).all(), "labels differ from the image dataset"
    err = np.abs(x1 - x2).max() / max(np.abs(x1).max(), 1e-30)
    assert err <= 1e-5, f"{split}: np=2 features differ from np=1 by {err:g} (relative to max |x|)"
    assert np.abs(x1).max() > 0 and (x1 >= 0).all(), "fc1 features are ReLU outputs, not all zero"
    print(f"{split}: {x1.shape}, max relative difference {err:g}")
EOF
rc=$?
check "features np 2 == np 1 (1e-5), labels = the image dataset's: $(tr '\n' ' ' <$T/cmp)" "[ $rc = 0 ]"

# --- a random backbone, and the head on both
$MPI -np 2 "$TRAIN" features --random --model cnn --layer fc1 --data "$T/b" --threads 1 --out "$T/fr" >"$T/out" 2>&1; rc=$?
check "features of a random backbone (--random)" "[ $rc = 0 ] && [ -e $T/fr/train-00000-of-00002.h5 ]"
$MPI -np 2 "$TRAIN" --model linear --data "$T/f2" --epochs 3 --batch 16 --threads 1 --log-dir "$T/rl" >"$T/out" 2>&1; rc=$?
check "linear head on the features, np 2" "[ $rc = 0 ] && grep -q 'test accuracy' $T/out" || tail -5 "$T/out"
check "metrics.jsonl has the test accuracy of the head" "grep -q '\"split\": \"test\".*\"accuracy\"' $T/rl/metrics.jsonl"
"$TRAIN" --model linear --data "$T/f2" --steps 2 --threads 1 --log-dir "$T/rl2" --save-params "$T/head.h5" >/dev/null 2>&1
check "the head's parameters are fc.weight (5, 1024) and fc.bias (5)" \
  "/usr/bin/python3 -c \"import h5py; f=h5py.File('$T/head.h5'); assert f['fc.weight'].shape==(5,1024) and f['fc.bias'].shape==(5,)\""

# --- augmentation keeps N ranks x batch B == 1 rank x batch N*B (and does change the run)
EQ="--model cnn --data $T/a --steps 4 --optimizer sgd --lr 0.05 --momentum 0.9 --eval-batches 1 --threads 1"
$MPI -np 1 "$TRAIN" $EQ --augment crop-flip --batch 16 --log-dir "$T/g1" --save-params "$T/g1.h5" >/dev/null 2>&1
$MPI -np 2 "$TRAIN" $EQ --augment crop-flip --batch 8 --log-dir "$T/g2" --save-params "$T/g2.h5" >/dev/null 2>&1
$MPI -np 1 "$TRAIN" $EQ --batch 16 --log-dir "$T/g0" --save-params "$T/g0.h5" >/dev/null 2>&1
cat > "$T/cmp.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
worst = max(float(np.abs(a[k][()] - b[k][()]).max() / max(np.abs(b[k][()]).max(), 1e-12)) for k in a)
print(f"{worst:.2e}")
sys.exit(0 if (worst < 1e-3 if sys.argv[3] == "equal" else worst > 1e-2) else 1)
PY
# 1e-3, not 1e-5: the two runs sum the batch in a different order (one rank vs an allreduce of two), and
# with lr 0.05 and momentum a last-bit difference can flip a max-pool choice between near-equal values by
# step 4 (seen: 2e-7 after steps 1-3, then 6e-5 in conv2.weight). An augmentation keyed by the rank or the
# local index instead of (seed, epoch, global index) changes the parameters by more than 1e-2, as does
# switching it off (the second check).
check "--augment crop-flip: np=2 batch 8 == np=1 batch 16 after 4 steps (1e-3 relative: $(/usr/bin/python3 $T/cmp.py $T/g1.h5 $T/g2.h5 equal))" \
  "/usr/bin/python3 $T/cmp.py $T/g1.h5 $T/g2.h5 equal >/dev/null"
check "--augment crop-flip changes the parameters (vs none, > 1e-2: $(/usr/bin/python3 $T/cmp.py $T/g1.h5 $T/g0.h5 differ))" \
  "/usr/bin/python3 $T/cmp.py $T/g1.h5 $T/g0.h5 differ >/dev/null"

# --- usage errors: one line, exit 2
expect_err() { # name, pattern, args...
  local name=$1 pat=$2; shift 2
  for np in 1 2; do
    $MPI -np $np "$TRAIN" "$@" >"$T/out" 2>"$T/err"; rc=$?
    n=$(grep -c . "$T/err")
    if [ $rc = 2 ] && [ "$n" = 1 ] && grep -q -- "$pat" "$T/err"; then ok "$name (np $np): $(cat "$T/err")"
    else bad "$name (np $np): rc=$rc lines=$n: $(head -3 "$T/err")"; fi
  done
}
expect_err "features: unknown layer" "no layer 'fc9'" features --init-from "$T/pre.h5" --layer fc9 --data "$T/b" --out "$T/x" --threads 1
expect_err "features: no weights source" "exactly one of" features --layer fc1 --model cnn --data "$T/b" --out "$T/x"
expect_err "features: no --out" "--out DIR is required" features --random --model cnn --layer fc1 --data "$T/b"
expect_err "features: existing output" "already exists" features --random --model cnn --layer fc1 --data "$T/b" --out "$T/f2" --threads 1
expect_err "features: model without a hook" "no feature hook" features --random --model gpt-small --layer x --data "$T/b" --out "$T/x"
expect_err "linear on images" "model linear (task features classification) needs a dataset of features" --model linear --data "$T/b" --steps 1
check "no temporary directory left behind" "[ -z \"\$(ls -d $T/*.tmp-* 2>/dev/null)\" ]"

e2e_end e2e_transfer
