#!/bin/bash
# What ranks on different nodes do differently, on one machine: Open MPI restricted to its TCP
# transport over loopback (--mca btl tcp,self: no shared memory between the ranks).
#  - data parallelism: 2 ranks x batch 8 == 1 rank x batch 16 (dropout on) after 6 steps (1e-5);
#  - checkpoint/resume over TCP: 8 steps straight == 4, checkpoint, resume, 4 (parameters byte-equal).
. "$(dirname "$0")/../e2e_lib.sh"
export OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
trap '[ -n "${ATTN_KEEP_TMP:-}" ] || rm -rf "$T"' EXIT
. "$SRC/tests/slurm/tiny_data.sh"
make_tiny_text "$T/txt" || exit 1
RUN="${GPT/--batch 8/} --threads 1 --log-every 1000 --bucket-mb 0.1 --first-bucket-mb 0.05"
cmp_params() { # A.h5 B.h5 TOL: relative difference (TOL 0: byte-equal)
  $PY - "$@" <<'PY'
import sys, h5py, numpy as np
a, b, tol = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
assert sorted(a) == sorted(b) and len(a) > 0
if tol == 0:
    bad = [k for k in a if a[k][()].tobytes() != b[k][()].tobytes()]
    print("   %d of %d tensors differ" % (len(bad), len(a))); sys.exit(1 if bad else 0)
# relative to the tensor's scale, with an absolute floor of 1e-6 (under 1/100 of one Adam step at lr 3e-4):
# the key biases get no gradient (softmax ignores them), their values are rounding noise near 1e-7
worst = max(float(np.abs(a[k][()] - b[k][()]).max() / (np.abs(b[k][()]).max() + 1e-6 / tol)) for k in a)
print("   max difference %.2e of (scale + 0.1) over %d tensors" % (worst, len(a))); sys.exit(0 if worst < tol else 1)
PY
}
$MPI -np 1 "$TRAIN" $RUN --batch 16 --steps 6 --log-dir "$T/a" --save-params "$T/p1.h5" >"$T/o1" 2>&1
$MPI -np 2 "$TRAIN" $RUN --batch 8 --steps 6 --log-dir "$T/b" --save-params "$T/p2.h5" >"$T/o2" 2>&1; rc=$?
check "np=2 over TCP runs (status $rc, several buckets)" "[ $rc = 0 ] && grep -Eq 'allreduce: ([2-9]|[1-9][0-9]+) buckets' $T/o2"
check "np=2 (TCP) batch 8 == np=1 batch 16 after 6 steps (1e-5 of each tensor's scale + 1e-6)" "cmp_params $T/p1.h5 $T/p2.h5 1e-5"

$MPI -np 2 "$TRAIN" $RUN --batch 8 --steps 8 --log-dir "$T/c" --save-params "$T/s8.h5" >/dev/null 2>&1
$MPI -np 2 "$TRAIN" $RUN --batch 8 --steps 4 --ckpt-dir "$T/ck" --log-dir "$T/d" >/dev/null 2>&1
$MPI -np 2 "$TRAIN" $RUN --batch 8 --steps 8 --ckpt-dir "$T/ck" --resume auto --log-dir "$T/d" --save-params "$T/r8.h5" >"$T/o4" 2>&1
check "resume over TCP continues at step 4" "grep -q 'resumed from .*step 4' $T/o4"
check "8 steps straight == 4 + checkpoint + resume + 4 over TCP (parameters byte-equal)" "cmp_params $T/s8.h5 $T/r8.h5 0"
check "the resumed run's metrics.jsonl holds steps 0..7 once" \
  "[ \"\$(grep -o '\"step\": [0-9]*, \"epoch\": [0-9]*, \"split\": \"train\"' $T/d/metrics.jsonl | cut -d' ' -f2 | tr -d , | tr '\n' ' ')\" = '0 1 2 3 4 5 6 7 ' ]"
[ $fail -gt 0 ] && cat "$T/o2" "$T/o4"
e2e_end
