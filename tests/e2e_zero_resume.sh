#!/bin/bash
# End-to-end tests of ZeRO-1 checkpoints (docs/arch/zero.md): resume across the switch and across rank counts.
# A --zero 1 run on 2 ranks checkpoints at step 10 and is resumed with --zero 0 on 3 ranks; a plain run on 2 ranks
# checkpoints at step 10 and is resumed with --zero 1 on 3 ranks. Same global batch (2 x 6 =
# 3 x 4), so each equals an uninterrupted plain 2-rank run of 20 steps to 1e-6 (parameters and both Adam moments).
. "$(dirname "$0")/e2e_lib.sh"

e2e_corpus "$T/corpus.txt" 3 3000 12 "the quick brown fox jumps over a lazy dog and then sleeps in the warm sun"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
# gpt-small's preset: AdamW (weight decay 0.1), clip 0.5, constant learning rate (so --steps 10 then 20 == 20)
GPT="--model gpt-small --data $T/txt --n-layer 2 --n-embd 32 --n-head 2 --block 32 --dropout 0.1 --eval-batches 1 --threads 1 --log-every 100"
SMALL="--bucket-mb 0.02 --first-bucket-mb 0.005"
counts() { sed -n 's/.*(\([0-9]*\) parameters, \([0-9]*\) trainable).*/\1 \2/p' "$1" | head -1; }

# the uninterrupted reference: plain data parallelism, 2 ranks x batch 6, 20 steps (a checkpoint at step 10 too)
$MPI -np 2 "$TRAIN" $GPT --batch 6 --steps 20 --ckpt-every 10 --ckpt-dir "$T/ref" --log-dir "$T/lref" >"$T/out_ref" 2>&1; rc=$?
check "reference: 20 plain steps on 2 ranks (rc=$rc)" "[ $rc = 0 ]"
read total tr < <(counts "$T/out_ref")
"$TRAIN" ckpt raw "$T/ref" "$T/ref.raw"

leg() { # name np batch steps zero ckpt [resume-from resume-step]
  local name=$1 np=$2 b=$3 steps=$4 zero=$5 ck=$6 res=${7:-} at=${8:-}
  $MPI -np $np "$TRAIN" $GPT --batch $b --steps $steps --zero $zero $SMALL --ckpt-dir "$T/$ck" --log-dir "$T/l$ck" \
    ${res:+--resume "$T/$res"} >"$T/out_$ck" 2>&1; rc=$?
  check "$name (rc=$rc)" "[ $rc = 0 ]${res:+ && grep -q 'resumed from .*step $at' $T/out_$ck}"
}
# --zero 1 (2 ranks) -> --zero 0 (3 ranks)
leg "--zero 1 on 2 ranks, 10 steps" 2 6 10 1 za
leg "resumed with --zero 0 on 3 ranks to step 20" 3 4 20 0 za0 za/step_00000010 10
# --zero 0 (the reference's own checkpoint at step 10, 2 ranks) -> --zero 1 (3 ranks)
leg "the plain checkpoint resumed with --zero 1 on 3 ranks to step 20" 3 4 20 1 pb1 ref/step_00000010 10
for ck in za0 pb1; do
  "$TRAIN" ckpt raw "$T/$ck" "$T/$ck.raw"
  check "$ck: equals the uninterrupted plain run to 1e-6 (parameters, Adam moments)" "$PY $SRC/tests/raw_near.py $T/ref.raw $T/$ck.raw $total $tr"
done
# the sharded writer's checkpoint has the plain format and contents: the plain run's at step 10
"$TRAIN" ckpt raw "$T/za/step_00000010" "$T/za10.raw"; "$TRAIN" ckpt raw "$T/ref/step_00000010" "$T/ref10.raw"
check "a --zero 1 checkpoint (step 10) holds what the plain run's holds, to 1e-6" "$PY $SRC/tests/raw_near.py $T/ref10.raw $T/za10.raw $total $tr"

e2e_end
