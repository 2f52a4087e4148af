#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (localhost only), for geobatch's SLURM tests and for
# trying `geobatch sweep --slurm` without a real cluster. Idempotent: installs SLURM and munge from
# Debian's packages if missing, writes /etc/slurm/slurm.conf for this host, and (re)starts munged,
# slurmctld and slurmd as plain daemons (no systemd needed). Needs root.
#
#   scripts/slurm-local.sh          # install if needed, start; prints `sinfo`
#   scripts/slurm-local.sh stop     # stop the daemons
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm-local.sh: needs root (it installs packages and starts daemons)" >&2
    exit 2
fi

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
    sleep 1
}

if [[ ${1:-} == stop ]]; then
    stop
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
cat > /etc/slurm/slurm.conf <<CONF
# written by geobatch scripts/slurm-local.sh: one node, localhost only
ClusterName=geobatch-local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job waits cred_expire + 1 seconds before it may start again (slurm.conf(5)); the
# default 120 s made the requeue test wait two minutes for nothing on a one-node cluster
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
InactiveLimit=0
MinJobAge=300
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key

stop
if id munge >/dev/null 2>&1; then
    su -s /bin/sh munge -c "munged" || munged --force
else
    munged --force
fi
slurmctld
slurmd
for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        sinfo
        exit 0
    fi
    scontrol update nodename="${host}" state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm-local.sh: the node did not come up; see /var/log/slurm/slurmd.log and slurmctld.log" >&2
sinfo >&2 || true
exit 1
