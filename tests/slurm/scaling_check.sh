#!/bin/bash
# docs/SCALING.md's check of the cost model: a GPT of 408k parameters (1.63 MB of gradients) at a
# tiny batch (communication dominates), np = 1..4, Open MPI on TCP with every connection direction
# capped to RATE (tests/slurm/capped_net.sh), and uncapped on loopback TCP. Prints per run: the
# median step time (s) and the allreduce time per step (ms) from metrics.jsonl. Root only; not a
# ctest (minutes). Usage: tests/slurm/scaling_check.sh [BUILD] [RATES...]
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd); shift || true
RATES=${*:-100mbit 400mbit}
# ATTN_ALLREDUCE_ALG=4 forces Open MPI's ring allreduce (coll_tuned algorithm 4), the algorithm of the model
if [ -n "${ATTN_ALLREDUCE_ALG:-}" ]; then export OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=$ATTN_ALLREDUCE_ALG; fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
. "$SRC/tests/slurm/tiny_data.sh"
make_tiny_text "$T/txt" || exit 1
RUN="--model gpt-small --data $T/txt --n-layer 2 --n-embd 128 --n-head 4 --block 32 --batch 2 --eval-batches 1 --threads 1 --log-every 1000 --steps 14"
stats() { /usr/bin/python3 - "$1/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = [r["time"] for r in rows if r.get("split") == "train"]
dt = statistics.median([b - a for a, b in zip(t[3:], t[4:])])  # steps 4.. (after warm-up)
c = [r for r in rows if r.get("split") == "comm"]
print("%.4f %.1f %d" % (dt, c[0]["comm_ms_per_step"] if c else 0.0, c[0]["bytes_per_step"] if c else 0))
PY
}
echo "rate np step_s allreduce_ms grad_bytes"
for np in 1 2 3 4; do
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=tcp,self \
    OMPI_MCA_btl_tcp_if_include=lo mpirun -q --bind-to none -np $np "$BUILD/attn_train" $RUN --log-dir "$T/u$np" >/dev/null 2>&1
  echo "loopback $np $(stats "$T/u$np")"
done
for rate in $RATES; do
  for np in 2 3 4; do
    bash "$SRC/tests/slurm/capped_net.sh" $rate $np -- "$BUILD/attn_train" $RUN --log-dir "$T/$rate-$np" >/dev/null 2>&1
    echo "$rate $np $(stats "$T/$rate-$np")"
  done
done
