"""The demo stack's long-running services: start each in its own session, wait until it answers, stop
the whole process family (``dagster dev`` forks a daemon, a webserver and code servers) on the way out.

Apart from ``stack.py`` (which prepares the data and decides what to serve) so the process handling
can be read and tested on its own.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STREAMLIT_APP = REPO_ROOT / "streamlit_app" / "app.py"
STOP_GRACE_S = 15.0


def log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


@dataclass
class Service:
    name: str
    argv: list[str]
    ready_url: str
    url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    family: dict[int, int | None] = field(default_factory=dict)


def _children_of(pids: set[int]) -> set[int]:
    """``pids`` plus all their descendants (from /proc)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces or parentheses: split after the last ')'.
        parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent_of.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return {p for p in found if p in parent_of}


def _session_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def kill_family(family: dict[int, int | None]) -> None:
    """SIGKILL each pid still alive in the session it had when recorded (a reused pid is left alone)."""
    for pid, sid in family.items():
        if alive(pid) and _session_of(pid) == sid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def family_of(pid: int) -> dict[int, int | None]:
    """``pid`` and its descendants, each with its session id."""
    return {p: _session_of(p) for p in _children_of({pid})}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on ``host`` (free now; the caller binds it next)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_answering(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Poll ``url`` until it answers 2xx (True); False as soon as ``proc`` exits or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if _answers(url):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return False


def terminate(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM ``proc``, SIGKILL it if it is still there after ``grace_s``; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def streamlit_argv(port: int, host: str = "127.0.0.1", *extra: str) -> list[str]:
    """``streamlit run streamlit_app/app.py`` on ``host:port``, headless, no usage statistics, plus ``extra``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(STREAMLIT_APP),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *extra,
    ]


LOCATIONS_QUERY = (
    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)


def dagster_locations(base_url: str) -> list[tuple[str, str, str | None]]:
    """``(name, loadStatus, error message or None)`` per code location, from the webserver's GraphQL API."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": LOCATIONS_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        workspace = json.loads(resp.read())["data"]["workspaceOrError"]
    out = []
    for entry in workspace.get("locationEntries", []):
        error = entry.get("locationOrLoadError") or {}
        out.append((entry["name"], entry["loadStatus"], error.get("message") if error.get("message") else None))
    return out


def wait_locations_loaded(base_url: str, timeout: float, stop_flag: list[bool]) -> list[str]:
    """Wait until no code location is loading; return one problem line per location that failed."""
    deadline = time.monotonic() + timeout
    while not stop_flag:
        try:
            locations = dagster_locations(base_url)
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            locations = []
        if locations and all(status == "LOADED" for _, status, _ in locations):
            for name, _, error in locations:
                log(f"dagster code location {name}: " + ("loaded" if error is None else "FAILED to load"))
            return [
                f"Dagster code location {name} failed to load: {error.strip().splitlines()[-1]}"
                for name, _, error in locations
                if error
            ]
        if time.monotonic() > deadline:
            return [f"Dagster code locations still loading after {timeout:.0f} s: {locations}"]
        time.sleep(1.0)
    return []


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def start(service: Service) -> None:
    with open(service.log_path, "ab") as out:
        # A new session per service: its whole process group can be signalled at once.
        service.proc = subprocess.Popen(
            service.argv,
            env=service.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
    log(f"started {service.name} (pid {service.proc.pid}), log {service.log_path}")


def wait_ready(services: list[Service], timeout: float, stop_flag: list[bool]) -> Service | None:
    """Poll each service until it answers; return the first that died or timed out, else None."""
    deadline = time.monotonic() + timeout
    waiting = list(services)
    while waiting and not stop_flag:
        for s in list(waiting):
            if s.proc.poll() is not None:
                return s
            if _answers(s.ready_url):
                log(f"{s.name} answers at {s.ready_url}")
                waiting.remove(s)
        if time.monotonic() > deadline:
            return waiting[0]
        time.sleep(0.5)
    return None


def stop_all(services: list[Service]) -> bool:
    """SIGTERM each process group, SIGKILL leftovers after STOP_GRACE_S; True if every process is gone."""
    for s in services:
        if s.proc is None:
            continue
        s.family.update(family_of(s.proc.pid))
        try:
            os.killpg(s.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_GRACE_S
    for s in services:
        if s.proc is None:
            continue
        try:
            s.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    while time.monotonic() < deadline and any(alive(p) for s in services for p in s.family):
        time.sleep(0.2)
    for s in services:
        if s.proc is not None and s.proc.poll() is None:
            try:
                os.killpg(s.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_family(s.family)
    for s in services:
        if s.proc is not None:
            s.proc.wait()
    return not any(alive(p) for s in services for p in s.family)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def tail(path: Path, n: int = 30) -> str:
    """The last ``n`` lines of a service's log, for the message saying why it failed."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
