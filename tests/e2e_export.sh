#!/bin/bash
# End-to-end: an export stands on its own. Train a small character model, export its checkpoint,
# move the dataset away, then generate from the export and from the checkpoint (the vocabulary
# travels with them); generation's context policies --context half|slide.
. "$(dirname "$0")/e2e_lib.sh"

e2e_corpus "$T/corpus.txt" 5 1500 10 "to be or not that is the question whether tis nobler in mind"
"$BUILD/attn_data" convert text "$T/corpus.txt" --out "$T/txt" >/dev/null 2>&1 || { echo "FAIL: convert text"; exit 1; }
GPT="--model gpt-small --data $T/txt --n-layer 1 --n-embd 16 --n-head 2 --block 16 --eval-batches 1 --threads 1 --log-every 100"
$MPI -np 2 "$TRAIN" $GPT --batch 8 --steps 60 --lr 3e-3 --ckpt-dir "$T/ck" --save-params "$T/final.h5" --log-dir "$T/log" >"$T/out" 2>&1
check "training writes a checkpoint and --save-params" "[ -e $T/ck/latest/meta.h5 ] && [ -s $T/final.h5 ]"
check "evaluation line reports perplexity" "grep -q 'perplexity' $T/out && grep -q '\"perplexity\"' $T/log/metrics.jsonl"
$MPI -np 1 "$TRAIN" export "$T/ck" "$T/model.h5" >/dev/null 2>&1
check "the export carries the vocabulary as attributes; datasets are parameters only" "$PY -c \"
import h5py; f = h5py.File('$T/model.h5'); v = list(f.attrs['data.vocab'])
assert f.attrs['data.kind'] == 'text' and ' ' in v and 't' in v, v
assert all(isinstance(f[k], h5py.Dataset) for k in f), list(f)\""
G="--prompt to --length 60 --seed 3 --temperature 0.8"
"$TRAIN" generate --ckpt "$T/ck" $G >"$T/g_data" 2>/dev/null
mv "$T/txt" "$T/moved"
"$TRAIN" generate --ckpt "$T/model.h5" $G >"$T/g_export" 2>"$T/err_export"; rc=$?
check "generate from the export alone, dataset moved away (rc=$rc)" "[ $rc = 0 ] && [ -s $T/g_export ] && cmp -s $T/g_data $T/g_export"
"$TRAIN" generate --ckpt "$T/ck" $G >"$T/g_ck" 2>/dev/null; rc=$?
check "generate from the checkpoint alone, dataset moved away (rc=$rc)" "[ $rc = 0 ] && cmp -s $T/g_data $T/g_ck"
"$TRAIN" generate --ckpt "$T/final.h5" $G >"$T/g_final" 2>/dev/null; rc=$?
check "generate from --save-params alone (rc=$rc)" "[ $rc = 0 ] && [ \$(head -c 2 $T/g_final) = to ]"
# context policies: identical until the context (16) is full, different afterwards (almost surely)
"$TRAIN" generate --ckpt "$T/model.h5" $G --context slide >"$T/g_slide" 2>"$T/err_slide"; rc=$?
check "--context slide runs (rc=$rc)" "[ $rc = 0 ] && grep -q 'context slide' $T/err_slide"
check "half and slide agree on the first 16 characters" "[ \"\$(head -c 16 $T/g_export)\" = \"\$(head -c 16 $T/g_slide)\" ]"
check "half and slide differ once the context has been full" "! cmp -s $T/g_export $T/g_slide"
"$TRAIN" generate --ckpt "$T/model.h5" --context wide >/dev/null 2>"$T/err_ctx"; rc=$?
check "a bad --context is an error naming it" "[ $rc != 0 ] && grep -q -- '--context' $T/err_ctx"
echo "bad export" >"$T/bogus.h5"
"$TRAIN" generate --ckpt "$T/bogus.h5" >/dev/null 2>"$T/err_bogus"; rc=$?
check "a file that is not an export is a clear error" "[ $rc != 0 ] && grep -q 'bogus.h5' $T/err_bogus"
e2e_end
