#!/bin/bash
# End-to-end: the chapter's character model (--model lstm-attn) on a small config. Data
# parallelism (np=2 x batch 8 == np=1 x batch 16, dropout on), the sample after every epoch,
# generation deterministic per seed, and one clear message each for: generate from a
# --bidirectional checkpoint, an empty prompt, a character outside the vocabulary, translate from
# the character model, resume from another model's checkpoint, a dataset of the wrong kind.
. "$(dirname "$0")/e2e_lib.sh"

e2e_corpus "$T/corpus.txt" 7 600 10 "to be or not that is the question whether tis nobler in mind"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
SMALL="--model lstm-attn --data $T/txt --hidden 16 --block 12 --eval-batches 1 --threads 1 --log-every 100"

# --- data parallelism: 2 ranks x batch 8 == 1 rank x batch 16 (dropout 0.3, two layers, clamp by value)
EQ="$SMALL --layers 2 --steps 4 --optimizer sgd --lr 0.5 --momentum 0.9 --clip-value 0.05 --sample-chars 0"
$MPI -np 1 "$TRAIN" $EQ --batch 16 --log-dir "$T/eq1" --save-params "$T/p1.h5" >"$T/eq1.out" 2>&1
$MPI -np 2 "$TRAIN" $EQ --batch 8 --log-dir "$T/eq2" --save-params "$T/p2.h5" >"$T/eq2.out" 2>&1
cat > "$T/cmp.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert sorted(a) == sorted(b) and "lstm.weight_hh_l1" in a and "attn.query.weight" in a, sorted(a)
worst = max(float(np.abs(a[k][()] - b[k][()]).max() / max(np.abs(b[k][()]).max(), 1e-12)) for k in a)
print(f"max relative difference {worst:.2e} over {len(a)} tensors")
sys.exit(0 if worst < 1e-5 else 1)
PY
check "np=2 batch 8 == np=1 batch 16 after 4 steps (1e-5 relative)" "$PY $T/cmp.py $T/p1.h5 $T/p2.h5"
check "np=2 and np=1 losses agree" "$PY - <<PY
import json
a=[json.loads(l)['loss'] for l in open('$T/eq1/metrics.jsonl') if '\"train\"' in l]
b=[json.loads(l)['loss'] for l in open('$T/eq2/metrics.jsonl') if '\"train\"' in l]
assert len(a)==len(b)==4 and all(abs(x-y)<=1e-5*abs(x) for x,y in zip(a,b)), (a,b)
PY"

# --- the seed config's schedule and the sample after every epoch (2 epochs, rank 0 prints)
$MPI -np 2 "$TRAIN" $SMALL --batch 64 --epochs 2 --sample-chars 40 --ckpt-dir "$T/ck" --log-dir "$T/log" >"$T/out" 2>&1; rc=$?
check "two epochs on 2 ranks (rc=$rc)" "[ $rc = 0 ] && [ -e $T/ck/latest/meta.h5 ]"
check "one sample after each epoch, printed once" "[ \$(grep -c '^sample after epoch' $T/out) = 2 ]"
check "the seed config: adam, lr x 0.95 after the first epoch, clamp by value 5" "$PY - <<PY
import json
c = json.load(open('$T/log/config.json'))
assert c['optimizer'] == 'adam' and c['clip_value'] == 5 and c['gamma'] == 0.95 and c['schedule'] == 'exp', c
lr = {json.loads(l)['epoch']: json.loads(l)['lr'] for l in open('$T/log/metrics.jsonl') if '\"train\"' in l}
assert abs(lr[0] - 0.01) < 1e-9 and abs(lr[1] - 0.0095) < 1e-9, lr
PY"

# --- generation: deterministic per seed, different across seeds
G="--prompt to --length 80 --temperature 0.8"
"$TRAIN" generate --ckpt "$T/ck" $G --seed 3 >"$T/g1" 2>"$T/gerr"; rc=$?
"$TRAIN" generate --ckpt "$T/ck" $G --seed 3 >"$T/g2" 2>/dev/null
"$TRAIN" generate --ckpt "$T/ck" $G --seed 4 >"$T/g3" 2>/dev/null
check "generate runs (rc=$rc) and starts with the prompt" "[ $rc = 0 ] && [ \$(head -c 2 $T/g1) = to ] && [ \$(wc -c <$T/g1) -ge 82 ]"
check "generate is deterministic per seed" "cmp -s $T/g1 $T/g2"
check "another seed gives another sample" "! cmp -s $T/g1 $T/g3"
"$TRAIN" generate --ckpt "$T/ck" --prompt "" >/dev/null 2>"$T/err_empty"; rc=$?
check "generate: an empty prompt: one clear message (rc=$rc)" "[ $rc = 2 ] && grep -q 'empty text' $T/err_empty && [ \$(wc -l <$T/err_empty) = 1 ]"
"$TRAIN" generate --ckpt "$T/ck" --prompt "toZ" >/dev/null 2>"$T/err_chr"; rc=$?
check "generate: a character outside the vocabulary: one clear message (rc=$rc)" \
  "[ $rc = 2 ] && grep -q \"character 'Z'\" $T/err_chr && [ \$(wc -l <$T/err_chr) = 1 ]"
"$TRAIN" translate --ckpt "$T/ck" --text "to be ." >/dev/null 2>"$T/err_tr"; rc=$?
check "translate from the character model: one clear message (rc=$rc)" \
  "[ $rc = 2 ] && grep -q \"model 'lstm-attn', which does not translate\" $T/err_tr && [ \$(wc -l <$T/err_tr) = 1 ]"

# --- clear messages (and a gpt checkpoint for the other-model case)
$MPI -np 1 "$TRAIN" $SMALL --batch 8 --steps 2 --bidirectional 1 --ckpt-dir "$T/bi" --log-dir "$T/bilog" >/dev/null 2>&1
"$TRAIN" generate --ckpt "$T/bi" $G >/dev/null 2>"$T/err_bi"; rc=$?
check "generate refuses a --bidirectional checkpoint with a clear message (rc=$rc)" \
  "[ $rc = 2 ] && grep -q 'bidirectional' $T/err_bi && grep -q 'cannot generate' $T/err_bi"
printf 'a\tb\nc\td\ne\tf\ng\th\n' >"$T/pairs.tsv"
"$BUILD/attn_data" convert pairs "$T/pairs.tsv" --val-fraction 0.25 --out "$T/pairs" >/dev/null 2>&1
"$TRAIN" $SMALL --data "$T/pairs" --steps 1 --batch 2 --log-dir "$T/plog" >/dev/null 2>"$T/err_kind"; rc=$?
check "a dataset of the wrong kind: one clear message (rc=$rc)" \
  "[ $rc = 2 ] && [ \$(wc -l <$T/err_kind) = 1 ] && grep -q 'lstm-attn' $T/err_kind && grep -q -- '--data' $T/err_kind"
$MPI -np 1 "$TRAIN" --model gpt-small --data "$T/txt" --n-layer 1 --n-embd 8 --n-head 2 --block 8 --batch 4 --steps 1 \
  --threads 1 --ckpt-dir "$T/gpt" --log-dir "$T/glog" >/dev/null 2>&1
"$TRAIN" generate --ckpt "$T/gpt" $G >/dev/null 2>/dev/null; rc_gpt=$?
check "generate from a gpt checkpoint still works beside lstm-attn (rc=$rc_gpt)" "[ $rc_gpt = 0 ]"
$MPI -np 1 "$TRAIN" $SMALL --batch 8 --steps 2 --resume "$T/gpt" --log-dir "$T/rlog" >/dev/null 2>"$T/err_other"; rc=$?
check "resuming lstm-attn from another model's checkpoint: one clear message, exit 2 (rc=$rc)" \
  "[ $rc = 2 ] && [ \$(wc -l <$T/err_other) = 1 ] && grep -q \"checkpoint of model 'gpt-small', this run's model is 'lstm-attn'\" $T/err_other"
e2e_end
