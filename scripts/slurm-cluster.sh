#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the sweep tests (tests/test_sweep_slurm.py) and the
# launcher benchmark (benchmarks/sweep.py). Needs root (CI runs as root).
#
#   scripts/slurm-cluster.sh start    # apt-get install slurm-wlm + munge if absent, configure, start, wait for the node
#   scripts/slurm-cluster.sh status   # sinfo of the node
#   scripts/slurm-cluster.sh stop     # stop slurmd, slurmctld and munged
#
# Configuration (docs/sweeps.md, "A one-node cluster"): SlurmctldHost and NodeName = `hostname -s`;
# ProctrackType=proctrack/linuxproc and TaskPlugin=task/none (no cgroups in a container);
# SelectType=select/cons_tres with CR_Core (memory is not a consumable, so jobs that ask for none
# do not each take the whole node); no accounting; CPUs and RealMemory as `slurmd -C` reports.
# munge's key, socket folder and log belong to the munge user and munged runs as that user.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
SPOOL=/var/spool/slurmd
STATE=/var/spool/slurmctld
PARTITION=debug

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-cluster: must run as root (it installs packages and starts daemons)" >&2
        exit 2
    fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y slurm-wlm munge || { apt-get update && apt-get install -y slurm-wlm munge; }
}

start_munge() {
    mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
    chmod 0700 /etc/munge /var/log/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --force
        for _ in $(seq 50); do
            munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
            sleep 0.2
        done
        echo "slurm-cluster: munged did not start (see /var/log/munge/munged.log)" >&2
        exit 1
    fi
}

write_config() {
    local host node_line
    host=$(hostname -s)
    # slurmd -C prints "NodeName=<host> CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=.. RealMemory=.."
    node_line=$(slurmd -C | head -1)
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL" "$STATE"
    cat >"$CONF" <<EOF
# Written by unic-bench scripts/slurm-cluster.sh: a one-node test cluster.
ClusterName=unicbench
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0,bf_interval=1
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=$SPOOL
StateSaveLocation=$STATE
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
$node_line State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    # Debian's slurm packages read /etc/slurm/slurm.conf; no cgroup.conf is needed with task/none.
}

node_state() {
    sinfo -h -N -n "$(hostname -s)" -o "%t" 2>/dev/null | head -1 || true
}

start() {
    need_root
    install_packages
    start_munge
    if [ "$(node_state)" = "idle" ] || [ "$(node_state)" = "mix" ] || [ "$(node_state)" = "alloc" ]; then
        echo "slurm-cluster: already running ($(node_state))"
        return
    fi
    write_config
    pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -c
    for _ in $(seq 50); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
    pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
    for _ in $(seq 150); do
        case "$(node_state)" in
            idle | mix | alloc)
                echo "slurm-cluster: node $(hostname -s) is $(node_state) (partition $PARTITION)"
                return
                ;;
            down* | drain* | inval*)
                scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
                ;;
        esac
        sleep 0.2
    done
    echo "slurm-cluster: the node did not become idle (state '$(node_state)'; see $LOG_DIR)" >&2
    exit 1
}

stop() {
    need_root
    for daemon in slurmd slurmctld; do
        pid_file=/run/$daemon.pid
        if [ -f "$pid_file" ]; then kill "$(cat "$pid_file")" 2>/dev/null || true; fi
    done
    if [ -f /run/munge/munged.pid ]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true; fi
    echo "slurm-cluster: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo -N -l ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
