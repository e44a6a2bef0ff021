#!/usr/bin/env bash
# Stop the cluster started by slurm_up.sh: cancel its jobs, then stop exactly the daemons
# whose PIDs slurm_up.sh recorded in STATE_DIR/pids (newest first), nothing else.
#
#   sudo bash tests/cluster/slurm_down.sh [STATE_DIR] [--purge]   # default /tmp/mist-slurm
#
# --purge also deletes STATE_DIR (configuration, database, logs). Safe to run twice.
set -euo pipefail

STATE=${MIST_SLURM_STATE:-/tmp/mist-slurm}
PURGE=0
for arg in "$@"; do
    case "$arg" in
    --purge) PURGE=1 ;;
    *) STATE=$arg ;;
    esac
done
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac
PIDS="$STATE/pids"
export SLURM_CONF="$STATE/etc/slurm.conf"

say() { echo "slurm_down: $*"; }

# the recorded process, if it is still the daemon that was started (not a reused PID)
recorded() {
    local f="$PIDS/$1.pid" pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1" || return 1
    echo "$pid"
}

if [ ! -d "$PIDS" ]; then
    say "nothing recorded in $PIDS; nothing to stop"
else
    if recorded slurmctld >/dev/null && [ -f "$SLURM_CONF" ]; then
        jobs=$(timeout 10 squeue -h -o '%A' 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            say "cancelling jobs: $(echo $jobs)"
            # shellcheck disable=SC2086
            timeout 10 scancel $jobs 2>/dev/null || true
            for _ in $(seq 1 40); do
                [ -z "$(timeout 10 squeue -h -o '%A' 2>/dev/null || true)" ] && break
                sleep 0.25
            done
        fi
    fi
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        if pid=$(recorded "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 80); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.25
            done
            if kill -0 "$pid" 2>/dev/null; then
                say "$name ($pid) did not stop within 20 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            say "stopped $name ($pid)"
        fi
        rm -f "$PIDS/$name.pid"
    done
fi

# The configuration link slurmd made (configless mode), if it points into STATE_DIR.
if [ -L /run/slurm/conf ] && case "$(readlink /run/slurm/conf)" in "$STATE"/*) true ;; *) false ;; esac then
    rm -f /run/slurm/conf
    rmdir /run/slurm 2>/dev/null || true
fi

if [ "$PURGE" = 1 ]; then
    rm -rf "$STATE"
    say "removed $STATE"
fi
