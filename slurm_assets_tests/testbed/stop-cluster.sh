#!/usr/bin/env bash
# Stop the testbed started by start-cluster.sh / start-sshd.sh: cancel every job, then SIGTERM each
# daemon by the PID in $SLURM_TESTBED_DIR/run/<name>.pid (only daemons the testbed started have one,
# and a PID counts only while /proc/PID/comm still names that daemon: PIDs of a killed testbed get
# reused), then kill slurmstepd processes left behind (they outlive a stopped slurmd).
# Keeps the Unix users, configs and ssh keys; removes state.json so nobody reuses a dead testbed.
set -uo pipefail

TB="${SLURM_TESTBED_DIR:-/var/lib/slurm-testbed}"
export TZ=UTC
log() { printf '[stop-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "ERROR: must run as root; current uid $(id -u)"; exit 1; }
rm -f "$TB/state.json"

# daemon_pid NAME: the PID from NAME's pid file if that process is still NAME, else nothing.
daemon_pid() {
  local pid
  [ -s "$TB/run/$1.pid" ] || return 1
  pid="$(cat "$TB/run/$1.pid")"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

if daemon_pid slurmctld >/dev/null; then
  jobs="$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')"
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(squeue -h -t R,CG -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi

# stop_daemons NAME...: SIGTERM them together, wait up to 20 s, then SIGKILL what is left.
stop_daemons() {
  local name pid pids=()
  for name in "$@"; do
    if pid="$(daemon_pid "$name")"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && log "stopping $name (pid $pid)"
    fi
    rm -f "$TB/run/$name.pid"
  done
  for _ in $(seq 1 100); do
    local left=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ "${#left[@]}" -eq 0 ] && return 0
    sleep 0.2
  done
  for pid in "${left[@]}"; do log "pid $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null; done
}

# slurmctld before slurmdbd (it flushes job records to it), slurmdbd before MariaDB, munge last.
stop_daemons sshd slurmd slurmctld
stop_daemons slurmdbd
stop_daemons mariadbd munged

for pid in $(pgrep -x slurmstepd || true); do
  log "killing leftover slurmstepd pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
done
exit 0
