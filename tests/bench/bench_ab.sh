#!/bin/bash
# Benchmark (not a test): the same workloads on two builds, interleaved in one run, medians of
# ROUNDS rounds (a noisy shared machine: interleaving spreads the noise over both).
#   tests/bench/bench_ab.sh OLD_BUILD NEW_BUILD [DATA_DIR]   (DATA_DIR: a converted Fashion-MNIST)
#   env: ROUNDS (default 5), STEPS (gpt-small steps, default 10), CNN_STEPS (default 12), THREADS (default 1)
# Rows: bench_gpt gpt-small tok/s; attn_train --model cnn (--attn none and spatial) images/s from the
# median step time of metrics.jsonl, as bench_cnn.sh measures it.
set -eu
OLD=$1; NEW=$2; DATA=${3:-data/fmnist}
ROUNDS=${ROUNDS:-5}; STEPS=${STEPS:-10}; CNN_STEPS=${CNN_STEPS:-12}; TH=${THREADS:-1}; BATCH=256
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
gpt() { "$1/bench_gpt" --model gpt-small --threads $TH --steps $STEPS | sed -n 's/.* \([0-9]*\) tok\/s .*/\1/p'; }
cnn() { # build attn -> images/s
  "$1/attn_train" --model cnn --attn $2 --data "$DATA" --batch $BATCH --steps $CNN_STEPS --threads $TH \
    --eval-batches 1 --log-dir "$T/r" >/dev/null
  python3 - "$T/r/metrics.jsonl" $BATCH <<'PY'
import json, sys, statistics
t = [json.loads(l)["time"] for l in open(sys.argv[1]) if '"train"' in l]
print(round(int(sys.argv[2]) / statistics.median([b - a for a, b in zip(t[1:], t[2:])])))
PY
}
declare -A R
for r in $(seq $ROUNDS); do
  for b in old new; do
    dir=$OLD; [ $b = new ] && dir=$NEW
    R[gpt_$b]+="$(gpt $dir) "
    R[cnn_$b]+="$(cnn $dir none) "
    R[cnnsp_$b]+="$(cnn $dir spatial) "
  done
done
med() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v)))" $@; }
printf "%-40s %10s %10s %7s   (all rounds: old | new)\n" "workload (threads=$TH, $ROUNDS rounds)" "old" "new" "new/old"
for k in gpt:"bench_gpt gpt-small tok/s" cnn:"cnn --attn none img/s" cnnsp:"cnn --attn spatial img/s"; do
  key=${k%%:*}; name=${k#*:}
  o=$(med ${R[${key}_old]}); n=$(med ${R[${key}_new]})
  printf "%-40s %10s %10s %7.3f   %s| %s\n" "$name" $o $n $(python3 -c "print($n/$o)") "${R[${key}_old]}" "${R[${key}_new]}"
done
