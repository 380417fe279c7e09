#!/bin/bash
# The transfer-learning demo of §9.5 (`make transfer-demo`), on Fashion-MNIST:
#   1. pretrain a backbone on classes 0-4 (T-shirt .. Coat);
#   2. compute its features once on classes 5-9 (Sandal .. Ankle boot) and train a new linear head on them;
#   3. the same head on the features of a random (untrained) backbone;
#   4. the whole model trained from scratch on classes 5-9 for the wall-clock time of step 2
#      (features + head), as a step count: that time / the pretraining's seconds per step (same model,
#      batch and image size).
# Prints the three test accuracies and writes them to $OUT/results.md.
# Environment: BUILD (build), NP (2), MODEL (resnet18), MODEL_FLAGS (--stem imagenet for a resnet), LAYER (fc1 for cnn, avgpool otherwise),
# PRE_EPOCHS (2) or PRE_STEPS, HEAD_EPOCHS (5), THREADS (1 per rank), DATA (data), OUT (runs/transfer),
# SUBSET (1: all of classes 5-9; 0.1 keeps 10% of their training images, the rest going to an unused val split).
set -eu
BUILD=${BUILD:-build}; NP=${NP:-2}; MODEL=${MODEL:-resnet18}
MODEL_FLAGS=${MODEL_FLAGS-$(case $MODEL in resnet*) echo --stem imagenet ;; esac)}
LAYER=${LAYER:-$([ "$MODEL" = cnn ] && echo fc1 || echo avgpool)}
PRE_EPOCHS=${PRE_EPOCHS:-2}; PRE_STEPS=${PRE_STEPS:-}; SUBSET=${SUBSET:-1}; HEAD_EPOCHS=${HEAD_EPOCHS:-5}; THREADS=${THREADS:-1}
DATA=${DATA:-data}; OUT=${OUT:-runs/transfer}; FM=${FM:-/usr/share/datasets/fashion-mnist}
MPI=${MPI:-mpirun $([ "$(id -u)" = 0 ] && echo --allow-run-as-root) --oversubscribe -np $NP}
TRAIN="$BUILD/attn_train"
mkdir -p "$OUT"
now() { date +%s.%N; }
# the last test accuracy in a run's metrics.jsonl
acc() { /usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print('%.4f' % [x for x in r if x.get('split')=='test'][-1]['accuracy'])" "$1/metrics.jsonl"; }

[ -d "$DATA/fmnist-0-4" ] || "$BUILD/attn_data" convert idx "$FM" --classes 0-4 --shards $NP --out "$DATA/fmnist-0-4" --quiet
D59="$DATA/fmnist-5-9"; VAL=""
if [ "$SUBSET" != 1 ]; then
  D59="$DATA/fmnist-5-9-$SUBSET"; VAL="--val-fraction $(/usr/bin/python3 -c "print(1 - float('$SUBSET'))")"
fi
[ -d "$D59" ] || "$BUILD/attn_data" convert idx "$FM" --classes 5-9 --shards $NP $VAL --out "$D59" --quiet
LEN=$([ -n "$PRE_STEPS" ] && echo "--steps $PRE_STEPS" || echo "--epochs $PRE_EPOCHS")

echo "== 1. pretrain ${MODEL}${MODEL_FLAGS:+ $MODEL_FLAGS} on classes 0-4 (${LEN#--}, $NP ranks)"
$MPI "$TRAIN" --model $MODEL $MODEL_FLAGS --data "$DATA/fmnist-0-4" $LEN --threads $THREADS \
  --log-dir "$OUT/pretrain" --save-params "$OUT/pretrained.h5" | grep -v '^step'
PRE_ACC=$(acc "$OUT/pretrain")
SEC_PER_STEP=$(/usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; t=[x for x in r if x.get('split')=='train']; print(t[-1]['time']/len(t))" "$OUT/pretrain/metrics.jsonl")

echo "== 2. features of the pretrained backbone (layer $LAYER) on classes 5-9, then a linear head"
t0=$(now)
$MPI "$TRAIN" features --init-from "$OUT/pretrained.h5" --model $MODEL $MODEL_FLAGS --layer $LAYER --threads $THREADS \
  --data "$D59" --splits train,test --out "$OUT/features-pretrained" --force
$MPI "$TRAIN" --model linear --data "$OUT/features-pretrained" --epochs $HEAD_EPOCHS --threads $THREADS --log-dir "$OUT/head-pretrained" | grep -v '^step'
BUDGET=$(/usr/bin/python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" $t0 $(now))
A1=$(acc "$OUT/head-pretrained")

echo "== 3. the same head on a random backbone"
$MPI "$TRAIN" features --random --model $MODEL $MODEL_FLAGS --layer $LAYER --threads $THREADS \
  --data "$D59" --splits train,test --out "$OUT/features-random" --force
$MPI "$TRAIN" --model linear --data "$OUT/features-random" --epochs $HEAD_EPOCHS --threads $THREADS --log-dir "$OUT/head-random" | grep -v '^step'
A2=$(acc "$OUT/head-random")

STEPS=$(/usr/bin/python3 -c "import sys; print(max(1, int(float(sys.argv[1]) / float(sys.argv[2]))))" $BUDGET $SEC_PER_STEP)
echo "== 4. $MODEL from scratch on classes 5-9 for the same wall-clock budget: ${BUDGET} s = $STEPS steps of ${SEC_PER_STEP} s"
$MPI "$TRAIN" --model $MODEL $MODEL_FLAGS --data "$D59" --steps $STEPS --threads $THREADS --log-dir "$OUT/scratch" | grep -v '^step'
A3=$(acc "$OUT/scratch")

{
  echo "Transfer learning on Fashion-MNIST: ${MODEL}${MODEL_FLAGS:+ $MODEL_FLAGS} pretrained on classes 0-4 (${LEN#--}, test accuracy $PRE_ACC), $NP ranks x $THREADS thread(s); training images of classes 5-9: $(/usr/bin/python3 -c "print(int(30000 * float('$SUBSET')))"); test accuracy on classes 5-9 (5000 images):"
  echo
  echo "| classes 5-9 | test accuracy |"
  echo "| --- | --- |"
  echo "| linear head on pretrained features (layer $LAYER, $HEAD_EPOCHS epochs) | $A1 |"
  echo "| linear head on random-backbone features | $A2 |"
  echo "| $MODEL from scratch, same wall clock (${BUDGET} s = $STEPS steps) | $A3 |"
} | tee "$OUT/results.md"
