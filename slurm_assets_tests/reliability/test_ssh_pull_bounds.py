"""Protects issue 8 "SSH pull: timeouts bounded" (host key and remote-failure cases live in
slurm_assets_tests/pull/test_ssh.py): a server that accepts TCP but never speaks SSH fails within
connect_timeout_s, and a remote agent whose sacct hangs fails within command_timeout_s. Whether the
remote processes outlive the abandoned pull is recorded.
"""

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from slurm_assets.pull.clusters import ClusterConfig
from slurm_assets.pull.ssh import PullError, connect, pull_cluster
from slurm_assets.storage import landing
from slurm_assets_tests.reliability.conftest import AGENT_FILE, free_port


def bounded(call, limit_s: float) -> tuple[BaseException | None, float, bool]:
    """Run ``call`` in a thread; (its exception, seconds taken, still running after ``limit_s``)."""
    box: dict = {}

    def target():
        try:
            call()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            box["err"] = err

    began = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    return box.get("err"), time.monotonic() - began, thread.is_alive()


def test_silent_server_fails_within_connect_timeout(tmp_path, figures):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(8)  # accepts (kernel backlog), never sends an SSH banner
    key = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(key))
    (tmp_path / "known_hosts").write_text("")
    cfg = ClusterConfig(
        name="silent",
        mode="ssh",
        host="127.0.0.1",
        port=listener.getsockname()[1],
        user="x",
        key_path=str(key),
        known_hosts=str(tmp_path / "known_hosts"),
        connect_timeout_s=2,
        command_timeout_s=5,
    )
    try:
        err, took, hung = bounded(lambda: connect(cfg).close(), 60)
    finally:
        listener.close()
    figures.record(
        "SSH pull: server accepts TCP but never speaks SSH",
        "connect_timeout_s=2",
        f"{type(err).__name__ if err else 'no error'} after {took:.1f} s: {str(err).split(' (host keys')[0][:120]}",
        lost=None,
        duplicates=None,
    )
    assert not hung, "connect() still blocked after 60 s"
    assert isinstance(err, PullError) and "silent" in str(err)


def remote_processes(token: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if token.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.slurm_live
def test_hanging_remote_sacct_fails_within_command_timeout(slurm_testbed, tmp_path, figures):
    token = f"hang-{uuid.uuid4().hex[:10]}"
    nap = f"299.{uuid.uuid4().int % 10**9:09d}"  # a sleep argument no other process has
    script = Path("/tmp") / f"reliability-{token}.sh"  # the testbed's sshd runs on this machine
    script.write_text(f"#!/bin/sh\nexec sleep {nap}\n")
    script.chmod(0o755)
    cfg = ClusterConfig(
        name=slurm_testbed.cluster,
        mode="ssh",
        host=slurm_testbed.ssh_host,
        port=slurm_testbed.ssh_port,
        user=slurm_testbed.ssh_user,
        key_path=str(slurm_testbed.ssh_key_path),
        known_hosts=str(slurm_testbed.known_hosts_path),
        sacct=str(script),
        connect_timeout_s=10,
        command_timeout_s=5,
    )
    day = slurm_testbed.start.date().isoformat()
    try:
        err, took, hung = bounded(lambda: pull_cluster(cfg, AGENT_FILE.read_bytes(), day, day, tmp_path), 120)
        time.sleep(2)
        lingering = remote_processes(f"reliability-{token}") + remote_processes(nap)
    finally:
        # Only the processes this test started: the remote agent (its argv names the script) and the sleep.
        for pid in remote_processes(f"reliability-{token}") + remote_processes(nap):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        script.unlink(missing_ok=True)
    figures.record(
        "SSH pull: remote sacct hangs",
        "command_timeout_s=5, remote sacct sleeps 300 s",
        f"{type(err).__name__ if err else 'no error'} after {took:.1f} s; nothing landed; "
        f"{len(lingering)} remote process(es) (agent, sacct) still running 2 s after the pull gave up",
        lost=None,
        duplicates=None,
    )
    assert not hung
    assert isinstance(err, PullError) and "did not finish within 5 s" in str(err)
    assert landing.list_drops(tmp_path) == []
