#!/bin/bash
# End-to-end: `attn_train attention` on a tiny trained seq2seq checkpoint (a toy word-for-word language):
# --text translates the sentence as `attn_train translate` does (greedy and --beam) and writes the
# alignment picture (a PNG) and the maps (h5py: decoder.attn/head0 (target words, source words incl.
# EOS), rows summing to 1, the words and the translation as attributes; the encoder's heads
# (S, S)); --layer encoder.attn draws the encoder's heads; from an export too. Bad input: --beam on a
# language model, a sentence longer than the model's maximum.
. "$(dirname "$0")/e2e_lib.sh"
TRAIN="timeout 300 $BUILD/attn_train"
err1() { local rc=$1 f=$2 want=$3; [ "$rc" = 2 ] && [ "$(wc -l <"$f")" = 1 ] && grep -q -- "$want" "$f"; }

e2e_pairs "$T/pairs.tsv" "$T/corpus.txt" 0
"$BUILD/attn_data" convert pairs "$T/pairs.tsv" --max-len 8 --out "$T/p" >/dev/null 2>&1 || { echo "FAIL: convert pairs"; exit 1; }
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
$TRAIN --model seq2seq --data "$T/p" --hidden 16 --n-head 2 --steps 40 --batch 16 --lr 1e-2 --teacher-forcing 1 \
  --dropout 0 --threads 1 --log-every 100 --eval-every 1000 --eval-batches 1 --ckpt-dir "$T/ck" --log-dir "$T/lg" >"$T/out" 2>&1
check "seq2seq checkpoint written" "[ -e $T/ck/latest/meta.h5 ]"

S="They see the big dog."
$TRAIN attention --ckpt "$T/ck" --text "$S" --out "$T/al.png" --out-h5 "$T/al.h5" >"$T/a_out" 2>&1; rc=$?
$TRAIN translate --ckpt "$T/ck" --text "$S" >"$T/tr" 2>/dev/null
check "alignment picture and maps written (rc=$rc)" "[ $rc = 0 ] && [ -s $T/al.png ] && [ -s $T/al.h5 ] && grep -q 'decoder.attn' $T/a_out"
check "the picture is a PNG" "[ \"\$(head -c 8 $T/al.png | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"
check "the translation drawn is attn_train translate's: '$(cat $T/tr)'" "grep -qxF \"translation: \$(cat $T/tr)\" $T/a_out"
cat > "$T/check.py" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1]); tr = open(sys.argv[2]).read().split()
s = lambda v: [w.decode() if isinstance(w, bytes) else w for w in v]
src, tgt = s(f.attrs["source_words"]), s(f.attrs["target_words"])
assert src == ["they", "see", "the", "big", "dog", ".", "<eos>"], src
assert tgt[:len(tr)] == tr and len(tgt) in (len(tr), len(tr) + 1), (tgt, tr)
assert len(tgt) == len(tr) or tgt[-1] == "<eos>", tgt
t = f.attrs["translation"]; t = t.decode() if isinstance(t, bytes) else t
assert t.split() == tr, (t, tr)
d = f["decoder.attn/head0"]
assert d.shape == (len(tgt), len(src)) and d.dtype == np.float32, d.shape
assert np.allclose(d[()].sum(1), 1, atol=1e-5) and (d[()] >= 0).all()
assert s(d.attrs["query_tokens"]) == tgt and s(d.attrs["key_tokens"]) == src
assert sorted(f["encoder.attn"]) == ["head0", "head1"], list(f["encoder.attn"])
e = f["encoder.attn/head1"]
assert e.shape == (len(src), len(src)) and np.allclose(e[()].sum(1), 1, atol=1e-5)
assert s(e.attrs["query_tokens"]) == src
print("alignment", d.shape, "translation:", " ".join(tr))
PY
check "h5py: decoder.attn/head0 (target words, source words + EOS), rows sum to 1, words and translation as attributes" \
  "$PY $T/check.py $T/al.h5 $T/tr"
$TRAIN attention --ckpt "$T/ck" --text "$S" --beam 3 --out-h5 "$T/al3.h5" >/dev/null 2>&1; rc=$?
$TRAIN translate --ckpt "$T/ck" --text "$S" --beam 3 >"$T/tr3" 2>/dev/null
check "--beam 3: the beam's translation and its alignment (rc=$rc)" "[ $rc = 0 ] && $PY $T/check.py $T/al3.h5 $T/tr3 >/dev/null"
$TRAIN export "$T/ck" "$T/m.h5" >/dev/null 2>&1
$TRAIN attention --ckpt "$T/m.h5" --text "$S" --layer encoder.attn --out "$T/enc.png" --out-h5 "$T/al_x.h5" >/dev/null 2>&1; rc=$?
check "from an export: the encoder's heads drawn, the same maps (rc=$rc)" "[ $rc = 0 ] && [ -s $T/enc.png ] && $PY -c \"
import h5py, numpy as np
a, b = h5py.File('$T/al.h5'), h5py.File('$T/al_x.h5')
assert all(np.array_equal(a[l][h][()], b[l][h][()]) for l in a for h in a[l])\""
$TRAIN attention --ckpt "$T/ck" --text "they see the big red dog and the cat ." --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "a sentence longer than the model's maximum: one message" "err1 $rc $T/e 'longer than the model.s maximum'"
$TRAIN --model gpt-small --data "$T/txt" --n-layer 1 --n-embd 16 --n-head 2 --block 16 --batch 4 --steps 1 --threads 1 \
  --eval-batches 1 --log-every 100 --ckpt-dir "$T/gpt" --log-dir "$T/lg2" >/dev/null 2>&1
$TRAIN attention --ckpt "$T/gpt" --text "to be" --beam 2 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "--beam on a language model: one message naming --beam" "err1 $rc $T/e 'option --beam'"
e2e_end
