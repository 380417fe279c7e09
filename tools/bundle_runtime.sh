#!/bin/bash
# tools/bundle_runtime.sh [BUILD_DIR] [OUT_DIR]: copy a build into one relocatable folder for a
# machine without a package manager (e.g. a GPU node): the programs, every shared library they and
# Open MPI's plugins load (ldd), Open MPI's plugin, data and config folders, and env.sh that
# points Open MPI at them (OPAL_* variables) and puts bin/ and lib/ on the paths.
# Not copied: glibc itself and the NVIDIA driver (libcuda, libnvidia-*): they must come from the
# target machine (the driver matches its kernel module). Usage on the target:
#   source OUT_DIR/env.sh; mpirun -np <GPUs> attn_train --device cuda ...
#   OUT_DIR/run_gpu_checks.sh       # the GPU tests of tests/gpu against the bundled programs
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-attn_bundle}
[ -x "$BUILD/attn_train" ] || { echo "bundle_runtime: $BUILD/attn_train not found (build first: make build)" >&2; exit 2; }
command -v ompi_info >/dev/null || { echo "bundle_runtime: ompi_info not found (Open MPI)" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/share" "$OUT/etc" "$OUT/tests"

# programs of the build, and Open MPI's launcher (mpirun is a link to orterun or prterun)
for p in attn_train attn_data bench_gpt bench_ops gpu_backend test_gradcheck; do
  [ -x "$BUILD/$p" ] && cp "$BUILD/$p" "$OUT/bin/"
done
for p in mpirun orterun prterun prte ompi_info; do
  f=$(command -v "$p" 2>/dev/null) || continue
  cp -L "$f" "$OUT/bin/$p"
done

# Open MPI's plugins (MCA components), help texts and default parameters
ompi_path() { ompi_info --path "$1" | awk '{print $2}'; }
PKGLIB=$(ompi_path pkglibdir); PKGDATA=$(ompi_path pkgdatadir); SYSCONF=$(ompi_path sysconfdir)
cp -a "$PKGLIB" "$OUT/lib/openmpi-plugins"
[ -d "$PKGDATA" ] && cp -a "$PKGDATA" "$OUT/share/openmpi"
[ -d "$SYSCONF" ] && cp -a "$SYSCONF" "$OUT/etc/openmpi"
for d in /usr/share/pmix /usr/lib/x86_64-linux-gnu/pmix2 /usr/lib/x86_64-linux-gnu/pmix; do # PMIx plugins (Open MPI 5)
  [ -d "$d" ] && cp -a "$d" "$OUT/lib/$(basename "$d")"
done

# cuBLAS is loaded with dlopen (not in ldd's list): copy it and cuBLASLt from the toolkit CMake found
cublas=$(sed -n 's/^CUDA_cublas_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
if [ -n "$cublas" ]; then
  for l in "$(dirname "$cublas")"/libcublas.so.[0-9]* "$(dirname "$cublas")"/libcublasLt.so.[0-9]*; do
    case $l in *.so.[0-9]*.*) continue ;; esac # the soname link only
    [ -e "$l" ] && cp -L "$l" "$OUT/lib/"
  done
fi

# shared libraries of every ELF file in the bundle, transitively (ldd resolves the whole tree)
skip='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux[^/]*|linux-vdso|libcuda|libnvidia-[a-z-]*)\.so'
find "$OUT/bin" "$OUT/lib" -type f | while read -r f; do
  file -L "$f" 2>/dev/null | grep -q ELF || continue
  ldd "$f" 2>/dev/null | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  base=$(basename "$lib")
  [[ $base =~ $skip ]] && continue
  [ -e "$OUT/lib/$base" ] || cp -L "$lib" "$OUT/lib/$base"
done

cat > "$OUT/env.sh" <<'SH'
# source this file: the bundled programs, libraries and Open MPI (relocated through OPAL_*)
ATTN_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
export PATH="$ATTN_BUNDLE/bin:$PATH"
export LD_LIBRARY_PATH="$ATTN_BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPAL_PREFIX="$ATTN_BUNDLE" OPAL_PKGLIBDIR="$ATTN_BUNDLE/lib/openmpi-plugins"
export OPAL_PKGDATADIR="$ATTN_BUNDLE/share/openmpi" OPAL_SYSCONFDIR="$ATTN_BUNDLE/etc/openmpi"
export OPAL_LIBDIR="$ATTN_BUNDLE/lib" OPAL_BINDIR="$ATTN_BUNDLE/bin"
SH
cp "$SRC/tests/gpu/e2e_gpu.sh" "$OUT/tests/"
cat > "$OUT/run_gpu_checks.sh" <<'SH'
#!/bin/bash
# The GPU tests against the bundled programs (python3 with h5py and numpy needed for the e2e part).
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/env.sh"
export ATTN_BUILD_DIR="$HERE/bin"
rc=0
for t in "gpu_backend" "test_gradcheck" "bash $HERE/tests/e2e_gpu.sh"; do
  echo "== $t"
  (cd "$HERE/bin" && eval "$t"); r=$?
  [ $r = 77 ] && echo "SKIP: $t" || { [ $r != 0 ] && rc=1; }
done
exit $rc
SH
chmod +x "$OUT/run_gpu_checks.sh"
echo "bundle_runtime: $OUT: $(ls "$OUT/bin" | wc -l) programs, $(ls "$OUT/lib" | grep -c '\.so') libraries, $(du -sh "$OUT" | cut -f1)"
echo "  on the target: source $OUT/env.sh && mpirun -np <GPUs> attn_train --device cuda ..."
