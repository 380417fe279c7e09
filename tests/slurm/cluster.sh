# Sourced by the tests/slurm/*.sh tests: start a private single-node Slurm cluster (munged,
# slurmctld, slurmd) from a slurm.conf generated in a temporary directory, and stop exactly the
# daemons it started (by pid) on exit, also when a check fails. Needs root and Debian's slurmd,
# slurmctld, slurm-client and munge (installed by `make deps`); otherwise the test is skipped
# (exit 77, one line).
#   . tests/slurm/cluster.sh; cluster_start "$T"    # then sbatch/scontrol/squeue talk to it
cluster_skip() { echo "SKIP: $1"; exit 77; }

cluster_start() {
  CL=$1/cluster
  [ "$(id -u)" = 0 ] || cluster_skip "not root: a private Slurm cluster needs root (slurmd)"
  for b in munged slurmctld slurmd sbatch scontrol squeue; do
    command -v $b >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v $b >/dev/null 2>&1 ||
      cluster_skip "$b not installed (Debian: munge slurmctld slurmd slurm-client; make deps installs them)"
  done
  export PATH=$PATH:/usr/sbin:/sbin
  mkdir -p "$CL/state" "$CL/spool" "$CL/munge" "$CL/tmp" && chmod 700 "$CL/munge"
  # a private munge key and socket: nothing outside the test directory is used or changed
  head -c 1024 /dev/urandom >"$CL/munge/key" && chmod 400 "$CL/munge/key"
  CLUSTER_PIDS=""
  munged -f --socket="$CL/munge/sock" --key-file="$CL/munge/key" --pid-file="$CL/munge/pid" \
    --log-file="$CL/munge/log" --seed-file="$CL/munge/seed" || cluster_skip "munged did not start ($(tail -1 "$CL/munge/log" 2>/dev/null))"
  CLUSTER_PIDS="$(cat "$CL/munge/pid")"
  local ports host=$(hostname -s) cpus=$(nproc)
  ports=$(/usr/bin/python3 -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
  set -- $ports
  export SLURM_CONF=$CL/slurm.conf
  cat >"$SLURM_CONF" <<EOF
ClusterName=attntest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/munge
AuthInfo=socket=$CL/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$CL/state
SlurmdSpoolDir=$CL/spool
TmpFS=$CL/tmp
FirstJobId=$(( (RANDOM % 900 + 100) * 1000 ))
SlurmctldPidFile=$CL/slurmctld.pid
SlurmdPidFile=$CL/slurmd.pid
SlurmctldLogFile=$CL/slurmctld.log
SlurmdLogFile=$CL/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
SchedulerType=sched/builtin
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=20
InactiveLimit=0
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
NodeName=n1 NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=n1 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
  # PMIx's per-step directories (spmix_appdir_<uid>_<job>.<step>) in the test directory, and job
  # ids that differ from run to run: a step killed mid-launch leaves its directory behind, and the
  # next cluster's step of the same id failed with "Cannot create directory ...: File exists"
  echo "PMIxCliTmpDirBase=$CL/tmp" >"$CL/mpi.conf"
  # the Debian plugstack.conf includes /etc/slurm/plugstack.conf.d: keep the cluster self-contained
  : >"$CL/plugstack.conf"; echo "PlugStackConfig=$CL/plugstack.conf" >>"$SLURM_CONF"
  trap cluster_stop EXIT
  slurmctld -c -f "$SLURM_CONF" || { cluster_dump; cluster_skip "slurmctld did not start (log above)"; }
  for i in $(seq 50); do [ -s "$CL/slurmctld.pid" ] && break; sleep 0.1; done
  CLUSTER_PIDS="$CLUSTER_PIDS $(cat "$CL/slurmctld.pid" 2>/dev/null)"
  slurmd -f "$SLURM_CONF" -N n1 || { cluster_dump; cluster_skip "slurmd did not start (log above)"; }
  for i in $(seq 50); do [ -s "$CL/slurmd.pid" ] && break; sleep 0.1; done
  CLUSTER_PIDS="$CLUSTER_PIDS $(cat "$CL/slurmd.pid" 2>/dev/null)"
  for i in $(seq 100); do
    sinfo -h -N -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && return 0
    sleep 0.2
  done
  cluster_dump
  cluster_skip "the private Slurm cluster did not come up in 20 s (logs above)"
}

cluster_dump() {
  for f in "$CL/slurmctld.log" "$CL/slurmd.log" "$CL/munge/log"; do
    [ -f "$f" ] && { echo "--- $f (tail)"; tail -15 "$f"; }
  done
}

# stop the daemons this test started, by pid (TERM, then KILL after 5 s); then the caller's cleanup
cluster_stop() {
  local rc=$?
  [ -n "${CLUSTER_JOBS_CANCEL:-}" ] && scancel $CLUSTER_JOBS_CANCEL 2>/dev/null
  for p in $CLUSTER_PIDS; do kill "$p" 2>/dev/null; done
  for i in $(seq 50); do
    local alive=""
    for p in $CLUSTER_PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for p in $alive; do kill -9 "$p" 2>/dev/null; done
  # job processes that outlived the daemons (a rank stuck in start-up kept running after its
  # cluster was gone): everything whose environment names this cluster's slurm.conf
  local e q
  for e in /proc/[0-9]*/environ; do
    q=${e#/proc/}; q=${q%/environ}
    [ "$q" = $$ ] || [ "$q" = "$BASHPID" ] && continue
    grep -qz "^SLURM_CONF=$CL/slurm.conf\$" "$e" 2>/dev/null && kill -9 "$q" 2>/dev/null
  done
  [ -n "${CLUSTER_CLEANUP:-}" ] && eval "$CLUSTER_CLEANUP"
  exit $rc
}

# job_state ID: the job's state (PENDING, RUNNING, COMPLETED, ...)
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
# job_field ID KEY
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# job_wait ID SECONDS: wait until the job is finished; after a requeue, start it early. Slurm holds
# a requeued job back (its BeginTime moves cred_expire seconds into the future) because slurmd
# refuses to launch a job whose credential it revoked at the same second or later ("Killing
# non-startable batch JobId=N: Job credential revoked", the job ends FAILED); so the hold is cut
# short only once the job has been pending for 2 s.
job_wait() {
  local id=$1 t=$(( $(date +%s) + $2 )) s since=""
  while [ "$(date +%s)" -lt $t ]; do
    s=$(job_state "$id")
    case "$s" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) echo "$s"; return 0 ;;
      PENDING)
        [ -n "$since" ] || since=$(date +%s)
        [ $(( $(date +%s) - since )) -ge 2 ] && scontrol update JobId="$id" StartTime=now 2>/dev/null ;;
      *) since="" ;;
    esac
    sleep 0.3
  done
  echo "TIMEOUT_WAITING($(job_state "$id"))"
}

# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN
wait_for() {
  local t=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt $t ]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
