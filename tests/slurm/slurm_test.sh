#!/usr/bin/env bash
# A real single-node Slurm cluster runs compsweep's job scripts (make test-slurm).
#
# As root, the test writes its own munge key, slurm.conf and gres.conf into a
# temporary folder and starts munged, slurmctld and slurmd from Debian's
# packages (scripts/setup_slurm.sh): proctrack/linuxproc and task/none, which
# work in a container without cgroups; select/cons_tres; one node with 4 CPUs
# and 3 fake GPUs (gres/gpu on device files made here), so the worker script's
# own `--gres=gpu:1` is scheduled as written. Then, through sbatch only:
#   1. deploy/slurm/coordinator.sbatch starts the coordinator as a job
#      (CurveZMQ keys and token made by the script, ports on 127.0.0.1);
#   2. sbatch --array=0-2 deploy/slurm/compsweep-workers.sbatch starts three
#      workers (DEVICE=cpu: the fake GPUs are only for the scheduler);
#   3. tests/slurm/sweep.yaml (4 trials and a teacher) is submitted;
#   4. once the teacher is done, a worker job whose trial has just started is
#      cancelled with plain `scancel` (SIGTERM, then SIGKILL after KillWait=2 s,
#      before its trial can finish);
#   5. the sweep must finish, and the SQLite file must show every trial
#      succeeded exactly once, the cancelled job's trial lost there and
#      succeeded on another worker job;
#   6. `scancel --signal=TERM --full` drains the two other worker jobs, which
#      must end COMPLETED with exit code 0; the coordinator job is cancelled.
# The daemons and every process left under the test's folder are stopped at
# the end, whatever happened. Not root: skipped with a loud message (exit 0).
#
# Usage: tests/slurm/slurm_test.sh        (from the repository root or anywhere)
#   COMPSWEEP_BIN   the compsweep to run (default $BUILD_DIR/compsweep, build/)
#   KEEP=1          keep the temporary folder (logs, database) after a pass
#   KILL_WAIT=N     slurm.conf KillWait (default 2). Only to check the test
#                   itself: with 60 the cancelled worker drains and finishes its
#                   trial, and the test must fail ("no unfinished attempt").
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
START=$SECONDS

say() { echo "slurm_test: $*"; }

if [[ $(id -u) -ne 0 ]]; then
  cat >&2 <<'MSG'
##########################################################################
# slurm_test: SKIPPED - not root. Starting slurmctld, slurmd and munged  #
# needs root; run `sudo make test-slurm` to test deploy/slurm/ for real.  #
##########################################################################
MSG
  exit 0
fi
for tool in munged mungekey slurmctld slurmd sbatch squeue scancel scontrol sinfo sqlite3 ss; do
  command -v "$tool" > /dev/null || {
    say "FAIL: $tool is missing; run scripts/setup_slurm.sh" >&2
    exit 1
  }
done

BIN="${COMPSWEEP_BIN:-${BUILD_DIR:-build}/compsweep}"
[[ "$BIN" == /* ]] || BIN="$REPO/$BIN"
[[ -x "$BIN" ]] || { say "FAIL: no compsweep at $BIN (build it first: make build)" >&2; exit 1; }
WORKER_BIN="$(dirname "$BIN")/compsweep-worker"
if [[ ! -x "$WORKER_BIN" ]]; then
  WORKER_BIN="$BIN"
  "$BIN" worker --help > /dev/null 2>&1 || {
    say "FAIL: $BIN has no worker (built without LibTorch) and there is no compsweep-worker next to it" >&2
    exit 1
  }
fi

T=$(mktemp -d /tmp/compsweep-slurm.XXXXXX)
chmod 755 "$T"    # munged wants every folder above its socket searchable
mkdir -p "$T"/{munge,munge-key,etc,state,spool,log,home,scratch,dev,jobs}
chmod 700 "$T/munge-key"
DB="$T/home/compsweep.db"
PIDS=()           # munged, slurmctld, slurmd: ours, stopped by id at the end
FAILED=1

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
# free_port VAR: a free TCP port, not one given to an earlier VAR.
declare -A TAKEN=()
free_port() {
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + RANDOM % 30000))
    if [[ -z "${TAKEN[$p]:-}" ]] && port_free "$p"; then
      TAKEN[$p]=1
      printf -v "$1" '%s' "$p"
      return
    fi
  done
  say "FAIL: no free port" >&2
  exit 1
}

sql() { sqlite3 -batch -noheader -readonly -cmd '.timeout 5000' "$DB" "$1"; }

diagnostics() {
  echo "----- slurm_test diagnostics (folder $T) -----"
  squeue -a 2>&1 | head -20 || true
  sinfo -N -o '%N %T %G %c %E' 2>&1 || true
  for f in "$T"/jobs/*.out "$T"/log/slurmctld.log "$T"/log/slurmd.log; do
    [[ -f "$f" ]] || continue
    echo "----- tail $f"
    tail -n 25 "$f"
  done
  if [[ -f "$DB" ]]; then
    echo "----- trials"
    sqlite3 -cmd '.timeout 5000' "$DB" \
      "SELECT id, kind, state, attempt, retries, worker FROM trials" 2>&1 || true
    echo "----- trial_attempts"
    sqlite3 -cmd '.timeout 5000' "$DB" \
      "SELECT trial_id, attempt, worker, state, started_ms, finished_ms FROM trial_attempts" 2>&1 || true
    echo "----- workers"
    sqlite3 -cmd '.timeout 5000' "$DB" "SELECT id, state FROM workers" 2>&1 || true
  fi
}

fail() {
  say "FAIL: $*" >&2
  diagnostics >&2
  exit 1
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n "${SLURM_CONF:-}" && -f "${SLURM_CONF}" ]] && ((${#PIDS[@]} > 1)); then
    # Every job of this cluster is ours: its controller is the test's own.
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
    if ((${#jobs[@]})); then
      scancel "${jobs[@]}" 2>/dev/null
      for _ in $(seq 40); do
        [[ -z "$(squeue -h -o %A 2>/dev/null)" ]] && break
        sleep 0.5
      done
    fi
  fi
  # Daemons in reverse order of start, by their ids.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Anything still running of this cluster (slurmstepd, job processes): every
  # process slurmd or the test started has SLURM_CONF=$T/etc/slurm.conf in its
  # environment, and the jobs run in $T.
  local left=() p cwd
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" == "$$" ]] && continue
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    if [[ "$cwd" == "$T" || "$cwd" == "$T"/* ]] ||
       tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qxF "SLURM_CONF=$T/etc/slurm.conf"; then
      left+=("${p#/proc/}")
    fi
  done
  if ((${#left[@]})); then
    say "stopping ${#left[@]} leftover process(es) of the test: ${left[*]}" >&2
    kill -KILL "${left[@]}" 2>/dev/null
    ((rc == 0)) && rc=1 && say "FAIL: processes outlived the cluster" >&2
  fi
  if ((rc == 0 && FAILED == 0)) && [[ "${KEEP:-0}" != 1 ]]; then
    rm -rf "$T"
  else
    say "left $T for inspection"
  fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------- munge
mungekey -c -k "$T/munge-key/munge.key" 2>/dev/null || {
  dd if=/dev/urandom of="$T/munge-key/munge.key" bs=1 count=1024 status=none
}
chmod 600 "$T/munge-key/munge.key"
MUNGE_SOCKET="$T/munge/munge.sock"
munged -F --key-file="$T/munge-key/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/log/munged.log" \
  --seed-file="$T/munge-key/seed" > "$T/log/munged.out" 2>&1 &
PIDS+=($!)
wait_until 20 "munged" test -S "$MUNGE_SOCKET"
munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" > /dev/null ||
  fail "munge cannot encode and decode a credential"

# ---------------------------------------------------------------- slurm.conf
NODE=$(hostname -s)
free_port CTLD_PORT
free_port SLURMD_PORT
free_port ZMQ_PORT
free_port HTTP_PORT
# Three fake GPUs: character devices where mknod is allowed (then Slurm sets
# CUDA_VISIBLE_DEVICES for each job), plain files otherwise (slurmd logs that
# they are not devices but still counts them).
GPU_FILES=char
for i in 0 1 2; do
  mknod "$T/dev/nvidia$i" c 195 "$i" 2>/dev/null || { touch "$T/dev/nvidia$i"; GPU_FILES=plain; }
done
cat > "$T/etc/slurm.conf" <<EOF
ClusterName=cstest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The node below has more CPUs than a 2-core CI machine: trust the config.
SlurmdParameters=config_overrides
ReturnToService=2
# SIGKILL 2 s after scancel's SIGTERM: shorter than a trial of the test's sweep.
KillWait=${KILL_WAIT:-2}
MinJobAge=600
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=4 RealMemory=8192 Gres=gpu:3 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$T/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=$T/dev/nvidia[0-2]
EOF
export SLURM_CONF="$T/etc/slurm.conf"

slurmctld -D > "$T/log/slurmctld.out" 2>&1 &
PIDS+=($!)
ctld_up() { scontrol ping 2> /dev/null | grep -q 'is UP'; }
wait_until 30 "slurmctld to answer" ctld_up
slurmd -D > "$T/log/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { [[ "$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null)" == idle ]]; }
wait_until 60 "node $NODE idle" node_idle
[[ "$(sinfo -h -N -n "$NODE" -o %G)" == gpu:3* ]] || fail "node has gres $(sinfo -h -N -o %G), not gpu:3"
say "cluster up in $((SECONDS - START)) s: node $NODE, 4 CPUs, gres gpu:3 ($GPU_FILES files), slurmctld :$CTLD_PORT"

# ---------------------------------------------------------------- coordinator job
export COMPSWEEP="$BIN" COMPSWEEP_HOME="$T/home" TMPDIR="$T/scratch"
export ZMQ_PORT HTTP_PORT BIND_ADDR=127.0.0.1 DEVICE=cpu
unset COMPSWEEP_TOKEN COORDINATOR COMPSWEEP_WORKER_BIN 2>/dev/null || true
URL="http://127.0.0.1:$HTTP_PORT"
COORD_JOB=$(sbatch --parsable --chdir="$T" --cpus-per-task=1 --mem=512M \
  --output="$T/jobs/coordinator-%j.out" "$REPO/deploy/slurm/coordinator.sbatch")
job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
job_running() { [[ "$(job_state "$1")" == RUNNING ]]; }
wait_until 60 "coordinator job $COORD_JOB to start" job_running "$COORD_JOB"
coordinator_up() {
  job_running "$COORD_JOB" || fail "coordinator job $COORD_JOB is $(job_state "$COORD_JOB")"
  "$BIN" status --coordinator "$URL" > /dev/null 2>&1
}
wait_until 60 "the coordinator job to serve $URL" coordinator_up
grep -qx "COORDINATOR=127.0.0.1" "$T/home/coordinator.env" || fail "coordinator.env does not name 127.0.0.1"
[[ -s "$T/home/token" && -s "$T/home/curve/worker.key" && -s "$T/home/curve/clients/worker.pub" ]] ||
  fail "coordinator.sbatch made no token or CURVE keys"
grep -q -- "--curve-key" "$T/jobs/coordinator-$COORD_JOB.out" ||
  fail "coordinator job did not turn CURVE on"
say "coordinator job $COORD_JOB running ($URL, CURVE keys in $T/home/curve)"

# ---------------------------------------------------------------- worker array
ARRAY=$(sbatch --parsable --chdir="$T" --array=0-2 --cpus-per-task=1 --mem=512M \
  --output="$T/jobs/worker-%A_%a.out" "$REPO/deploy/slurm/compsweep-workers.sbatch")
ARRAY=${ARRAY%%;*}
WPREFIX="$NODE-slurm-${ARRAY}_"
alive_workers() { sql "SELECT COUNT(*) FROM workers WHERE state='alive' AND id LIKE '$WPREFIX%'"; }
three_alive() { [[ "$(alive_workers 2> /dev/null)" == 3 ]]; }
wait_until 90 "3 workers of job array $ARRAY to join" three_alive
for i in 0 1 2; do
  [[ "$(job_state "${ARRAY}_$i")" == RUNNING ]] || fail "array task ${ARRAY}_$i is $(job_state "${ARRAY}_$i")"
done
out_of() { echo "$T/jobs/worker-${ARRAY}_$1.out"; }
grep -q "worker $WORKER_BIN" "$(out_of 0)" ||
  fail "worker job did not run $WORKER_BIN: $(head -3 "$(out_of 0)")"
if [[ "$GPU_FILES" == char ]]; then
  cvd=$(for i in 0 1 2; do grep -o 'CUDA_VISIBLE_DEVICES=[^)]*' "$(out_of "$i")"; done | sort -u)
  [[ $(wc -l <<< "$cvd") == 3 && "$cvd" != *unset* ]] ||
    fail "Slurm did not give each worker its own GPU: $(tr '\n' ' ' <<< "$cvd")"
  say "3 workers of array job $ARRAY joined, one fake GPU each: $(tr '\n' ' ' <<< "$cvd")"
else
  say "3 workers of array job $ARRAY joined (gres scheduled; no device nodes, so no CUDA_VISIBLE_DEVICES)"
fi

# ---------------------------------------------------------------- the sweep
SWEEP=$(COMPSWEEP_TOKEN=$(< "$T/home/token") "$BIN" submit "$REPO/tests/slurm/sweep.yaml" \
  --coordinator "$URL") || fail "submit failed"
TRIALS=$(sql "SELECT COUNT(*) FROM trials WHERE sweep_id=$SWEEP AND kind='trial'")
[[ "$TRIALS" == 4 ]] || fail "sweep $SWEEP has $TRIALS trials, expected 4"
SWEEP_START=$SECONDS
say "sweep $SWEEP submitted: $TRIALS trials and a teacher"

# The victim: a worker job whose trial started less than 1 s ago, after the
# teacher was done, so that the trial is still running when SIGKILL comes 2 s
# after the SIGTERM (a trial of this sweep takes 4 s or more even on an idle machine).
victim=""
pick_victim() {
  victim=$(sql "SELECT t.id || ' ' || t.worker FROM trials t JOIN trials th
      ON th.sweep_id = t.sweep_id AND th.kind = 'teacher' AND th.state = 'succeeded'
    WHERE t.sweep_id = $SWEEP AND t.kind = 'trial' AND t.state = 'running'
      AND t.started_ms >= th.finished_ms
      AND t.started_ms > (julianday('now') - 2440587.5) * 86400000 - 1000
      AND t.worker LIKE '$WPREFIX%'
    ORDER BY t.started_ms DESC LIMIT 1" 2> /dev/null)
  [[ -n "$victim" ]]
}
wait_until 180 "a trial to start on a worker job after the teacher" pick_victim
read -r VTRIAL VWORKER <<< "$victim"
VTASK=${VWORKER##*_}
VJOB="${ARRAY}_$VTASK"
scancel "$VJOB"
CANCEL_AT=$SECONDS
say "scancel $VJOB (worker $VWORKER) while it runs trial $VTRIAL, $((SECONDS - SWEEP_START)) s into the sweep"
job_gone() { [[ -z "$(squeue -h -j "$1" 2>/dev/null)" ]]; }
wait_until 90 "job $VJOB to end" job_gone "$VJOB"
[[ "$(job_state "$VJOB")" == CANCELLED ]] || fail "job $VJOB is $(job_state "$VJOB"), not CANCELLED"

sweep_over() { [[ "$(sql "SELECT state FROM sweeps WHERE id=$SWEEP")" != active ]]; }
wait_until 420 "sweep $SWEEP to finish" sweep_over
SWEEP_SECONDS=$((SECONDS - SWEEP_START))

# ---------------------------------------------------------------- what the database says
state=$(sql "SELECT state FROM sweeps WHERE id=$SWEEP")
[[ "$state" == done ]] || fail "sweep $SWEEP ended $state"
bad=$(sql "SELECT id || ':' || kind || ':' || state FROM trials WHERE sweep_id=$SWEEP AND state != 'succeeded'")
[[ -z "$bad" ]] || fail "trials not succeeded: $bad"
[[ "$(sql "SELECT COUNT(*) FROM trials WHERE sweep_id=$SWEEP AND kind='teacher'")" == 1 ]] ||
  fail "expected one teacher training"
not_once=$(sql "SELECT t.id || ' x' || (SELECT COUNT(*) FROM trial_attempts a
                  WHERE a.trial_id = t.id AND a.state = 'succeeded')
                FROM trials t WHERE t.sweep_id = $SWEEP AND (SELECT COUNT(*) FROM trial_attempts a
                  WHERE a.trial_id = t.id AND a.state = 'succeeded') != 1")
[[ -z "$not_once" ]] || fail "trials not succeeded exactly once (trial xN): $not_once"
values=$(sql "SELECT COUNT(*) FROM trials t WHERE t.sweep_id=$SWEEP AND t.kind='trial'
              AND EXISTS (SELECT 1 FROM trial_values v WHERE v.trial_id=t.id AND v.metric='val_accuracy')")
[[ "$values" == "$TRIALS" ]] || fail "only $values of $TRIALS trials have an accuracy"
elsewhere=$(sql "SELECT COUNT(*) FROM trials t WHERE t.sweep_id=$SWEEP
                 AND t.worker NOT LIKE '$WPREFIX%'")
[[ "$elsewhere" == 0 ]] || fail "$elsewhere trial(s) ran outside the Slurm workers"
lost_there=$(sql "SELECT COUNT(*) FROM trial_attempts WHERE trial_id=$VTRIAL
                  AND worker='$VWORKER' AND state != 'succeeded'")
((lost_there >= 1)) || fail "trial $VTRIAL has no unfinished attempt on the cancelled $VWORKER"
rerun_on=$(sql "SELECT worker FROM trial_attempts WHERE trial_id=$VTRIAL AND state='succeeded'")
[[ "$rerun_on" == "$WPREFIX"* && "$rerun_on" != "$VWORKER" ]] ||
  fail "trial $VTRIAL succeeded on '$rerun_on', not on another worker job"
vstate=$(sql "SELECT state FROM workers WHERE id='$VWORKER'")
[[ "$vstate" == lost || "$vstate" == gone ]] || fail "cancelled worker $VWORKER is $vstate"
attempts=$(sql "SELECT group_concat(attempt || ':' || state || '@' || worker, ', ') FROM
                (SELECT * FROM trial_attempts WHERE trial_id=$VTRIAL ORDER BY attempt)")
say "sweep $SWEEP done in $SWEEP_SECONDS s: $TRIALS/$TRIALS trials and the teacher succeeded exactly once;" \
    "trial $VTRIAL: $attempts"

# ---------------------------------------------------------------- drain the rest
others=()
for i in 0 1 2; do [[ "$i" == "$VTASK" ]] || others+=("${ARRAY}_$i"); done
scancel --signal=TERM --full "${others[@]}"
for j in "${others[@]}"; do
  wait_until 60 "drained job $j to end" job_gone "$j"
  info=$(scontrol show job "$j")
  grep -q 'JobState=COMPLETED' <<< "$info" && grep -q 'ExitCode=0:0' <<< "$info" ||
    fail "drained job $j: $(grep -o 'JobState=[A-Z_]* .*' <<< "$info" | head -1), $(grep -o 'ExitCode=[0-9:]*' <<< "$info")"
  [[ "$(sql "SELECT state FROM workers WHERE id='$NODE-slurm-$j'")" == gone ]] ||
    fail "drained worker of $j did not say BYE"
done
say "scancel --signal=TERM --full drained ${others[*]}: COMPLETED, exit 0"

scancel "$COORD_JOB"
wait_until 30 "coordinator job $COORD_JOB to end" job_gone "$COORD_JOB"
[[ "$(job_state "$COORD_JOB")" == CANCELLED ]] || fail "coordinator job is $(job_state "$COORD_JOB")"
# The coordinator itself logs no error (Slurm's own CANCELLED line aside).
errors=$(grep -i ' error\|critical\|fatal' "$T/jobs/coordinator-$COORD_JOB.out" | grep -v '^slurmstepd' || true)
[[ -z "$errors" ]] || fail "the coordinator logged errors: $errors"

FAILED=0
say "PASS in $((SECONDS - START)) s (cluster start to stop; the sweep $SWEEP_SECONDS s; cancel at $((CANCEL_AT - SWEEP_START)) s)"
