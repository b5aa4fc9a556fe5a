"""Protects pull mode against the testbed's real sshd: the agent piped over SSH lands the same drop as drop
mode for the same window; a changed or unknown host key is refused; a remote failure carries its stderr."""

import gzip
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm_assets.pull.clusters import ClusterConfig
from slurm_assets.pull.ssh import PullError, agent_command, connect, pull_cluster
from slurm_assets.storage import landing

AGENT = Path(__file__).resolve().parents[2] / "agent" / "slurm-usage-history-exporter.py"


def test_agent_command_quotes_everything():
    cfg = ClusterConfig(
        name="alpha", mode="ssh", remote_python="/opt/py 3/bin/python3", sacct="/usr/bin/sacct", command_timeout_s=300
    )
    # The remote side is bounded too: coreutils timeout ends the agent when our wait gives up.
    assert agent_command(cfg, "2024-05-01", "2024-05-02") == (
        "timeout -k 10 300 '/opt/py 3/bin/python3' - --no-config --stdout --cluster alpha --start-date 2024-05-01 "
        "--end-date 2024-05-02 --sacct /usr/bin/sacct"
    )


def ssh_config(tb, **overrides) -> ClusterConfig:
    values = {
        "name": tb.cluster,
        "mode": "ssh",
        "host": tb.ssh_host,
        "port": tb.ssh_port,
        "user": tb.ssh_user,
        "key_path": str(tb.ssh_key_path),
        "known_hosts": str(tb.known_hosts_path),
        "connect_timeout_s": 10,
        "command_timeout_s": 120,
    }
    return ClusterConfig(**{**values, **overrides})


def finished_lines(ref: landing.DropRef) -> list[str]:
    """Lines of a drop's text that cannot change between two collections (running jobs' Elapsed does)."""
    text = gzip.decompress(ref.data_path.read_bytes()).decode()
    return [line for line in text.splitlines() if "|Unknown|" not in line and "RUNNING" not in line]


def collect_both(tb, day: str, root: Path) -> tuple[landing.DropRef, landing.DropRef]:
    """One drop-mode collection, then one SSH pull, of the same window into separate landing zones."""
    subprocess.run(
        [
            sys.executable,
            str(AGENT),
            "--no-config",
            "--cluster",
            tb.cluster,
            "--start-date",
            day,
            "--end-date",
            day,
            "--output-dir",
            str(root / "drop" / "landing"),
        ],
        env=tb.env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    pulled = pull_cluster(ssh_config(tb), AGENT.read_bytes(), day, day, root / "pull")
    assert [d.day for d in pulled] == [day]
    (via_drop,), (via_ssh,) = landing.list_drops(root / "drop"), landing.list_drops(root / "pull")
    return via_drop, via_ssh


@pytest.mark.slurm_live
def test_pull_lands_the_same_drop_as_drop_mode(slurm_testbed, tmp_path):
    day = slurm_testbed.start.date().isoformat()
    # Jobs of the testbed mix may still be finishing (slurmdbd updates a job after it ends), so
    # collect until two back-to-back collections of the final records agree, a few rounds at most.
    for attempt in range(4):
        via_drop, via_ssh = collect_both(slurm_testbed, day, tmp_path / str(attempt))
        if finished_lines(via_ssh) == finished_lines(via_drop):
            break
        time.sleep(5)
    if via_ssh.drop_id == via_drop.drop_id:  # nothing was running: byte-identical drops
        assert via_ssh.data_path.read_bytes() == via_drop.data_path.read_bytes()
    assert finished_lines(via_ssh) == finished_lines(via_drop)
    assert via_ssh.manifest()["fields"] == via_drop.manifest()["fields"]
    assert via_ssh.manifest()["rows"] > 0


@pytest.mark.slurm_live
def test_changed_host_key_is_refused(slurm_testbed, tmp_path):
    import paramiko

    wrong = tmp_path / "known_hosts"
    key = paramiko.Ed25519Key.from_private_key_file(str(slurm_testbed.ssh_key_path))  # not the sshd's key
    wrong.write_text(f"[{slurm_testbed.ssh_host}]:{slurm_testbed.ssh_port} {key.get_name()} {key.get_base64()}\n")
    with pytest.raises(PullError, match="does not match"):
        connect(ssh_config(slurm_testbed, known_hosts=str(wrong)))
    # even an operator who allows unknown keys never accepts a changed one
    with pytest.raises(PullError, match="does not match"):
        connect(ssh_config(slurm_testbed, known_hosts=str(wrong), allow_unknown_host_key=True), tmp_path)


@pytest.mark.slurm_live
def test_unknown_host_key_is_refused_unless_allowed(slurm_testbed, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(PullError, match="not found in known_hosts"):
        connect(ssh_config(slurm_testbed, known_hosts=str(empty)))
    connect(ssh_config(slurm_testbed, known_hosts=str(empty), allow_unknown_host_key=True), tmp_path).close()


@pytest.mark.slurm_live
def test_allow_unknown_host_key_is_trust_on_first_use(slurm_testbed, tmp_path):
    # Issue 18: allow_unknown_host_key never recorded the key, so every later key was accepted too.
    import paramiko

    from slurm_assets.pull.ssh import tofu_path

    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cfg = ssh_config(slurm_testbed, known_hosts=str(empty), allow_unknown_host_key=True)
    with pytest.raises(PullError, match="needs the data dir"):
        connect(cfg)
    connect(cfg, tmp_path).close()
    trusted = tofu_path(tmp_path)
    (line,) = trusted.read_text().splitlines()
    assert line.startswith(f"[{slurm_testbed.ssh_host}]:{slurm_testbed.ssh_port} ")
    connect(cfg, tmp_path).close()  # the same key again: accepted, nothing added
    assert trusted.read_text().splitlines() == [line]
    assert empty.read_text() == ""  # the operator's file is never written
    # The host now presents another key (here: the recorded one is replaced): refused, even though unknown keys
    # are allowed.
    other = paramiko.Ed25519Key.from_private_key_file(str(slurm_testbed.ssh_key_path))
    host = line.split(" ", 1)[0]
    trusted.write_text(f"{host} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(PullError, match="does not match"):
        connect(cfg, tmp_path)


@pytest.mark.slurm_live
def test_remote_failure_raises_with_stderr(slurm_testbed, tmp_path):
    cfg = ssh_config(slurm_testbed, sacct="/nonexistent/sacct")
    day = slurm_testbed.start.date().isoformat()
    with pytest.raises(PullError, match=r"exited [1-9].*remote stderr: .*nonexistent"):
        pull_cluster(cfg, AGENT.read_bytes(), day, day, tmp_path)
    assert landing.list_drops(tmp_path) == []
