#!/bin/bash
# attn_train's side of preemption, without a cluster (runs everywhere):
#  1. a SIGUSR1 during start-up (MPI set-up, resume, loader) exits 3 on every rank without a new
#     checkpoint (before the fix the ranks died on the signal: status 138, nothing to requeue);
#  2. --stop-file: present at start-up or created mid-run, the same clean stop (exit 3);
#  3. a resumed run keeps metrics.jsonl: lines up to the resumed step stay, later ones (written
#     after the checkpoint by a run that was then killed) are dropped, the rest is appended; every
#     step appears once and the losses equal an uninterrupted run's.
# ATTN_TRAIN=path runs another binary (to check that the test fails on an old one).
. "$(dirname "$0")/../e2e_lib.sh"
TRAIN=${ATTN_TRAIN:-$BUILD/attn_train}
MPI="timeout 120 mpirun -q"
. "$SRC/tests/slurm/tiny_data.sh"
make_tiny_text "$T/txt" || exit 1
RUN="$GPT --threads 1 --log-every 1000"
cd "$T"

# --- 1: SIGUSR1 to the ranks during start-up: sent as soon as both rank processes catch SIGUSR1
# (SigCgt in /proc), which the fixed attn_train does from the first line of main, long before MPI
# set-up, the resume and the loader are done (an old binary installed its handler just before the
# first step, so it died or trained on and wrote a checkpoint). The ranks must agree to stop,
# exit 3 and write no checkpoint: there is nothing new to save.
$MPI -np 2 "$TRAIN" $RUN --steps 20 --ckpt-dir ck1 --log-dir l1 >/dev/null 2>&1 # a checkpoint at step 20
$MPI -np 2 "$TRAIN" $RUN --steps 1000000 --ckpt-dir ck1 --resume auto --log-dir l1 >out1 2>&1 &
mpipid=$!
catches_usr1() { local m; m=$(sed -n 's/^SigCgt:\s*//p' /proc/$1/status 2>/dev/null); [ -n "$m" ] && (( 0x$m & 0x200 )); }
for i in $(seq 1000); do
  ranks=$(pgrep -f -- "^$TRAIN .*--steps 1000000 --ckpt-dir ck1")
  n=0; for p in $ranks; do catches_usr1 $p && n=$((n+1)); done
  [ $n -ge 2 ] && break
  sleep 0.005
done
kill -USR1 $ranks
wait $mpipid; rc=$?
check "USR1 during start-up: exit status 3 (got $rc)" "[ $rc = 3 ]"
check "USR1 during start-up: no checkpoint past the resumed step 20" \
  "[ \"\$(readlink ck1/latest)\" = step_00000020 ] && [ \$(ls ck1 | grep -c step_) = 1 ]"
check "USR1 during start-up: the log says so" \
  "grep -q 'stop signal during start-up: nothing new to checkpoint (step 20)' out1"
[ $fail -gt 0 ] && cat out1

# --- 2: --stop-file (what the preemptible Slurm script uses instead of forwarding a signal):
# present at start-up -> exit 3, no new checkpoint, the log says so; created mid-run -> the ranks
# checkpoint the step they are on and exit 3.
: >STOP
$MPI -np 2 "$TRAIN" $RUN --steps 40 --ckpt-dir ck1 --resume auto --log-dir l1 --stop-file STOP >out2 2>&1; rc=$?
check "stop file at start-up: exit status 3 (got $rc), no new checkpoint" \
  "[ $rc = 3 ] && [ \"\$(readlink ck1/latest)\" = step_00000020 ] && grep -q 'stop file during start-up: nothing new to checkpoint (step 20)' out2"
rm -f STOP
$MPI -np 2 "$TRAIN" $RUN --steps 1000000 --log-every 1 --ckpt-dir ck2 --log-dir l2 --stop-file STOP >out2 2>&1 &
mpipid=$!
for i in $(seq 600); do grep -q "^step 3/" out2 && break; sleep 0.1; done
: >STOP
wait $mpipid; rc=$?
check "stop file mid-run: exit status 3 (got $rc), a checkpoint of the step it stopped at" \
  "[ $rc = 3 ] && s=\$(sed -n 's/^stop file STOP: checkpointing at step \([0-9]*\) and exiting/\1/p' out2) && [ -n \"\$s\" ] && [ \"\$(readlink ck2/latest)\" = step_\$(printf %08d \$s) ]"
[ $fail -gt 0 ] && cat out2
rm -f STOP

# --- 3: metrics across a resume. Reference: 12 steps straight. Then 6 steps with a checkpoint at 4,
# i.e. a run that went on after its last checkpoint and was lost; resuming from 4 must drop lines 4, 5.
$MPI -np 2 "$TRAIN" $RUN --steps 12 --eval-every 4 --log-dir ref >/dev/null 2>&1
$MPI -np 2 "$TRAIN" $RUN --steps 6 --eval-every 4 --ckpt-dir ck3 --ckpt-every 4 --log-dir l3 >/dev/null 2>&1
rm -rf ck3/step_00000006; ln -sfn step_00000004 ck3/latest # as if the job had been killed at step 6
$MPI -np 2 "$TRAIN" $RUN --steps 12 --eval-every 4 --ckpt-dir ck3 --resume auto --log-dir l3 >out3 2>&1
check "resume from step 4 keeps the log of steps 0-3 and appends" "$PY - ref/metrics.jsonl l3/metrics.jsonl <<'PY'
import json, sys
def rows(p):
    return [(j['split'], j['step'], j['loss']) for j in map(json.loads, open(p)) if 'step' in j]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert [s for k, s, _ in b if k == 'train'] == list(range(12)), b
assert a == b, (a, b)  # every line (train and evaluation) once, in order, same losses
PY"
check "the resumed run says what it dropped" "grep -q 'metrics: l3/metrics.jsonl keeps steps < 4, 3 later lines dropped' out3"
[ $fail -gt 0 ] && cat out3

# --- 4: an epoch that ends on an --eval-every step is evaluated once (it was twice: once for the
# step, once for the epoch's end), so metrics.jsonl holds each evaluation once
$MPI -np 2 "$TRAIN" $RUN --steps 150 --eval-every 48 --log-dir l4 >out4 2>&1
check "an epoch's end on an --eval-every step: one evaluation (144 steps per epoch)" "grep -q '(144 per epoch)' out4 && $PY - l4/metrics.jsonl <<'PY'
import json, sys
ev = [j['step'] for j in map(json.loads, open(sys.argv[1])) if j.get('split') not in (None, 'train') and 'step' in j]
assert ev == [48, 96, 144, 150], ev
PY"
[ $fail -gt 0 ] && cat out4

e2e_end
