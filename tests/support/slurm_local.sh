#!/usr/bin/env bash
# A single-node Slurm cluster in a folder, for the end-to-end tests (tests/e2e/test_slurm_sweep.cpp):
# munged, slurmctld and slurmd of Debian's slurm-wlm and munge, all run by the current user, every
# file (key, config, state, spool, logs, pids) under DIR, on two given TCP ports of localhost.
#   slurm_local.sh start DIR CTLD_PORT SLURMD_PORT   # prints the SLURM_CONF to use; exit 1 with logs
#   slurm_local.sh stop DIR                          # cancels every job, stops the daemons
set -uo pipefail
cmd=${1:?start or stop}
dir=${2:?folder}
stop() {
  [[ -f $dir/slurm.conf ]] && SLURM_CONF=$dir/slurm.conf scancel --full --quiet -u "$(id -un)" 2>/dev/null
  local pids=()
  for p in slurmd slurmctld munge/munged; do
    [[ -f $dir/$p.pid ]] && pids+=("$(cat "$dir/$p.pid")")
  done
  [[ ${#pids[@]} -eq 0 ]] && return 0
  kill "${pids[@]}" 2>/dev/null
  for _ in $(seq 50); do  # gone within 5 s, else killed
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null
  return 0
}
if [[ $cmd == stop ]]; then stop; exit 0; fi
ctld_port=${3:?port} slurmd_port=${4:?port}
for b in munged slurmctld slurmd sbatch; do
  command -v "$b" >/dev/null || { echo "slurm_local: $b is missing; make deps installs slurm-wlm and munge" >&2; exit 1; }
done
rm -rf "$dir" && mkdir -p "$dir"/{state,spool,log,munge} && chmod 700 "$dir/munge"
head -c 128 /dev/urandom > "$dir/munge/munge.key" && chmod 600 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" || { cat "$dir/munge/munged.log" >&2; exit 1; }
user=$(id -un)
cat > "$dir/slurm.conf" <<CONF
ClusterName=ssmsimtest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -c && slurmd -N localhost || { stop; cat "$dir"/log/*.log >&2; exit 1; }
for _ in $(seq 100); do  # the node idle: ready for jobs (within a second or two here)
  [[ $(sinfo -h -N -o %t 2>/dev/null) == idle ]] && { echo "$SLURM_CONF"; exit 0; }
  sleep 0.1
done
echo "slurm_local: the node did not become idle in 10 s" >&2
sinfo >&2; cat "$dir"/log/*.log >&2; stop; exit 1
