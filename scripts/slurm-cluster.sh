#!/usr/bin/env bash
# Single-node Slurm cluster on loopback for the tests and CI (Debian/Ubuntu, run as root, no systemd).
#   scripts/slurm-cluster.sh start    install slurm-wlm + munge if missing, write the config, start
#                                     munged, slurmctld and slurmd, wait until the node is idle
#   scripts/slurm-cluster.sh stop     stop slurmd, slurmctld and munged (job state is kept)
#   scripts/slurm-cluster.sh status   print sinfo; exit 0 only if the node is up and usable
# Idempotent: start on a running cluster with an unchanged config only checks the node. One partition,
# "debug", with every CPU of this machine. No cgroups and no accounting database: plain sacct says
# "Slurm accounting storage is disabled"; `sacct -c` reads finished jobs from $LOGS/jobcomp.log.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
SPOOL=/var/spool/slurm
LOGS=/var/log/slurm
NODE=$(hostname -s)

say() { echo "slurm-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }
# Is a live (not zombie) process of that name running? Daemonizing leaves zombies where init is lax.
running() { [ -n "$(ps -C "$1" -o stat= | grep -v '^Z' || true)" ]; }

# The node's state as sinfo prints it (idle, mixed, down*, drained...), empty if slurmctld is not answering.
node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1 || true; }
node_usable() { [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; }

stop_daemon() {  # SIGTERM, then SIGKILL after 10 s
    local name=$1 i
    running "$name" || return 0
    say "stopping $name"
    pkill -x "$name" || true
    for i in $(seq 50); do running "$name" || return 0; sleep 0.2; done
    pkill -KILL -x "$name" || true
}

install_packages() {
    type -P slurmctld slurmd sbatch munged >/dev/null && return 0  # fails if any one is missing
    local pkgs=(slurm-wlm slurm-client munge)
    say "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >/tmp/slurm-cluster-apt.log 2>&1; then
        say "install failed, running apt-get update first"
        apt-get update >>/tmp/slurm-cluster-apt.log 2>&1 || true
        apt-get install -y --no-install-recommends "${pkgs[@]}" >>/tmp/slurm-cluster-apt.log 2>&1 \
            || die "apt-get install ${pkgs[*]} failed, see /tmp/slurm-cluster-apt.log"
    fi
}

start_munge() {
    # munged refuses a key or key directory that others can read; it runs as user munge, as under systemd.
    install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
    install -d -o munge -g munge -m 0711 /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    if ! running munged; then
        say "starting munged"
        runuser -u munge -- /usr/sbin/munged || die "munged failed to start, see /var/log/munge/munged.log"
    fi
    munge -n | unmunge >/dev/null || die "munge does not work, see /var/log/munge/munged.log"
}

# slurm.conf for this machine. CR_CPU (not CR_Core) so every hardware thread takes a one-CPU task even
# where threads share cores; config_overrides so a small mismatch with what slurmd detects never drains
# the node; linuxproc/none plugins because there are no usable cgroups without systemd. cred_expire
# (default 120 s, minimum 5) is also how long a requeued job waits; the short scheduler intervals make
# jobs whose BeginTime has passed start within ~2 s instead of up to a minute.
write_conf() {
    local mem
    mem=$(free -m | awk '/^Mem:/ { m = int($2 * 0.9 / 512) * 512; print (m > 512 ? m : 512) }')
    cat <<EOF
# Written by scripts/slurm-cluster.sh: single-node test cluster on loopback.
ClusterName=locollm
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
MinJobAge=300
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    install_packages
    start_munge
    install -d -m 0755 /etc/slurm "$SPOOL" "$SPOOL/ctld" "$SPOOL/d" "$LOGS"
    local conf; conf=$(write_conf)
    if [ ! -f "$CONF" ] || [ "$conf" != "$(cat "$CONF")" ]; then
        say "writing $CONF (node $NODE, $(nproc) CPUs)"  # and restart, or the old config stays in use
        stop_daemon slurmd; stop_daemon slurmctld
        printf '%s\n' "$conf" >"$CONF"
    fi
    if ! running slurmctld; then
        say "starting slurmctld"
        slurmctld || die "slurmctld failed to start, see $LOGS/slurmctld.log"
    fi
    # slurmctld restores the node's last state from its state files, so "idle" only counts once this
    # slurmd has registered (SlurmdStartTime, in local time like date's).
    local since=0000
    if ! running slurmd; then
        say "starting slurmd"
        since=$(date +%Y-%m-%dT%H:%M:%S)
        slurmd || die "slurmd failed to start, see $LOGS/slurmd.log"
    fi
    local i state="" started
    for i in $(seq 60); do  # up to 30 s
        running slurmctld || die "slurmctld exited, see $LOGS/slurmctld.log"
        running slurmd || die "slurmd exited, see $LOGS/slurmd.log"
        started=$(scontrol show node "$NODE" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
        if [[ "$started" == [0-9]* && ! "$started" < "$since" ]] && node_usable; then
            say "node $NODE is $(node_state)"; return 0
        fi
        state=$(node_state)
        if [[ "$state" =~ ^(down|drain|drained|draining|fail)$ ]]; then  # responding but marked unusable
            say "node $NODE is $state, resuming it"
            scontrol update nodename="$NODE" state=resume 2>/dev/null || true
        fi
        sleep 0.5
    done
    sinfo -N -l >&2 || true
    die "node $NODE is not idle after 30 s (state: ${state:-no answer}); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

case "${1:-}" in
    start) start ;;
    stop) stop_daemon slurmd; stop_daemon slurmctld; stop_daemon munged; say "stopped" ;;
    status)
        sinfo 2>/dev/null || { say "slurmctld is not answering"; exit 1; }
        node_usable || { say "node $NODE is not usable (state: $(node_state))"; exit 1; } ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
