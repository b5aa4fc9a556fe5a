"""Session fixtures shared by every test folder: the live SLURM testbed (`slurm_testbed`).

Tests that query real SLURM are marked ``@pytest.mark.slurm_live`` and use ``slurm_testbed``. The fixture
reuses a testbed that is already running (``$SLURM_TESTBED_DIR/state.json`` present and its daemons
alive), so every engineer's test run on one machine shares one machine-wide testbed. Otherwise it starts
one with the scripts in ``slurm_assets_tests/testbed/`` (about 1.5 min, mostly waiting for the mix's
TIMEOUT job); the start begins in a background thread as soon as collection finds a ``slurm_live`` test,
and the live tests are moved to the end of the run, so the other tests run meanwhile. A testbed started by this session is stopped when the session ends, unless
``SLURM_TESTBED_KEEP=1`` or another process holds the shared lock ``<dir>.users.lock`` (every pytest
session using the testbed holds it; ``flock -s /var/lib/slurm-testbed.users.lock sleep 1d`` keeps it
up for development). Where the machine cannot run SLURM (not root, or no SLURM binaries and no apt-get
to install them) such tests are skipped with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from slurm_assets_tests import postgres as pg
from slurm_assets_tests import s3
from slurm_assets_tests.testbed.jobmix import MIX_VERSION

TESTBED_SCRIPTS = Path(__file__).resolve().parent / "testbed"
SLURM_BINARIES = (
    "sbatch",
    "sacct",
    "sacctmgr",
    "scontrol",
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "munged",
    "mariadbd",
    "sshd",
)
# Daemons whose PID files the scripts write; all must be alive for a testbed to be reused.
TESTBED_DAEMONS = ("mariadbd", "slurmctld", "slurmd", "slurmdbd", "sshd")
START_TIMEOUT_S = 300
SUBMIT_TIMEOUT_S = 420


@dataclass(frozen=True)
class SlurmTestbed:
    """A running one-node SLURM cluster on loopback with a submitted job mix (see testbed/jobmix.py)."""

    cluster: str
    env: dict[str, str]
    start: dt.datetime
    users: list[str]
    accounts: list[str]
    partitions: list[str]
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key_path: Path
    known_hosts_path: Path
    job_ids: dict[str, str]
    state_dir: Path
    expected_final_states: dict[str, str] = field(default_factory=dict)

    def sacct(self, *args: str) -> str:
        """Run ``sacct *args`` with TZ=UTC and return its stdout; raise with sacct's stderr on failure."""
        proc = subprocess.run(["sacct", *args], check=False, env=self.env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"sacct {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout


def testbed_dir() -> Path:
    return Path(os.environ.get("SLURM_TESTBED_DIR", "/var/lib/slurm-testbed"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def keep_testbed() -> bool:
    return os.environ.get("SLURM_TESTBED_KEEP", "") == "1"


def why_testbed_cannot_run() -> str | None:
    """The reason this machine cannot start the SLURM testbed, or None when it can."""
    if sys.platform != "linux":
        return f"the SLURM testbed needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"the SLURM testbed starts system daemons and needs root (uid is {os.geteuid()})"
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [b for b in SLURM_BINARIES if not shutil.which(b, path=path)]
    if missing and not shutil.which("apt-get"):
        return f"SLURM binaries missing ({', '.join(missing)}) and no apt-get to install them"
    return None


def skip_or_fail(reason: str, what: str = "the SLURM testbed") -> None:
    """Skip with ``reason`` where the machine cannot run ``what``; under ``CI=true`` that is a failure."""
    if in_ci():
        pytest.fail(f"CI=true but {what} cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def daemon_running(state_dir: Path, name: str) -> bool:
    """True when run/<name>.pid names a live process that is still `name` (PIDs of a killed testbed get reused)."""
    try:
        pid = int((state_dir / "run" / f"{name}.pid").read_text().strip())
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except (OSError, ValueError):
        return False


def session_env() -> dict[str, str]:
    """os.environ + TZ=UTC, as it is now (callers snapshot it before tests can monkeypatch PATH)."""
    return dict(os.environ, TZ="UTC")


def read_state(state_dir: Path, env: dict[str, str] | None = None) -> dict | None:
    """The testbed's state.json when it exists and every testbed daemon is alive, else None."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if state.get("mix_version", 1) != MIX_VERSION:  # started by an older job mix: restart it
        return None
    if not all(daemon_running(state_dir, d) for d in TESTBED_DAEMONS):
        return None
    ping = subprocess.run(
        ["scontrol", "ping"], check=False, capture_output=True, text=True, timeout=30, env=env or session_env()
    )
    return state if ping.returncode == 0 and "UP" in ping.stdout else None


def _run_script(argv: list[str], timeout_s: int, env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout_s}s; see {testbed_dir()}/log/") from err
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{tail}")


def start_testbed(env: dict[str, str]) -> None:
    """Stop leftovers, start the cluster and sshd, submit the job mix and wait until it is recorded."""
    stop_testbed(env)
    _run_script(["bash", str(TESTBED_SCRIPTS / "start-cluster.sh")], START_TIMEOUT_S, env)
    _run_script(["bash", str(TESTBED_SCRIPTS / "start-sshd.sh")], 60, env)
    _run_script([sys.executable, str(TESTBED_SCRIPTS / "jobmix.py")], SUBMIT_TIMEOUT_S, env)


def stop_testbed(env: dict[str, str]) -> None:
    _run_script(["bash", str(TESTBED_SCRIPTS / "stop-cluster.sh")], 120, env)


def testbed_from_state(state: dict, state_dir: Path, env: dict[str, str]) -> SlurmTestbed:
    return SlurmTestbed(
        cluster=state["cluster"],
        env=dict(env),
        start=dt.datetime.fromisoformat(state["start"]).astimezone(dt.UTC),
        users=list(state["users"]),
        accounts=list(state["accounts"]),
        partitions=list(state["partitions"]),
        ssh_host=state["ssh_host"],
        ssh_port=int(state["ssh_port"]),
        ssh_user=state["ssh_user"],
        ssh_key_path=Path(state["ssh_key_path"]),
        known_hosts_path=Path(state["known_hosts_path"]),
        job_ids=dict(state["job_ids"]),
        state_dir=state_dir,
        expected_final_states=dict(state.get("expected_final_states", {})),
    )


class TestbedSession:
    """This pytest session's use of the machine-wide testbed: reuse or start (in a thread), then release."""

    __test__ = False  # not a test class despite the name

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        # Snapshot at conftest import: tests monkeypatch PATH (fake sacct/scontrol) while the start
        # thread runs, and the testbed must only ever see the real binaries.
        self.env = session_env()
        self.started = False
        self.state: dict | None = None
        self.error: str | None = None
        self._users_lock: IO[str] | None = None
        self._thread: threading.Thread | None = None

    def _lock_path(self, kind: str) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.{kind}.lock"

    def begin(self) -> None:
        """Start reusing or starting the testbed in the background; idempotent."""
        if self._thread is not None:
            return
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        # Held (shared) for the whole session: the starter stops the testbed only if it can then
        # take it exclusively, i.e. no other session or development hold still uses the testbed.
        self._users_lock = open(self._lock_path("users"), "a")  # noqa: SIM115
        fcntl.flock(self._users_lock, fcntl.LOCK_SH)
        self._thread = threading.Thread(target=self._acquire, name="slurm-testbed-start", daemon=True)
        self._thread.start()

    def _acquire(self) -> None:
        try:
            with open(self._lock_path("start"), "a") as start_lock:
                fcntl.flock(start_lock, fcntl.LOCK_EX)  # another session may be starting it right now
                self.state = read_state(self.state_dir, self.env)
                if self.state is not None:
                    return
                self.started = True
                start_testbed(self.env)
                self.state = read_state(self.state_dir, self.env)
                if self.state is None:
                    raise RuntimeError("started, but state.json or a daemon is missing")
        except Exception as err:  # noqa: BLE001 (any failure is reported by wait() to the test needing it)
            self.error = f"could not start the SLURM testbed in {self.state_dir}: {err}"
            if self.started and not keep_testbed():
                try:
                    stop_testbed(self.env)
                except RuntimeError as stop_err:
                    self.error += f"\n(and stopping it failed too: {stop_err})"

    def wait(self) -> SlurmTestbed:
        self.begin()
        assert self._thread is not None
        self._thread.join()
        if self.error:
            pytest.fail(self.error, pytrace=False)
        assert self.state is not None
        return testbed_from_state(self.state, self.state_dir, self.env)

    def finish(self) -> None:
        """Release the testbed; stop it if this session started it and nobody else uses it."""
        if self._thread is None or self._users_lock is None:
            return
        self._thread.join()
        fcntl.flock(self._users_lock, fcntl.LOCK_UN)
        if self.started and self.error is None and not keep_testbed():
            try:
                fcntl.flock(self._users_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                warnings.warn(
                    f"leaving the SLURM testbed in {self.state_dir} running: another process holds "
                    f"{self._lock_path('users')}",
                    stacklevel=1,
                )
            else:
                stop_testbed(self.env)
        self._users_lock.close()
        self._users_lock = None


_TESTBED = TestbedSession(testbed_dir())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Live tests run last (stable order otherwise) so the testbed start overlaps every other test.
    items.sort(key=lambda item: item.get_closest_marker("slurm_live") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Start early so the ~90 s TIMEOUT wait overlaps with the tests that run before the live ones.
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("slurm_live") for item in session.items) and why_testbed_cannot_run() is None:
        _TESTBED.begin()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slurm_live") is not None:
        reason = why_testbed_cannot_run()
        if reason:
            skip_or_fail(reason)


_DASHBOARD_CACHE: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    # Dashboards started by tests (AppTest, streamlit run, the demo stack) keep their copies in a
    # folder of this session, never in the user's ~/.cache (settings.dashboard_cache_dir).
    global _DASHBOARD_CACHE
    if "SLURM_USAGE_DASHBOARD_CACHE_DIR" not in os.environ:
        _DASHBOARD_CACHE = tempfile.mkdtemp(prefix="slurm-usage-dashboard-cache-")
        os.environ["SLURM_USAGE_DASHBOARD_CACHE_DIR"] = _DASHBOARD_CACHE


def pytest_sessionfinish(session: pytest.Session) -> None:
    _TESTBED.finish()
    if _DASHBOARD_CACHE is not None:
        shutil.rmtree(_DASHBOARD_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_testbed() -> Iterator[SlurmTestbed]:
    """The machine-wide SLURM testbed: reused when running, else started by this session (stopped at its end)."""
    reason = why_testbed_cannot_run()
    if reason:
        skip_or_fail(reason)
    yield _TESTBED.wait()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer]:
    """A throwaway PostgreSQL server for this session (slurm_assets_tests/postgres.py), stopped at its end.

    Skipped with the reason where the machine cannot run one; a failure under ``CI=true``.
    """
    reason = pg.why_postgres_cannot_run()
    if reason:
        skip_or_fail(reason, "PostgreSQL")
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[s3.MotoServer]:
    """A moto S3 server for this session (slurm_assets_tests/s3.py), stopped at its end.

    Skipped with the reason where moto cannot run; a failure under ``CI=true``.
    """
    reason = s3.why_moto_cannot_run()
    if reason:
        skip_or_fail(reason, "the moto S3 server")
    server = s3.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: s3.MotoServer, monkeypatch: pytest.MonkeyPatch) -> s3.S3Bucket:
    """A fresh bucket on the session's moto server, with the standard ``AWS_*`` variables set for this test.

    ``s3_bucket.url`` (``s3://<bucket>/data``) is a data root; ``s3_bucket.env()`` adds
    ``SLURM_USAGE_DATA_DIR`` for subprocesses.
    """
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    return s3.S3Bucket(moto_server, moto_server.create_bucket())
