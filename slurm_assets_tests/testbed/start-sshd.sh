#!/usr/bin/env bash
# Start an sshd on 127.0.0.1:2222 for the SSH pull mode, with a generated client key for one user.
# Writes into $SLURM_TESTBED_DIR/ssh/: id_ed25519 (+.pub, the client key), known_hosts (the sshd's
# host keys for [127.0.0.1]:2222), sshd_config. PID in $SLURM_TESTBED_DIR/run/sshd.pid.
set -euo pipefail

TB="${SLURM_TESTBED_DIR:-/var/lib/slurm-testbed}"
USER_NAME="${SLURM_TESTBED_SSH_USER:-alice}"
PORT="${SLURM_TESTBED_SSH_PORT:-2222}"
log() { printf '[start-sshd %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root; current uid $(id -u)"
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd missing; run start-cluster.sh first (it installs openssh-server)"
id "$USER_NAME" >/dev/null 2>&1 || die "user $USER_NAME does not exist; run start-cluster.sh first"

if [ -s "$TB/run/sshd.pid" ] && [ "$(cat "/proc/$(cat "$TB/run/sshd.pid")/comm" 2>/dev/null)" = sshd ]; then
  log "sshd already running (pid $(cat "$TB/run/sshd.pid"))"
  exit 0
fi

mkdir -p "$TB/ssh" "$TB/run" "$TB/log" /run/sshd
chmod 700 "$TB/ssh"
ssh-keygen -A >/dev/null
[ -s "$TB/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "slurm-testbed-$USER_NAME" -f "$TB/ssh/id_ed25519"

home="$(getent passwd "$USER_NAME" | cut -d: -f6)"
group="$(id -gn "$USER_NAME")"
install -d -m 700 -o "$USER_NAME" -g "$group" "$home/.ssh"
install -m 600 -o "$USER_NAME" -g "$group" "$TB/ssh/id_ed25519.pub" "$home/.ssh/authorized_keys"
# sshd refuses accounts locked with '!' even for key logins.
usermod -p '*' "$USER_NAME"

: >"$TB/ssh/known_hosts.tmp"
for pub in /etc/ssh/ssh_host_*_key.pub; do
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$pub")" >>"$TB/ssh/known_hosts.tmp"
done
mv "$TB/ssh/known_hosts.tmp" "$TB/ssh/known_hosts"
chmod 644 "$TB/ssh/known_hosts"

cat >"$TB/ssh/sshd_config" <<EOF
# Written by slurm_assets_tests/testbed/start-sshd.sh
Port $PORT
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_rsa_key
PidFile $TB/run/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
EOF

/usr/sbin/sshd -f "$TB/ssh/sshd_config" -E "$TB/log/sshd.log"
for _ in $(seq 1 50); do
  [ -s "$TB/run/sshd.pid" ] && break
  sleep 0.1
done
[ -s "$TB/run/sshd.pid" ] || die "sshd did not start; see $TB/log/sshd.log"
log "sshd on 127.0.0.1:$PORT (pid $(cat "$TB/run/sshd.pid")), key $TB/ssh/id_ed25519 for $USER_NAME"
