#!/bin/bash
# End-to-end: `attn_train attention` on small trained checkpoints. A character GPT (2 layers, 2 heads):
# the token x token picture of a chosen layer and the HDF5 maps (rows sum to 1, causal, tokens as
# attributes), from the checkpoint and from an export; a CNN with spatial attention on a tiny synthetic
# image set: the overlay from an example index and from a PNG file. Bad input gives one clear message
# each: unknown layer, query outside the grid, text too long or outside the vocabulary, a model without
# attention (cnn --attn none) or with the length-1 one (--attn seed), a picture that is not .png.
. "$(dirname "$0")/e2e_lib.sh"
TRAIN="timeout 300 $BUILD/attn_train"
# one clear message: exit status 2, one line on stderr, containing $3
err1() { local rc=$1 f=$2 want=$3; [ "$rc" = 2 ] && [ "$(wc -l <"$f")" = 1 ] && grep -q -- "$want" "$f"; }

# --- text: a tiny character GPT ---
e2e_corpus "$T/corpus.txt" 5 800 10 "to be or not that is the question whether tis nobler in mind"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
GPT="--model gpt-small --data $T/txt --n-layer 2 --n-embd 16 --n-head 2 --block 16 --eval-batches 1 --threads 1 --log-every 100"
$TRAIN $GPT --batch 8 --steps 5 --ckpt-dir "$T/ck" --log-dir "$T/log" >"$T/out" 2>&1
check "gpt checkpoint written" "[ -e $T/ck/latest/meta.h5 ]"
$TRAIN attention --ckpt "$T/ck" --input "to be or not" --layer 1 --out "$T/gpt.png" --out-h5 "$T/gpt.h5" >"$T/a_out" 2>&1; rc=$?
check "text attention writes the picture and the maps (rc=$rc)" "[ $rc = 0 ] && [ -s $T/gpt.png ] && [ -s $T/gpt.h5 ] && grep -q 'blocks.1.attn' $T/a_out"
check "the picture is a PNG" "[ \"\$(head -c 8 $T/gpt.png | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"
check "HDF5 maps: a group per layer, a (T,T) dataset per head, causal rows summing to 1, tokens as attributes" "$PY -c \"
import h5py, numpy as np
f = h5py.File('$T/gpt.h5')
assert sorted(f) == ['blocks.0.attn', 'blocks.1.attn'], list(f)
for l in f:
    assert sorted(f[l]) == ['head0', 'head1'], list(f[l])
    for h in f[l]:
        p = f[l][h][()]
        assert p.shape == (12, 12) and p.dtype == np.float32, p.shape
        assert np.allclose(p.sum(1), 1, atol=1e-5) and np.all(np.triu(p, 1) == 0), p
        q = [t.decode() if isinstance(t, bytes) else t for t in f[l][h].attrs['query_tokens']]
        assert ''.join(q) == 'to be or not', q
assert f.attrs['model'] in ('gpt-small', b'gpt-small')\""
$TRAIN export "$T/ck" "$T/gpt_export.h5" >/dev/null 2>&1
$TRAIN attention --ckpt "$T/gpt_export.h5" --input "to be or not" --layer blocks.1.attn --out-h5 "$T/gpt2.h5" >/dev/null 2>&1; rc=$?
check "from an export, the layer by name: the same maps (rc=$rc)" "[ $rc = 0 ] && $PY -c \"
import h5py, numpy as np
a, b = h5py.File('$T/gpt.h5'), h5py.File('$T/gpt2.h5')
assert all(np.array_equal(a[l][h][()], b[l][h][()]) for l in a for h in a[l])\""
$TRAIN attention --ckpt "$T/ck" --input "to be" --layer 5 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "unknown layer: one message naming --layer and the layers there are" "err1 $rc $T/e \"--layer: no attention layer '5'\" && grep -q blocks.0.attn $T/e"
$TRAIN attention --ckpt "$T/ck" --input "to be or not to be that is" --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "text longer than the context: one message" "err1 $rc $T/e 'exceed the model.s context of 16'"
$TRAIN attention --ckpt "$T/ck" --input "to be Z" --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "a character outside the vocabulary: one message naming --input" "err1 $rc $T/e \"option --input: character 'Z'\""
$TRAIN attention --ckpt "$T/ck" --input "to be" --out "$T/x.jpg" >/dev/null 2>"$T/e"; rc=$?
check "a picture that is not .png: one message" "err1 $rc $T/e 'must end in .png'"

# --- images: a tiny synthetic 28x28 set in IDX form ---
$PY - "$T/idx" <<'PY'
import gzip, os, random, struct, sys
d = sys.argv[1]; os.makedirs(d)
random.seed(1)
for split, n in (("train", 64), ("t10k", 16)):
    with gzip.open(f"{d}/{split}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + bytes(random.randrange(256) for _ in range(n * 784)))
    with gzip.open(f"{d}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + bytes(random.randrange(10) for _ in range(n)))
PY
"$BUILD/attn_data" convert idx "$T/idx" --out "$T/img" >/dev/null 2>&1 || { echo "FAIL: convert idx"; exit 1; }
CNN="--model cnn --data $T/img --batch 8 --steps 2 --eval-batches 1 --threads 1 --log-every 100"
for a in spatial none seed; do $TRAIN $CNN --attn $a --ckpt-dir "$T/cnn_$a" --log-dir "$T/log_$a" >"$T/out_$a" 2>&1; done
check "cnn checkpoints written (spatial, none, seed)" "[ -e $T/cnn_spatial/latest/meta.h5 ] && [ -e $T/cnn_none/latest/meta.h5 ] && [ -e $T/cnn_seed/latest/meta.h5 ]"
$TRAIN attention --ckpt "$T/cnn_spatial" --input 3 --out "$T/cnn.png" --out-h5 "$T/cnn.h5" >"$T/a_out" 2>&1; rc=$?
check "image attention from a test example: picture and maps (rc=$rc)" "[ $rc = 0 ] && [ -s $T/cnn.png ] && $PY -c \"
import h5py, numpy as np
f = h5py.File('$T/cnn.h5'); g = f['attn']
assert list(g.attrs['grid']) == [8, 8] and sorted(g) == ['head0', 'head1', 'head2', 'head3'], list(g)
assert all(g[h].shape == (64, 64) and np.allclose(g[h][()].sum(1), 1, atol=1e-5) for h in g)\""
$PY - "$T/in.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = b"".join(b"\0" + bytes((x * 9 + y * 5) % 256 for x in range(28)) for y in range(28))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
$TRAIN attention --ckpt "$T/cnn_spatial" --input "$T/in.png" --query "1,1;7,7" --query 4,2 --out "$T/cnn2.png" >/dev/null 2>&1; rc=$?
check "image attention from a PNG file with chosen queries (rc=$rc)" "[ $rc = 0 ] && [ -s $T/cnn2.png ]"
$TRAIN attention --ckpt "$T/cnn_spatial" --input 3 --query 8,0 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "query outside the 8x8 grid: one message naming --query" "err1 $rc $T/e 'option --query: position (8,0) is outside the 8x8'"
$TRAIN attention --ckpt "$T/cnn_spatial" --input 16 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "example index out of range: one message" "err1 $rc $T/e 'example 16 is out of range'"
$TRAIN attention --ckpt "$T/cnn_none" --input 3 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "cnn --attn none: one message, no attention layer" "err1 $rc $T/e 'has no attention layer' && [ ! -e $T/x.png ]"
$TRAIN attention --ckpt "$T/cnn_seed" --input 3 --out "$T/x.png" >/dev/null 2>"$T/e"; rc=$?
check "cnn --attn seed: one message, the length-1 attention" "err1 $rc $T/e 'use --attn spatial'"
e2e_end
