#!/bin/bash
# Table-driven CLI test: every flag given a wrong value (negative / zero / huge / not a number / unknown
# name / inconsistent with the model or the data) ends attn_train before training with exit status 2
# and exactly one line on stderr that names the flag. Rows: flag-to-name | arguments.
. "$(dirname "$0")/e2e_lib.sh"
FM=/usr/share/datasets/fashion-mnist
e2e_corpus "$T/corpus.txt" 3 200 12 "the quick brown fox jumps over a lazy dog"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" --quiet >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
"$BUILD/attn_data" convert idx "$FM" --out "$T/fm" --quiet >/dev/null 2>&1 || { echo "FAIL: convert $FM (make deps installs dataset-fashion-mnist)"; exit 1; }
GPT="--model gpt-small --data $T/txt --n-layer 1 --n-embd 16 --n-head 2 --block 16 --steps 2 --threads 1 --log-dir \$LOGDIR"
CNN="--model cnn --data $T/fm --steps 2 --threads 1 --log-dir \$LOGDIR"

# one row: run it in its own directory; print "ok   - ..." or "FAIL - ..." (rows run 4 at a time)
row() {
  local i=$1 flag=$2 args=$3 d="$T/row$1"
  mkdir -p "$d"; args=${args//\$LOGDIR/$d/log}
  eval "set -- $args"
  timeout 60 "$TRAIN" "$@" >"$d/out" 2>"$d/err"; rc=$?
  n=$(grep -c . "$d/err")
  if [ $rc = 2 ] && [ "$n" = 1 ] && grep -q -- "$flag" "$d/err" && ! grep -q '"train"' "$d/log/metrics.jsonl" 2>/dev/null; then
    echo "ok   - $args -> $(cat "$d/err")"
  else
    echo "FAIL - $args: rc=$rc, $n line(s), want one naming $flag: $(head -c 300 "$d/err")"
  fi
}
export -f row; export T TRAIN
(i=0
while IFS='|' read -r flag args; do
  flag=$(echo $flag); [ -z "$flag" ] && continue; case $flag in \#*) continue ;; esac
  i=$((i+1)); printf '%s\0%s\0%s\0' "$i" "$flag" "$args"
done <<EOF2
--batch      | $GPT --batch -1
--batch      | $GPT --batch ten
--batch      | $GPT --batch 99999999999
--batch      | $GPT --batch 1000000000
--batch      | $GPT --batch 100000 --steps 0
--steps      | $GPT --steps -3
--steps      | $GPT --steps 1e99
--steps      | $GPT --steps 2.5
--epochs     | $GPT --steps 0 --epochs -1
--lr         | $GPT --lr -0.1
--lr         | $GPT --lr 1e9
--lr         | $GPT --lr nan
--lr         | $GPT --lr inf
--lr         | $GPT --lr 0.1x
--model      | --model resnet9000 --data $T/txt
--model      | --model "" --data $T/txt
--data       | --model cnn --data $T/txt
--optimizer  | $GPT --optimizer rmsprop
--schedule   | $GPT --schedule linear
--comm-mode  | $GPT --comm-mode carrier-pigeon
--nan-policy | $GPT --nan-policy ignore
--n-head     | $GPT --n-embd 30 --n-head 4
--n-head     | $GPT --n-head 3 --n-embd 16
--n-head     | $GPT --n-head -1
--block      | $GPT --block 100000
--block      | $GPT --block -4
--accum      | $GPT --accum 0
--threads    | $GPT --threads -2
--keep       | $GPT --keep -1
--ckpt-every | $GPT --ckpt-every -5
--eval-every | $GPT --eval-every -1
--log-every  | $GPT --log-every 0
--dropout    | $GPT --dropout 1.5
--weight-decay | $GPT --weight-decay 50
--momentum   | $GPT --momentum 1.5
--beta2      | $GPT --beta2 2
--clip       | $GPT --clip -7
--warmup     | $GPT --warmup -3
--bucket-mb  | $GPT --bucket-mb 0
--comm-timeout | $GPT --comm-timeout -1
--seed       | $GPT --seed -1
--heads      | $CNN --heads 0
--heads      | $CNN --heads 3
--attn       | $CNN --attn transformer
--data       | --model cnn --data $T/nowhere
--data       | $CNN --data $T/txt
--init-from  | $GPT --init-from $T/nothing.h5
--freeze     | $GPT --freeze nosuchlayer
--ckpt-dir   | $GPT --ckpt-dir /proc/x
--resume     | $GPT --resume $T/nothing
--config     | $GPT --config $T/no.cfg
--bogus      | $GPT --bogus 3
EOF2
) | xargs -0 -n 3 -P 4 bash -c 'row "$0" "$1" "$2"' > "$T/results"
cat "$T/results"
pass=$(grep -c '^ok' "$T/results"); fail=$(grep -c '^FAIL' "$T/results")

# the same on 2 ranks (every rank sees the error: one line, exit 2)
for args in "$GPT --batch -1" "$GPT --n-embd 30 --n-head 4" "$GPT --lr nan"; do
  args=${args//\$LOGDIR/$T/log2}
  timeout 120 mpirun -q -np 2 "$TRAIN" $args >"$T/out" 2>"$T/err"; rc=$?
  n=$(grep -c . "$T/err")
  if [ $rc = 2 ] && [ "$n" = 1 ]; then echo "ok   - np 2: $args -> $(cat "$T/err")"; pass=$((pass+1))
  else echo "FAIL - np 2: $args: rc=$rc, $n line(s): $(head -c 300 "$T/err")"; fail=$((fail+1)); fi
done

e2e_end
