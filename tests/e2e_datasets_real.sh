#!/bin/bash
# End-to-end: attn_data converts the real text corpora of the shared data folder (tinyshakespeare.txt,
# eng-fra.tsv; ATTN_SHARED_DATA, else ../shared/data beside the source tree, else /work/shared/data).
# The project does not need them: without them this test is skipped (exit 77, one line).
. "$(dirname "$0")/e2e_lib.sh"
set -eo pipefail
B=$BUILD S=$SRC W=$T
DATA=${ATTN_SHARED_DATA:-}
for d in "$S/../shared/data" /work/shared/data; do
  if [ -z "$DATA" ] && [ -f "$d/tinyshakespeare.txt" ] && [ -f "$d/eng-fra.tsv" ]; then DATA=$d; fi
done
if [ -z "$DATA" ] || [ ! -f "$DATA/tinyshakespeare.txt" ] || [ ! -f "$DATA/eng-fra.tsv" ]; then
  echo "SKIP: tinyshakespeare.txt and eng-fra.tsv not found (set ATTN_SHARED_DATA to their folder)"
  exit 77
fi
D=$B/attn_data
fail() { echo "FAIL: $*" >&2; exit 1; }
"$PY" -c 'import h5py, numpy' || fail "$PY cannot import h5py and numpy (make deps installs python3-h5py, python3-numpy)"

echo "== convert tinyshakespeare.txt"
if [ -f "$DATA/tinyshakespeare.txt" ]; then
  "$D" convert text "$DATA/tinyshakespeare.txt" --shards 2 --out "$W/shakespeare"
  "$D" info "$W/shakespeare" | tee "$W/info"
  grep -Eq "^vocab +65:" "$W/info" || fail "tinyshakespeare: expected 65 characters"
  grep -Eq "^split +train +1003854 tokens in 2 shards" "$W/info" || fail "tinyshakespeare: train split"
  grep -Eq "^split +val +111540 tokens" "$W/info" || fail "tinyshakespeare: val split"
  "$D" verify "$W/shakespeare"
    "$PY" - "$W/shakespeare" "$DATA/tinyshakespeare.txt" <<'EOF'
import sys, h5py, numpy as np
out, src = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
parts = []
for name in ("train-00000-of-00002", "train-00001-of-00002", "val-00000-of-00001"):
    with h5py.File(f"{out}/{name}.h5", "r") as f:
        vocab = list(f.attrs["vocab"])
        parts.append("".join(vocab[t] for t in f["tokens"][...]))
assert "".join(parts) == text, "decoded text differs"
print("h5py: the token stream decodes to the original text")
EOF
fi
echo "== convert eng-fra.tsv"
if [ -f "$DATA/eng-fra.tsv" ]; then
  "$D" convert pairs "$DATA/eng-fra.tsv" --max-len 10 --seed 1 --out "$W/engfra"
  "$D" info "$W/engfra" | tee "$W/info"
  grep -Eq "^special +pad 0, sos 1, eos 2, unk 3" "$W/info" || fail "eng-fra: special ids"
  "$D" verify "$W/engfra"
  printf 'i am \ni m \nhe is\nhe s \nshe is\nshe s \nyou are\nyou re \nwe are\nwe re \nthey are\nthey re \n' >"$W/prefixes"
  "$D" convert pairs "$DATA/eng-fra.tsv" --prefixes "$W/prefixes" --out "$W/engfra_pre" --quiet
  "$D" verify "$W/engfra_pre"
fi
echo "e2e_datasets_real: OK"
