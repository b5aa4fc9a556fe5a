#!/usr/bin/env bash
# Start a one-host SLURM 22.05 cluster "alpha" on loopback for the tests:
# munged -> mariadbd -> slurmdbd -> sacctmgr (cluster, QOS, accounts, users) -> slurmctld -> slurmd.
# Needs root. Installs the Debian packages only when they are missing. Every daemon this script
# starts leaves its PID in $SLURM_TESTBED_DIR/run/<name>.pid; stop-cluster.sh stops exactly those.
# Each run starts from an empty accounting DB and an empty StateSaveLocation, so job ids start at 1.
# Why each setting: see README.md here and the comments below.
set -euo pipefail

TB="${SLURM_TESTBED_DIR:-/var/lib/slurm-testbed}"
CLUSTER="${SLURM_TESTBED_CLUSTER:-alpha}"
HOST="$(hostname -s)"
DB_PASS="slurm-testbed"
export TZ=UTC

log() { printf '[start-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it starts system daemons); current uid $(id -u)"

# wait_for SECONDS WHAT CMD...: poll CMD every 0.3 s until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die "$what not ready after ${limit}s; see the logs in $TB/log/"
    fi
    sleep 0.3
  done
}

# daemon_running NAME: the pid file names a live process that is still NAME (PIDs get reused).
daemon_running() { [ -s "$TB/run/$1.pid" ] && [ "$(cat "/proc/$(cat "$TB/run/$1.pid")/comm" 2>/dev/null)" = "$1" ]; }

# ---- packages -------------------------------------------------------------------------------
PKGS=(slurm-wlm slurmdbd mariadb-server munge openssh-server)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "packages missing (${missing[*]}) and no apt-get to install them"
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- refuse to clobber a running cluster ------------------------------------------------------
if daemon_running slurmctld; then
  die "a testbed slurmctld is already running (pid $(cat "$TB/run/slurmctld.pid")); run stop-cluster.sh first"
fi
for f in slurm.conf slurmdbd.conf cgroup.conf gres.conf; do
  if [ -e "/etc/slurm/$f" ] && [ "$(readlink "/etc/slurm/$f" || true)" != "$TB/etc/$f" ]; then
    die "/etc/slurm/$f exists and is not the testbed's symlink; this machine has its own SLURM config, refusing to replace it"
  fi
done

log "fresh testbed in $TB (cluster $CLUSTER, node $HOST)"
rm -rf "$TB/etc" "$TB/state" "$TB/spool" "$TB/log" "$TB/state.json"
mkdir -p "$TB/etc" "$TB/state" "$TB/spool" "$TB/log" "$TB/run"
chown slurm: "$TB/state" "$TB/log"
chmod 755 "$TB" "$TB/etc" "$TB/run"

# ---- configs --------------------------------------------------------------------------------
cat >"$TB/etc/slurm.conf" <<EOF
# Written by slurm_assets_tests/testbed/start-cluster.sh; one node on loopback.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$TB/state
SlurmdSpoolDir=$TB/spool
SlurmctldPidFile=$TB/run/slurmctld.pid
SlurmdPidFile=$TB/run/slurmd.pid
SlurmctldLogFile=$TB/log/slurmctld.log
SlurmdLogFile=$TB/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without DefMemPerCPU one job takes all the node's memory.
DefMemPerCPU=256
# Lets the node claim 16 CPUs on a 2-core machine.
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations,limits,qos
AccountingStorageTRES=gres/gpu,gres/gpu:a100,gres/gpu:v100
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
# Gives every job an .extern step, as on most real clusters.
PrologFlags=Contain
MailProg=/bin/true
KillWait=5
ReturnToService=2
# Backfill every 5 s so jobs submitted behind the pending -c 16 job of the mix start quickly.
SchedulerParameters=bf_interval=5
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=16 Sockets=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=16000 Gres=gpu:a100:2,gpu:v100:2 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=2-00:00:00 State=UP
PartitionName=debug Nodes=$HOST MaxTime=01:00:00 State=UP
EOF

cat >"$TB/etc/slurmdbd.conf" <<EOF
# Written by slurm_assets_tests/testbed/start-cluster.sh
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=6819
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
LogFile=$TB/log/slurmdbd.log
PidFile=$TB/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
# slurmdbd refuses a config not owned by SlurmUser or readable by others.
chown slurm: "$TB/etc/slurmdbd.conf"
chmod 600 "$TB/etc/slurmdbd.conf"

cat >"$TB/etc/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainDevices=no
EOF

cat >"$TB/etc/gres.conf" <<EOF
NodeName=$HOST Name=gpu Type=a100 File=/dev/nvidia[0-1]
NodeName=$HOST Name=gpu Type=v100 File=/dev/nvidia[2-3]
EOF

# Every SLURM client (sacct over ssh too) reads /etc/slurm; point it at the testbed.
mkdir -p /etc/slurm
for f in slurm.conf slurmdbd.conf cgroup.conf gres.conf; do
  ln -sfn "$TB/etc/$f" "/etc/slurm/$f"
done

# Fake GPUs: gres.conf needs device files; nothing opens them.
for n in 0 1 2 3; do
  [ -e "/dev/nvidia$n" ] || mknod "/dev/nvidia$n" c 195 "$n"
done

# ---- munge ----------------------------------------------------------------------------------
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running; reusing it"
else
  mkdir -p /run/munge && chown munge: /run/munge
  runuser -u munge -- /usr/sbin/munged --force
  wait_for 10 munged sh -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$TB/run/munged.pid"
fi

# ---- MariaDB --------------------------------------------------------------------------------
if mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  log "MariaDB already running; reusing it"
else
  mkdir -p /run/mysqld && chown mysql: /run/mysqld
  nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --innodb-buffer-pool-size=256M \
    --innodb-lock-wait-timeout=900 >"$TB/log/mariadbd.log" 2>&1 </dev/null &
  echo $! >"$TB/run/mariadbd.pid"
  wait_for 60 MariaDB mariadb -uroot -e 'SELECT 1'
fi
mariadb -uroot <<EOF
DROP DATABASE IF EXISTS slurm_acct_db;
CREATE DATABASE slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF

# ---- slurmdbd + accounting objects ----------------------------------------------------------
/usr/sbin/slurmdbd
wait_for 60 slurmdbd sacctmgr -n show cluster
daemon_running slurmdbd || die "slurmdbd exited; see $TB/log/slurmdbd.log"

for u in alice bob carol; do
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
  # useradd leaves the account locked ('!'), and sshd refuses locked accounts even for keys.
  usermod -p '*' "$u"
done

sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add qos high Priority=100 >/dev/null
sacctmgr -i add qos low Priority=0 UsageFactor=0.5 >/dev/null
sacctmgr -i add account physics Description=physics Organization=science cluster="$CLUSTER" >/dev/null
sacctmgr -i add account chemistry Description=chemistry Organization=science cluster="$CLUSTER" >/dev/null
sacctmgr -i add account bio Description=biology Organization=life cluster="$CLUSTER" >/dev/null
# Users inherit the account's QOS list ('modify user ... set qos' fails on 22.05).
sacctmgr -i modify account where name=physics,chemistry,bio cluster="$CLUSTER" \
  set qos=normal,high,low defaultqos=normal >/dev/null
sacctmgr -i add user alice account=physics,chemistry defaultaccount=physics cluster="$CLUSTER" >/dev/null
sacctmgr -i add user bob account=chemistry defaultaccount=chemistry cluster="$CLUSTER" >/dev/null
sacctmgr -i add user carol account=bio,physics defaultaccount=bio cluster="$CLUSTER" >/dev/null

# ---- slurmctld + slurmd ---------------------------------------------------------------------
/usr/sbin/slurmctld
wait_for 30 slurmctld scontrol ping
/usr/sbin/slurmd -N "$HOST"
wait_for 30 "node $HOST" sh -c "sinfo -h -n '$HOST' -o %T | grep -qx idle"
daemon_running slurmd || die "slurmd exited; see $TB/log/slurmd.log"
log "cluster $CLUSTER up"
