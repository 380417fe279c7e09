#!/bin/bash
# CI: the build as on a cluster, without Debian's pkg-config names. Configures and builds the
# programs alone (-DATTN_TESTS=OFF: no CUnit) against a second BLAS (BLIS through BLA_VENDOR=FLAME)
# with HDF5 given only through HDF5_ROOT (pkg-config disabled), then checks that the binary links
# them and trains a few steps to the losses of the default build (OpenBLAS). Only what proves that is built:
# the library and attn_train, without optimisation (-DCMAKE_BUILD_TYPE=None: about half the compile time of
# -O3; the point is configuring and linking, not speed); the data is converted by the default build's
# attn_data. The CUDA backend is left out here: the default build already compiles it.
#   tests/build_variants.sh [BUILD_DIR of the default build, default build]
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
REF=$(cd "${1:-$SRC/build}" && pwd)
B=$(mktemp -d /tmp/attn_variant.XXXXXX); trap 'rm -rf "$B"' EXIT
HDF5_ROOT=/usr/lib/$(gcc -print-multiarch)/hdf5/openmpi
[ -f /usr/include/$(gcc -print-multiarch)/blis-openmp/cblas.h ] || [ -f /usr/include/blis/cblas.h ] ||
  { echo "SKIP: BLIS not installed (libblis-dev; make deps installs it)"; exit 77; }
set -e
echo "== configure: BLA_VENDOR=FLAME, HDF5_ROOT=$HDF5_ROOT, no pkg-config, ATTN_TESTS=OFF"
cmake -S "$SRC" -B "$B/build" -DCMAKE_BUILD_TYPE=None -DATTN_TESTS=OFF -DATTN_CUDA=OFF -DBLA_VENDOR=FLAME \
  -DHDF5_ROOT="$HDF5_ROOT" -DPKG_CONFIG_EXECUTABLE=/bin/false | grep -E "^-- (HDF5|BLAS)"
cmake --build "$B/build" -j "$(nproc)" --target attn_train >"$B/build.log" 2>&1 || { tail -30 "$B/build.log"; exit 1; }
! grep -q "warning:" "$B/build.log" || { grep -B2 -A2 "warning:" "$B/build.log" | head -20; echo "FAIL: warnings"; exit 1; }
ls "$B/build/attn_train" >/dev/null
targets=$(cmake --build "$B/build" --target help)
grep -q "attn_data" <<<"$targets" || { echo "FAIL: no attn_data target"; exit 1; }
! grep -q "test_core" <<<"$targets" || { echo "FAIL: ATTN_TESTS=OFF defines tests"; exit 1; }
ldd "$B/build/attn_train" | grep -q libblis || { echo "FAIL: attn_train does not link BLIS"; exit 1; }
ldd "$B/build/attn_train" | grep -q "$HDF5_ROOT\|libhdf5_openmpi" || { echo "FAIL: attn_train does not link HDF5 from HDF5_ROOT"; exit 1; }
echo "== links: $(ldd "$B/build/attn_train" | grep -oE 'lib(blis|hdf5[a-z_]*)\.so[.0-9]*' | tr '\n' ' ')"
/usr/bin/python3 - "$B/corpus.txt" <<'PY'
import random, sys
random.seed(3)
w = "the quick brown fox jumps over a lazy dog".split()
open(sys.argv[1], "w").write("\n".join(" ".join(random.choice(w) for _ in range(12)) for _ in range(2000)) + "\n")
PY
"$REF/attn_data" convert text "$B/corpus.txt" --out "$B/txt" >/dev/null 2>&1
for v in ref:"$REF" blis:"$B/build"; do
  "${v#*:}/attn_train" --model gpt-small --data "$B/txt" --n-layer 2 --n-embd 32 --n-head 2 --block 32 --batch 8 \
    --steps 5 --threads 1 --log-dir "$B/${v%%:*}" >/dev/null 2>&1
done
/usr/bin/python3 - "$B/ref/metrics.jsonl" "$B/blis/metrics.jsonl" <<'PY'
import json, sys
a, b = ([j["loss"] for j in map(json.loads, open(p)) if j.get("split") == "train"] for p in sys.argv[1:])
assert len(a) == 5 and len(b) == 5, (a, b)
assert all(abs(x - y) <= 1e-5 * abs(x) for x, y in zip(a, b)), (a, b)
print("== BLIS build trains to the OpenBLAS build's losses (1e-5):", b)
PY
echo "ok - cluster-style build (BLIS, HDF5_ROOT, no pkg-config, no CUnit)"
