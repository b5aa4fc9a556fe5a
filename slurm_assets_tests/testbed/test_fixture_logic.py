"""Protects the parts of the `slurm_testbed` fixture that decide without SLURM: skip vs fail under CI,
when a testbed counts as running (stale PID files after a killed session must not be trusted), and the
object built from state.json (the captured one in fixtures/)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest

from slurm_assets_tests import conftest
from slurm_assets_tests.testbed import jobmix

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def own_comm() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        ("true", pytest.fail.Exception),  # CI must not silently skip the live tests
        ("", pytest.skip.Exception),  # a developer machine without root skips with the reason
        ("false", pytest.skip.Exception),
    ],
)
def test_cannot_run_skips_except_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="needs root"):
        conftest.skip_or_fail("the SLURM testbed starts system daemons and needs root (uid is 1000)")


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("pid_text", "name", "running"),
    [
        ("{own}", "{comm}", True),  # live process with the expected name
        ("{own}", "slurmctld", False),  # PID reused by another program after the testbed was killed
        ("999999999", "slurmctld", False),  # no such process
        ("not-a-pid", "slurmctld", False),  # garbage in the pid file
        (None, "slurmctld", False),  # no pid file
    ],
)
def test_daemon_running_trusts_only_live_pids_with_the_daemon_name(tmp_path, pid_text, name, running):
    name = name.format(comm=own_comm())
    (tmp_path / "run").mkdir()
    if pid_text is not None:
        (tmp_path / "run" / f"{name}.pid").write_text(pid_text.format(own=os.getpid()) + "\n")
    assert conftest.daemon_running(tmp_path, name) is running


def test_no_state_file_means_no_reusable_testbed(tmp_path):
    assert conftest.read_state(tmp_path) is None


def test_state_with_dead_daemons_is_not_reused(tmp_path):
    (tmp_path / "state.json").write_text((FIXTURES / "testbed_state_22.05_alpha.json").read_text())
    (tmp_path / "run").mkdir()
    for name in conftest.TESTBED_DAEMONS:
        (tmp_path / "run" / f"{name}.pid").write_text("999999999\n")
    assert conftest.read_state(tmp_path) is None


def test_testbed_object_from_captured_state():
    state = json.loads((FIXTURES / "testbed_state_22.05_alpha.json").read_text())
    tb = conftest.testbed_from_state(state, Path("/var/lib/slurm-testbed"), conftest.session_env())
    assert tb.cluster == "alpha"
    assert tb.start == dt.datetime(2026, 11, 25, 17, 37, 24, tzinfo=dt.UTC)
    assert tb.env["TZ"] == "UTC"
    assert (tb.ssh_host, tb.ssh_port, tb.ssh_user) == ("127.0.0.1", 2222, "alice")
    assert tb.job_ids["timeout"] == "1" and tb.job_ids["array"] == "12"
    assert tb.expected_final_states["timeout"] == "TIMEOUT"


def test_job_mix_names_are_consistent():
    names = [name for name, *_ in jobmix.MIX] + [jobmix.DEPENDENT[0]]
    assert len(names) == len(set(names))
    assert set(jobmix.EXPECTED_FINAL) <= set(names)
    assert names[0] == "timeout"  # the long pole is submitted first


def test_session_keeps_the_environment_it_started_with(monkeypatch, tmp_path):
    # The start thread runs while other tests put fake sacct/scontrol first on PATH; a testbed check
    # with the fake scontrol once made a session restart (and so wipe) a healthy testbed.
    session = conftest.TestbedSession(tmp_path)
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"/tmp/fake-bin{os.pathsep}{real_path}")
    assert session.env["PATH"] == real_path
    assert session.env["TZ"] == "UTC"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the reasons below are the Linux ones")
def test_reasons_the_machine_cannot_run_the_testbed(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root (uid is 1000)" in conftest.why_testbed_cannot_run()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(conftest.shutil, "which", lambda *args, **kwargs: None)  # no SLURM, no apt-get
    reason = conftest.why_testbed_cannot_run()
    assert "SLURM binaries missing (sbatch, sacct" in reason and "no apt-get" in reason
