#!/bin/bash
# End-to-end: the seq2seq translator on a generated toy corpus of sentence pairs (a word-for-word
# "language" with reordering): np=2 == np=1 (teacher forcing 0.5 and dropout on, so the keyed draws
# are exercised; length-grouped batches), a mid-epoch resume on 2 ranks == one run, evaluation reports loss and BLEU, translate is deterministic from a checkpoint and
# from an export alone (greedy and beam), unknown words note <unk>, and bad input gives one clear
# message each: a sentence longer than the model's maximum, an empty line or --text, a checkpoint of
# another model (both ways: translate a gpt, generate from the translator), a dataset of the wrong kind.
. "$(dirname "$0")/e2e_lib.sh"

e2e_pairs "$T/pairs.tsv" "$T/corpus.txt" 1
"$BUILD/attn_data" convert pairs "$T/pairs.tsv" --max-len 8 --shards 2 --out "$T/p" >/dev/null 2>&1 || { echo "FAIL: convert pairs"; exit 1; }
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }

# --- np=2 x batch 8 == np=1 x batch 16 (teacher forcing 0.5, dropout 0.1)
EQ="--model seq2seq --data $T/p --hidden 16 --n-head 2 --steps 4 --teacher-forcing 0.5 --dropout 0.1 --optimizer sgd --lr 0.5 --eval-batches 1 --threads 1 --log-every 1"
$MPI -np 1 "$TRAIN" $EQ --batch 16 --log-dir "$T/eq1" --save-params "$T/p1.h5" >"$T/out1" 2>&1
$MPI -np 2 "$TRAIN" $EQ --batch 8 --log-dir "$T/eq2" --save-params "$T/p2.h5" >"$T/out2" 2>&1
cat > "$T/cmp.py" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert sorted(a) == sorted(b)
worst = max(float(np.abs(a[k][()] - b[k][()]).max() / max(np.abs(b[k][()]).max(), 1e-12)) for k in a)
print(f"max relative difference {worst:.2e} over {len(a)} tensors")
sys.exit(0 if worst < 1e-5 else 1)
PY
check "np=2 batch 8 == np=1 batch 16 after 4 steps, teacher forcing 0.5 (1e-5 relative)" "$PY $T/cmp.py $T/p1.h5 $T/p2.h5"
check "evaluation reports held-out loss and BLEU (line and metrics.jsonl)" \
  "grep -q 'BLEU' $T/out2 && grep -q '\"bleu\"' $T/eq2/metrics.jsonl"
check "length-grouped batches: the padded share is reported and small (< 25%)" "$PY - <<PY
import json
r = [json.loads(l)['pad_fraction'] for l in open('$T/eq2/metrics.jsonl') if '\"train\"' in l]
print('padded share per step', r); assert len(r) == 4 and max(r) < 0.25
PY"
# --- resume mid-epoch on another rank count (same global batch) lands on the same batches
$MPI -np 1 "$TRAIN" $EQ --batch 16 --steps 8 --ckpt-every 4 --ckpt-dir "$T/rk" --log-dir "$T/rk1" --save-params "$T/r8.h5" >/dev/null 2>&1
$MPI -np 2 "$TRAIN" $EQ --batch 8 --steps 8 --resume "$T/rk/step_00000004" --log-dir "$T/rk2" --save-params "$T/r4.h5" >"$T/out_rk" 2>&1
check "resume at step 4 of 8 on 2 ranks == one run of 8 steps on 1 rank (grouped batches)" "$PY $T/cmp.py $T/r8.h5 $T/r4.h5"
$MPI -np 2 "$TRAIN" $EQ --batch 4 --steps 6 --resume "$T/rk/step_00000004" --log-dir "$T/rk3" >"$T/out_rk3" 2>&1; rc=$?
check "resume on another global batch keeps the epoch's order, with a note (rc=$rc)" \
  "[ $rc = 0 ] && grep -q 'begun with global batch 16 and --bucket 100' $T/out_rk3"

# --- a model that learns something: 150 steps, teacher forcing 1
$MPI -np 2 "$TRAIN" --model seq2seq --data "$T/p" --hidden 32 --n-head 2 --steps 150 --batch 16 --lr 1e-2 \
  --teacher-forcing 1 --dropout 0 --threads 1 --log-every 50 --eval-every 150 --ckpt-dir "$T/ck" --log-dir "$T/lg" >"$T/out3" 2>&1
check "training writes a checkpoint" "[ -e $T/ck/latest/meta.h5 ]"
check "validation BLEU > 20 on the toy language" "$PY -c \"
import json; r=[json.loads(l) for l in open('$T/lg/metrics.jsonl') if '\\\"bleu\\\"' in l]; print('BLEU', r[-1]['bleu']); assert r[-1]['bleu'] > 20\""
"$TRAIN" export "$T/ck" "$T/m.h5" >/dev/null 2>&1
X='--text "She sees the red cat ."'
eval "$TRAIN" translate --ckpt "$T/ck" $X >"$T/t1" 2>"$T/e1"; rc=$?
eval "$TRAIN" translate --ckpt "$T/ck" $X >"$T/t2" 2>/dev/null
check "translate greedy (rc=$rc): $(cat $T/t1)" "[ $rc = 0 ] && [ -s $T/t1 ]"
check "translate is deterministic" "cmp -s $T/t1 $T/t2"
mv "$T/p" "$T/p_moved"
eval "$TRAIN" translate --ckpt "$T/m.h5" $X >"$T/t3" 2>/dev/null; rc=$?
check "translate from the export alone, dataset moved away (rc=$rc)" "[ $rc = 0 ] && cmp -s $T/t1 $T/t3"
eval "$TRAIN" translate --ckpt "$T/m.h5" $X --beam 4 >"$T/b1" 2>/dev/null; rc=$?
eval "$TRAIN" translate --ckpt "$T/m.h5" $X --beam 4 >"$T/b2" 2>/dev/null
check "beam 4 (rc=$rc): $(cat $T/b1), deterministic" "[ $rc = 0 ] && [ -s $T/b1 ] && cmp -s $T/b1 $T/b2"
eval "$TRAIN" translate --ckpt "$T/m.h5" $X --beam 1 >"$T/b3" 2>/dev/null
check "beam 1 is greedy" "cmp -s $T/t1 $T/b3"
"$TRAIN" translate --ckpt "$T/m.h5" --text "the zebra eats ." >"$T/t4" 2>"$T/e4"; rc=$?
check "an unknown word maps to <unk> with a note" "[ $rc = 0 ] && grep -q \"unknown word 'zebra'\" $T/e4"
"$TRAIN" translate --ckpt "$T/m.h5" --text "i see the big red dog and the cat ." >/dev/null 2>"$T/e5"; rc=$?
check "a sentence longer than the maximum: one clear message (rc=$rc)" "[ $rc = 2 ] && grep -q 'longer than the model' $T/e5 && [ \$(wc -l <$T/e5) = 1 ]"
printf 'we like the apple .\n\nthey eat .\n' >"$T/in.txt"
"$TRAIN" translate --ckpt "$T/m.h5" --input "$T/in.txt" >"$T/t6" 2>"$T/e6"; rc=$?
check "--input: an empty line gives its message, the others are translated (rc=$rc)" \
  "[ $rc = 2 ] && grep -q 'line 2: empty sentence' $T/e6 && [ \$(wc -l <$T/t6) = 3 ] && [ -s $T/t6 ]"
"$TRAIN" translate --ckpt "$T/m.h5" --text "" >/dev/null 2>"$T/e9"; rc=$?
check "an empty --text: one clear message (rc=$rc)" "[ $rc = 2 ] && grep -q 'empty sentence' $T/e9 && [ \$(wc -l <$T/e9) = 1 ]"
"$TRAIN" generate --ckpt "$T/m.h5" --prompt a >/dev/null 2>"$T/e10"; rc=$?
check "generate from the translator: one clear message (rc=$rc)" \
  "[ $rc = 2 ] && grep -q \"model 'seq2seq', which does not generate text\" $T/e10 && [ \$(wc -l <$T/e10) = 1 ]"
# --- --reverse 1: the dataset's French side is the source (vocabularies and BLEU references swapped)
mv "$T/p_moved" "$T/p"
$MPI -np 1 "$TRAIN" --model seq2seq --data "$T/p" --reverse 1 --hidden 16 --n-head 2 --steps 20 --batch 16 --threads 1 \
  --eval-every 20 --save-params "$T/rev.h5" --log-dir "$T/lrev" >"$T/orev" 2>&1; rc=$?
"$TRAIN" translate --ckpt "$T/rev.h5" --text "elle mange le chat rouge ." >"$T/trev" 2>"$T/erev"; rc2=$?
check "--reverse 1 trains and translates French (rc=$rc/$rc2, no unknown words): $(cat $T/trev)" \
  "[ $rc = 0 ] && [ $rc2 = 0 ] && ! grep -q unknown $T/erev && grep -q 'BLEU' $T/orev"
$MPI -np 1 "$TRAIN" --model gpt-small --data "$T/txt" --n-layer 1 --n-embd 8 --n-head 2 --block 8 --steps 1 --batch 2 \
  --eval-batches 1 --save-params "$T/gpt.h5" --log-dir "$T/lgpt" >/dev/null 2>&1
"$TRAIN" translate --ckpt "$T/gpt.h5" --text "they eat ." >/dev/null 2>"$T/e7"; rc=$?
check "a checkpoint of another model: one clear message (rc=$rc)" "[ $rc = 2 ] && grep -q \"model 'gpt-small', which does not translate\" $T/e7"
$MPI -np 1 "$TRAIN" --model seq2seq --data "$T/txt" --steps 1 >/dev/null 2>"$T/e8"; rc=$?
check "a dataset of the wrong kind: one clear message (rc=$rc)" "[ $rc = 2 ] && grep -qi 'pairs' $T/e8 && cat $T/e8 | head -2"
e2e_end
