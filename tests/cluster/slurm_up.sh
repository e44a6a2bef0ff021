#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests/cluster/test_slurm.py and for
# trying profiles/slurm by hand. Needs root and apt (Debian 12: slurm 22.05).
#
#   sudo bash tests/cluster/slurm_up.sh [STATE_DIR]      # default /tmp/mist-slurm
#   sinfo; snakemake --profile profiles/slurm ...
#   sudo bash tests/cluster/slurm_down.sh [STATE_DIR]
#
# Installs slurm-wlm, munge, slurmdbd and mariadb-server where missing (no daemon starts on
# install), writes slurm.conf / slurmdbd.conf / gres.conf for this host (hostname, nproc,
# memory) into STATE_DIR/etc, and starts by hand, each with its own socket, port, pid and log
# under STATE_DIR: munged, mariadbd, slurmdbd (job accounting, so `sacct` works), slurmctld
# and slurmd. Their PIDs go to STATE_DIR/pids; slurm_down.sh stops exactly those. Waits until
# `sinfo` shows the node idle. Running it again while the cluster is up does nothing.
# STATE_DIR/etc is also linked at /run/slurm/conf (the one path outside STATE_DIR written),
# where SLURM commands look when /etc/slurm/slurm.conf is absent and SLURM_CONF unset: srun
# inside a job needs it, as the Snakemake job step strips SLURM_CONF from its environment.
# Refuses to run where /etc/slurm/slurm.conf exists (a real SLURM host).
#
# The node: all CPUs and memory of this machine, DefMemPerCPU set (a job without --mem
# would otherwise take the whole node), partitions `cpu` (default) and `gpu` as
# profiles/slurm names them, and MIST_SLURM_GPUS (default 2) stand-in GPUs (GRES whose
# device files are copies of /dev/null), so the profile's GPU requests are scheduled as on a
# GPU cluster (two GPU jobs at once) while the jobs themselves run on the CPU (device: auto).
#
# Ports (change them if taken): MIST_SLURM_CTLD_PORT 6817, MIST_SLURM_SLURMD_PORT 6818,
# MIST_SLURM_DBD_PORT 6819, MIST_SLURM_MYSQL_PORT 3307.
set -euo pipefail

die() {
    echo "slurm_up: ERROR: $*" >&2
    exit 1
}
say() { echo "slurm_up: $*"; }

STATE=${1:-${MIST_SLURM_STATE:-/tmp/mist-slurm}}
CTLD_PORT=${MIST_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${MIST_SLURM_SLURMD_PORT:-6818}
DBD_PORT=${MIST_SLURM_DBD_PORT:-6819}
MYSQL_PORT=${MIST_SLURM_MYSQL_PORT:-3307}
GPUS=${MIST_SLURM_GPUS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)

[ ! -e /etc/slurm/slurm.conf ] || die "/etc/slurm/slurm.conf exists: this machine already has a SLURM configuration; not starting a test cluster over it"
[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons): sudo bash $0 $*"
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac
# Unix socket paths are limited to 107 bytes.
[ ${#STATE} -le 70 ] || die "state dir path too long for unix sockets (${#STATE} > 70 chars): $STATE"

export SLURM_CONF="$STATE/etc/slurm.conf"
PIDS="$STATE/pids"
ORDER="munged mariadbd slurmdbd slurmctld slurmd"

alive() { # alive NAME: its recorded process is running
    local f="$PIDS/$1.pid"
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# --- already up? ---------------------------------------------------------------------------
if [ -d "$PIDS" ] && ls "$PIDS"/*.pid >/dev/null 2>&1; then
    all=1
    for d in $ORDER; do alive "$d" || all=0; done
    if [ "$all" = 1 ] && timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
        say "already up (state $STATE)"
        exit 0
    fi
    say "stale or partial cluster in $STATE: stopping what is left of it first"
    bash "$HERE/slurm_down.sh" "$STATE"
fi

# --- packages ------------------------------------------------------------------------------
need=()
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
command -v slurmdbd >/dev/null || need+=(slurmdbd)
command -v mariadbd >/dev/null || need+=(mariadb-server)
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
    say "installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${need[@]}" >"${TMPDIR:-/tmp}/mist-slurm-apt.log" 2>&1; then
        say "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >>"${TMPDIR:-/tmp}/mist-slurm-apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "${need[@]}" >>"${TMPDIR:-/tmp}/mist-slurm-apt.log" 2>&1 ||
            die "apt-get install ${need[*]} failed; see ${TMPDIR:-/tmp}/mist-slurm-apt.log"
    fi
fi
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$MYSQL_PORT"; do
    port_taken "$p" && die "port $p on 127.0.0.1 is already in use (another SLURM or database?); set MIST_SLURM_*_PORT"
done

# --- this host -------------------------------------------------------------------------------
HOST=$(hostname -s)
CPUS=$(nproc)
# Memory as slurmd measures it (a configured RealMemory above it would drain the node).
MEM=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
[ -n "$MEM" ] || MEM=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
DEF_MEM=$((MEM / CPUS < 1024 ? MEM / CPUS : 1024))

mkdir -p "$STATE"/{etc,log,pids,run,munge,mysql,spool/ctld,spool/d}
chmod 711 "$STATE/munge"
rm -f "$STATE"/log/*.log "$STATE"/log/*.out

# --- configuration ---------------------------------------------------------------------------
[ -s "$STATE/munge/munge.key" ] || {
    head -c 1024 /dev/urandom >"$STATE/munge/munge.key"
    chmod 400 "$STATE/munge/munge.key"
}
MUNGE_SOCKET="$STATE/munge/munge.socket.2"
DB_PASS_FILE="$STATE/etc/.dbpass"
[ -s "$DB_PASS_FILE" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DB_PASS_FILE"; }
chmod 600 "$DB_PASS_FILE"
DB_PASS=$(cat "$DB_PASS_FILE")

# Stand-in GPUs: slurmd drops file-less GPUs, so each one is a character device node that
# is a copy of /dev/null (nothing binds or opens it; jobs get CUDA_VISIBLE_DEVICES as
# on a GPU node, and without CUDA they run on the CPU).
rm -f "$STATE/etc/gres.conf"
if [ "$GPUS" -gt 0 ]; then
    mkdir -p "$STATE/dev"
    for ((i = 0; i < GPUS; i++)); do
        [ -c "$STATE/dev/gpu$i" ] || { rm -f "$STATE/dev/gpu$i"; mknod "$STATE/dev/gpu$i" c 1 3 || die "mknod $STATE/dev/gpu$i failed"; }
    done
    echo "NodeName=$HOST Name=gpu File=$STATE/dev/gpu[0-$((GPUS - 1))]" >"$STATE/etc/gres.conf"
    GRES_TYPES="GresTypes=gpu"
    NODE_GRES=" Gres=gpu:$GPUS"
else
    GRES_TYPES=""
    NODE_GRES=""
fi

cat >"$STATE/etc/slurm.conf" <<EOF
# Written by tests/cluster/slurm_up.sh: a one-node cluster on $HOST.
ClusterName=mist
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$DEF_MEM
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# The munge socket for talking to slurmdbd (AuthInfo above only covers slurmctld).
AccountingStoragePass=$MUNGE_SOCKET
# Record each job's comment (the plugin puts the rule there) and its GPUs.
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
$GRES_TYPES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM$NODE_GRES State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF

cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 "$STATE/etc/slurmdbd.conf"

# The configuration where SLURM commands find it without SLURM_CONF.
if [ -e /run/slurm/conf ] || [ -L /run/slurm/conf ]; then
    link=$(readlink /run/slurm/conf || true)
    [ "$link" = "$STATE/etc" ] || [ ! -e "$link/slurm.conf" ] ||
        die "/run/slurm/conf points to $link, another SLURM configuration; stop that cluster first (slurm_down.sh)"
fi
mkdir -p /run/slurm
ln -sfn "$STATE/etc" /run/slurm/conf

# --- daemons ---------------------------------------------------------------------------------
start() { # start NAME COMMAND...: in the foreground mode of each daemon, in its own session
    local name=$1
    shift
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    echo $! >"$PIDS/$name.pid"
    sleep 0.5
    alive "$name" || fail "$name exited at once"
}
fail() { # fail MESSAGE: show the logs, stop what was started, exit
    echo "slurm_up: ERROR: $*" >&2
    for f in "$STATE"/log/*; do
        [ -s "$f" ] && { echo "---- $f (last 15 lines)" >&2; tail -n 15 "$f" >&2; }
    done
    bash "$HERE/slurm_down.sh" "$STATE" >&2 || true
    exit 1
}
wait_for() { # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 4; i++)); do
        timeout 10 "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    fail "$what not ready after ${limit} s"
}
started=$(date +%s.%N)

# munge: credentials for every SLURM message.
start munged munged --foreground --force --key-file="$STATE/munge/munge.key" \
    --socket="$MUNGE_SOCKET" --pid-file="$STATE/run/munged.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
wait_for 15 munged bash -c "munge -n --socket='$MUNGE_SOCKET' | unmunge --socket='$MUNGE_SOCKET'"

# MariaDB: the accounting database, private datadir, TCP on 127.0.0.1 only.
MYSQL_SOCKET="$STATE/run/mysqld.sock"
if [ ! -d "$STATE/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$STATE/mysql" \
        --auth-root-authentication-method=socket --skip-test-db >"$STATE/log/mariadb-install.out" 2>&1 ||
        fail "mariadb-install-db failed"
fi
start mariadbd mariadbd --no-defaults --user=root --datadir="$STATE/mysql" \
    --socket="$MYSQL_SOCKET" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
    --pid-file="$STATE/run/mariadbd.pid" --log-error="$STATE/log/mariadbd.log" \
    --skip-log-bin --innodb-buffer-pool-size=64M --skip-name-resolve
wait_for 60 mariadbd mariadb --no-defaults --socket="$MYSQL_SOCKET" -uroot -e 'SELECT 1'
mariadb --no-defaults --socket="$MYSQL_SOCKET" -uroot <<EOF || fail "could not create the slurm database user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF

# slurmdbd, then register the cluster so slurmctld's jobs are recorded from the start.
start slurmdbd slurmdbd -D
wait_for 60 slurmdbd sacctmgr -n list cluster
timeout 30 sacctmgr -i add cluster mist >/dev/null 2>&1 || true
timeout 30 sacctmgr -n -P list cluster format=cluster | grep -qx mist || fail "cluster 'mist' not in the accounting database"

start slurmctld slurmctld -D -f "$SLURM_CONF"
wait_for 30 slurmctld scontrol ping
start slurmd slurmd -D -f "$SLURM_CONF" -N "$HOST"

# Until the node is idle (it comes up from UNKNOWN; ReturnToService=2 lets a restarted
# node back in).
for ((i = 0; i < 240; i++)); do
    alive slurmd || fail "slurmd exited"
    state=$(timeout 10 sinfo -h -n "$HOST" -p cpu -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    case "$state" in drain* | down*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;; esac
    sleep 0.25
done
[ "$state" = idle ] || fail "node $HOST is '${state:-unknown}', not idle, after 60 s"

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
say "up in ${elapsed} s: node $HOST ($CPUS CPUs, $MEM MB, $GPUS stand-in GPUs), partitions cpu, gpu; accounting via slurmdbd"
say "SLURM commands find the configuration through /run/slurm/conf (or: export SLURM_CONF=$SLURM_CONF)"
