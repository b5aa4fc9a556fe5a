"""Run the agent on a login node over SSH (paramiko) and land the drops it prints (DESIGN.md "The data path").

The agent file is piped to ``python3 -`` on the remote host with ``--no-config
--stdout``, so pull mode uses the same extraction code and drop format as push
and drop mode. Host keys are verified against the configured known_hosts file;
an unknown host key is refused unless the cluster sets ``allow_unknown_host_key``,
and a changed host key is always refused. ``allow_unknown_host_key`` is trust on first
use: the first key seen is recorded in ``DATA_DIR/state/ssh_known_hosts`` and every later
connection must present that key (before, nothing was recorded and every key was accepted).
"""

import fcntl
import io
import logging
import os
import select
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from slurm_assets.pull.clusters import ClusterConfig
from slurm_assets.storage import landing, paths

MAX_TEXT_BYTES = 4 * 1024 * 1024 * 1024
TOFU_FILE = "ssh_known_hosts"  # under DATA_DIR/state/: host keys recorded on first use
log = logging.getLogger(__name__)


class PullError(RuntimeError):
    """SSH pull failed: the message names the cluster, host and remote stderr or the SSH error."""


@dataclass(frozen=True)
class LandedDrop:
    drop_id: str
    day: str
    duplicate: bool
    rows: int


# coreutils timeout: 124 when the command timed out, 137 when it had to be killed (-k).
REMOTE_TIMEOUT_STATUSES = (124, 137)


def agent_command(cfg: ClusterConfig, start_date: str, end_date: str) -> str:
    """The remote shell command: the agent read from stdin, one UTC day range, drops on stdout.

    coreutils ``timeout`` ends the remote agent (and its sacct) when our own wait
    gives up, so a hung pull does not leave work running on the login node.
    """
    argv = [
        "timeout",
        "-k",
        "10",
        str(max(1, int(cfg.command_timeout_s))),
        cfg.remote_python,
        "-",
        "--no-config",
        "--stdout",
        "--cluster",
        cfg.name,
        "--start-date",
        start_date,
        "--end-date",
        end_date,
    ]
    if cfg.sacct:
        argv += ["--sacct", cfg.sacct]
    return shlex.join(argv)


def tofu_path(data_dir: Path) -> Path:
    """``DATA_DIR/state/ssh_known_hosts``; on local disk for an ``s3://`` root (``paths.local_dir``: per host)."""
    return paths.local_dir(data_dir) / "state" / TOFU_FILE


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Record an unknown host's key in ``path`` (known_hosts format), once; a different key recorded meanwhile is refused.

    Under an exclusive lock on the file, so two pulls meeting a new host at once record one key.
    """

    def __init__(self, path: Path, cluster: str):
        self.path, self.cluster = path, cluster

    def missing_host_key(self, client, hostname, key):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            known = paramiko.HostKeys(str(self.path))
            recorded = known.lookup(hostname)
            if recorded is not None:
                if recorded.get(key.get_name()) == key:
                    return
                raise paramiko.BadHostKeyException(hostname, key, next(iter(recorded.values())))
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.warning(
            "cluster %s: trusting %s's host key %s %s on first use (recorded in %s)",
            self.cluster,
            hostname,
            key.get_name(),
            key.fingerprint,
            self.path,
        )


def connect(cfg: ClusterConfig, data_dir: Path | None = None) -> paramiko.SSHClient:
    """An SSH client logged in with the cluster's key, the host key checked against its known_hosts file.

    With ``allow_unknown_host_key`` the keys recorded on first use (``tofu_path(data_dir)``) count too,
    and an unknown key is recorded there.
    """
    client = paramiko.SSHClient()
    try:
        client.load_system_host_keys(cfg.known_hosts)  # read only: never written back
    except OSError as err:
        raise PullError(f"cluster {cfg.name}: cannot read known_hosts {cfg.known_hosts}: {err}") from err
    checked = cfg.known_hosts
    # RejectPolicy: a host not in known_hosts is refused; allowing it must be an explicit choice.
    policy: paramiko.MissingHostKeyPolicy = paramiko.RejectPolicy()
    if cfg.allow_unknown_host_key:
        if data_dir is None:
            raise PullError(f"cluster {cfg.name}: allow_unknown_host_key needs the data dir to record the key")
        trusted = tofu_path(data_dir)
        if trusted.exists():
            client.get_host_keys().load(str(trusted))
        policy, checked = TrustOnFirstUse(trusted, cfg.name), f"{cfg.known_hosts} and {trusted}"
    client.set_missing_host_key_policy(policy)
    try:
        client.connect(
            cfg.host,
            port=cfg.port,
            username=cfg.user,
            key_filename=cfg.key_path,
            look_for_keys=False,
            allow_agent=False,
            timeout=cfg.connect_timeout_s,
            banner_timeout=cfg.connect_timeout_s,
            auth_timeout=cfg.connect_timeout_s,
        )
    except paramiko.BadHostKeyException as err:
        client.close()
        raise PullError(
            f"cluster {cfg.name}: host key of {cfg.host}:{cfg.port} does not match {checked} "
            f"(got {err.key.get_name()} {err.key.get_base64()[:16]}...); refusing to connect. If the host "
            "was really re-keyed, verify the new key and replace the old line"
        ) from err
    except paramiko.SSHException as err:
        client.close()
        raise PullError(
            f"cluster {cfg.name}: SSH to {cfg.user}@{cfg.host}:{cfg.port} failed: {err} "
            f"(host keys from {checked}; add the host key there or set allow_unknown_host_key)"
        ) from err
    except OSError as err:
        client.close()
        raise PullError(f"cluster {cfg.name}: cannot reach {cfg.host}:{cfg.port}: {err}") from err
    return client


def run_remote(
    client: paramiko.SSHClient, command: str, stdin_data: bytes, timeout_s: float
) -> tuple[int, bytes, bytes]:
    """Run ``command``, feed ``stdin_data``, return ``(exit status, stdout, stderr)``; PullError on timeout."""
    chan = client.get_transport().open_session(timeout=timeout_s)
    try:
        chan.settimeout(timeout_s)
        chan.exec_command(command)
        chan.sendall(stdin_data)
        chan.shutdown_write()
        out, err = io.BytesIO(), io.BytesIO()
        deadline = time.monotonic() + timeout_s
        while True:
            if chan.recv_ready():
                out.write(chan.recv(1 << 16))
            elif chan.recv_stderr_ready():
                err.write(chan.recv_stderr(1 << 16))
            elif chan.exit_status_ready() and chan.eof_received:
                break
            elif time.monotonic() > deadline:
                raise PullError(f"remote command did not finish within {timeout_s:.0f} s: {command}")
            else:
                select.select([chan], [], [], 0.5)
        return chan.recv_exit_status(), out.getvalue(), err.getvalue()
    finally:
        chan.close()


def land_stream(data_dir: Path, stream: bytes, cluster: str) -> list[LandedDrop]:
    """Verify each drop of an agent ``--stdout`` stream (sha256, rows, cluster) and store it in the landing zone."""
    landed = []
    for manifest, gz in landing.iter_drop_stream(io.BytesIO(stream)):
        where = f"drop for {manifest['cluster']} {manifest['day']}"
        if manifest["cluster"] != cluster:
            raise landing.DropFormatError(f"{where}: pulled from cluster {cluster!r} but names {manifest['cluster']!r}")
        digest = landing.digest_gzip_text(io.BytesIO(gz), MAX_TEXT_BYTES)
        if digest.sha256 != manifest["sha256"] or digest.rows != manifest["rows"]:
            raise landing.DropFormatError(
                f"{where}: text has sha256 {digest.sha256[:16]}/{digest.rows} rows, manifest says "
                f"{manifest['sha256'][:16]}/{manifest['rows']} rows (corrupted transfer?)"
            )
        drop_id, duplicate = landing.store_drop(data_dir, manifest, gz)
        landed.append(LandedDrop(drop_id, manifest["day"], duplicate, manifest["rows"]))
    return landed


def pull_cluster(
    cfg: ClusterConfig, agent_source: bytes, start_date: str, end_date: str, data_dir: Path
) -> list[LandedDrop]:
    """Run the agent on ``cfg``'s login node for the inclusive UTC day range and land its drops."""
    client = connect(cfg, data_dir)
    try:
        status, out, err = run_remote(
            client, agent_command(cfg, start_date, end_date), agent_source, cfg.command_timeout_s
        )
    except (paramiko.SSHException, OSError) as exc:
        raise PullError(f"cluster {cfg.name}: SSH session to {cfg.host}:{cfg.port} failed: {exc}") from exc
    finally:
        client.close()
    if status in REMOTE_TIMEOUT_STATUSES:
        raise PullError(
            f"cluster {cfg.name}: remote command did not finish within {cfg.command_timeout_s:.0f} s on {cfg.host} "
            f"for {start_date}..{end_date} (ended by timeout, exit {status}); raise command_timeout_s or check "
            f"sacct/slurmdbd there; remote stderr: {err.decode('utf-8', 'replace').strip()[-2000:]}"
        )
    if status != 0:
        raise PullError(
            f"cluster {cfg.name}: agent on {cfg.host} exited {status} for {start_date}..{end_date}; "
            f"remote stderr: {err.decode('utf-8', 'replace').strip()[-2000:]}"
        )
    return land_stream(data_dir, out, cfg.name)
