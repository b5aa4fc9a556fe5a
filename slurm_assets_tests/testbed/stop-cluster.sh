#!/usr/bin/env bash
# Stop the testbed started by start-cluster.sh / start-sshd.sh: cancel every job, then SIGTERM each
# daemon by the PID in $SLURM_TESTBED_DIR/run/<name>.pid (only daemons the testbed started have one),
# then kill slurmstepd processes left behind (they outlive a stopped slurmd).
# Keeps the Unix users and the config files; removes state.json so nobody reuses a dead testbed.
set -uo pipefail

TB="${SLURM_TESTBED_DIR:-/var/lib/slurm-testbed}"
export TZ=UTC
log() { printf '[stop-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "ERROR: must run as root; current uid $(id -u)"; exit 1; }
rm -f "$TB/state.json"

pid_of() { [ -s "$TB/run/$1.pid" ] && cat "$TB/run/$1.pid"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

ctld="$(pid_of slurmctld || true)"
if alive "$ctld"; then
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

# stop_daemon NAME: SIGTERM, wait up to 20 s, then SIGKILL.
stop_daemon() {
  local name=$1 pid
  pid="$(pid_of "$name" || true)"
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then log "$name (pid $pid) ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$TB/run/$name.pid"
}

for d in sshd slurmd slurmctld slurmdbd mariadbd munged; do
  stop_daemon "$d"
done

for pid in $(pgrep -x slurmstepd || true); do
  log "killing leftover slurmstepd pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
done
exit 0
