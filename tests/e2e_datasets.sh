#!/bin/bash
# End-to-end: attn_data converts the real Fashion-MNIST (Debian package dataset-fashion-mnist) into 4 shards,
# info + verify it, the shards open in h5dump, h5ls and h5py with the exact IDX content; then
# CLI misuse. (tinyshakespeare.txt and eng-fra.tsv: tests/e2e_datasets_real.sh)
. "$(dirname "$0")/e2e_lib.sh"
set -eo pipefail
B=$BUILD S=$SRC W=$T
FM=/usr/share/datasets/fashion-mnist
D=$B/attn_data

if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
  echo "FAIL: $FM is absent (make deps installs the Debian package dataset-fashion-mnist)"
  exit 1
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
# python3-h5py and python3-numpy are installed by `make deps`: a missing one is a failure
"$PY" -c 'import h5py, numpy' || fail "$PY cannot import h5py and numpy (make deps installs python3-h5py, python3-numpy)"

echo "== convert Fashion-MNIST into 4 shards"
"$D" convert idx "$FM" --shards 4 --out "$W/fmnist"
[ "$(ls "$W"/fmnist | tr '\n' ' ')" = "test-00000-of-00001.h5 train-00000-of-00004.h5 train-00001-of-00004.h5 train-00002-of-00004.h5 train-00003-of-00004.h5 " ] ||
  fail "unexpected files: $(ls "$W/fmnist")"
"$D" info "$W/fmnist" | tee "$W/info"
grep -Eq "^split +train +60000 examples in 4 shards" "$W/info" || fail "info: no train split of 60000 in 4 shards"
grep -Eq "^split +test +10000 examples in 1 shard" "$W/info" || fail "info: no test split of 10000"
grep -q "'T-shirt/top'" "$W/info" || fail "info: no Fashion-MNIST class names"
"$D" verify "$W/fmnist" | tee "$W/verify"
grep -q "OK (2 splits, 5 shards)" "$W/verify" || fail "verify did not say OK"

echo "== h5dump, h5ls, h5py open the shards"
h5dump -H "$W/fmnist/train-00000-of-00004.h5" | grep -q 'DATASET "images"' || fail "h5dump cannot read the shard"
h5dump -a /format "$W/fmnist/train-00002-of-00004.h5" | grep -q '"attn_train.dataset"' || fail "h5dump: no format attribute"
h5ls "$W/fmnist/train-00003-of-00004.h5" | grep -Eq "^images +Dataset \{15000, 1, 28, 28\}" || fail "h5ls: wrong images shape"
"$PY" - "$W/fmnist" "$FM" <<'EOF'
import gzip, sys, h5py, numpy as np
out, src = sys.argv[1], sys.argv[2]
def idx(name, off):
    with gzip.open(f"{src}/{name}", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=off)
for split, pre, n, shards in (("train", "train", 60000, 4), ("test", "t10k", 10000, 1)):
    img = idx(f"{pre}-images-idx3-ubyte.gz", 16).reshape(n, 1, 28, 28)
    lab = idx(f"{pre}-labels-idx1-ubyte.gz", 8).astype(np.int32)
    ids = set()
    for k in range(shards):
        with h5py.File(f"{out}/{split}-{k:05d}-of-{shards:05d}.h5", "r") as f:
            a = f.attrs
            assert a["format"] == "attn_train.dataset" and a["format_version"] == 1, dict(a)
            assert a["kind"] == "image" and a["split"] == split and a["shard_index"] == k and a["num_shards"] == shards
            first, count = int(a["first_index"]), int(a["count"])
            assert a["split_count"] == n and list(a["image_shape"]) == [1, 28, 28]
            assert list(a["class_names"])[0] == "T-shirt/top"
            assert f["images"].dtype == np.uint8 and f["labels"].dtype == np.int32
            assert np.array_equal(f["images"][...], img[first:first + count]), f"{split} shard {k}: images differ"
            assert np.array_equal(f["labels"][...], lab[first:first + count]), f"{split} shard {k}: labels differ"
            ids.add(a["dataset_id"])
    assert len(ids) == 1
print("h5py: images and labels equal the IDX files")
EOF

echo "== bad input and usage: one message naming the file or flag, non-zero exit, no partial output"
expect_fail() { # expect_fail WORD CMD...: the command fails with one line containing WORD
  local word=$1; shift
  if "$@" >"$W/out" 2>"$W/err"; then fail "succeeded: $*"; fi
  grep -v '^attn_data: reading\|^attn_data: writing' "$W/err" >"$W/err2" || true
  [ "$(wc -l <"$W/err2")" -eq 1 ] || fail "not one message for '$*': $(cat "$W/err2")"
  grep -q -- "$word" "$W/err2" || fail "message lacks '$word': $(cat "$W/err2")"
}
expect_fail "--bogus" "$D" convert idx "$FM" --out "$W/x" --bogus
expect_fail "--shards" "$D" convert idx "$FM" --out "$W/x" --shards zero
expect_fail "--val-fraction" "$D" convert idx "$FM" --out "$W/x" --val-fraction 1.5
expect_fail "--max-len" "$D" convert idx "$FM" --out "$W/x" --max-len 5
expect_fail "--out" "$D" convert idx "$FM"
expect_fail "nowhere" "$D" convert idx "$W/nowhere" --out "$W/x"
expect_fail "already exists" "$D" convert idx "$FM" --out "$W/fmnist" --quiet
mkdir -p "$W/cut"
head -c 1000000 "$FM/train-images-idx3-ubyte.gz" >"$W/cut/train-images-idx3-ubyte.gz"
cp "$FM/train-labels-idx1-ubyte.gz" "$W/cut/"
expect_fail "cut/train-images-idx3-ubyte.gz: truncated gzip" "$D" convert idx "$W/cut" --out "$W/x"
cp "$W/fmnist/train-00001-of-00004.h5" "$W/x1.h5"
rm "$W/fmnist/train-00001-of-00004.h5"
expect_fail "train-00001-of-00004.h5: missing" "$D" verify "$W/fmnist"
cp "$W/x1.h5" "$W/fmnist/train-00001-of-00004.h5"
[ ! -e "$W/x" ] || fail "a failed conversion left $W/x"
ls -d "$W"/*.tmp-* 2>/dev/null && fail "a temporary directory was left behind"
"$D" --help | grep -q "attn_data convert" || fail "--help"

echo "== an interrupted conversion leaves either the whole dataset or nothing"
timeout -s INT 0.3 "$D" convert idx "$FM" --shards 4 --out "$W/intr" --quiet || true
if [ -e "$W/intr" ]; then "$D" verify "$W/intr" >/dev/null || fail "interrupted output is incomplete"; fi
ls -d "$W"/*.tmp-* 2>/dev/null && fail "interrupted conversion left a temporary directory"

echo "e2e_datasets: OK"
