"""Protects issue 18 item 3 over real HTTP (the console script in a subprocess): slow clients without a key
cannot starve the receiver (slurm_assets/receiver/guard.py).

The attack the issue found: with 1,024 open files, 1,100 connections trickling header lines made every
normal request fail and a request whose headers never finished stayed open for over 200 s. Here the
receiver runs under ``ulimit -n 1024`` (set in the child before exec) while 1,100 loopback clients
trickle header lines (and reconnect when closed), health and a push from a normal client answer 200,
and a request with unfinished headers is closed by the server. Smaller tests pin each mechanism:
header deadline (408), body deadline (closed, spool removed), shedding the longest-waiting connection
at the cap, and 503 at once when nothing can be shed. Every wait polls a condition with a generous
upper bound as the failure.
"""

import os
import resource
import selectors
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from slurm_assets.receiver.ingest import incoming_dir
from slurm_assets_tests.receiver.conftest import drop_body, make_drop, sacct_text
from slurm_assets_tests.reliability.conftest import ReceiverProcess

KEY = "slow-loris-suite-key-0123456789"
NATIVE = "application/x-slurm-usage-drop"
N_SLOW = 1100
NOFILE = 1024


def limit_open_files() -> None:
    """In the receiver child: systemd's default of 1,024 open files (soft and hard)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def wait_for(condition, what: str, bound_s: float, step_s: float = 0.1):
    """Poll ``condition`` until it returns a true value; fail naming ``what`` after ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {bound_s:.0f} s")
        time.sleep(step_s)


@pytest.fixture
def fd_room():
    """The test process itself holds N_SLOW sockets: raise its soft open-file limit (restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_SLOW + 512
    if hard != resource.RLIM_INFINITY and hard < need:
        if os.environ.get("CI") == "true":
            pytest.fail(f"open-file hard limit {hard} < {need}: raise it (ulimit -Hn) to run this test")
        pytest.skip(f"open-file hard limit {hard} < {need} (ulimit -Hn): cannot hold {N_SLOW} client sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Trickler(threading.Thread):
    """``n`` sockets sending one header line each per round (0.5 s), never finishing their headers; a socket
    the server closes is counted and reconnected at the next round. Bounded: at most ``max_s`` seconds."""

    def __init__(self, port: int, n: int, max_s: float = 240):
        super().__init__(daemon=True)
        self.port, self.n, self.max_s = port, n, max_s
        self.stop = threading.Event()
        self.opened = self.closed_by_server = self.connect_errors = 0
        self.answers: dict[str, int] = {}
        self.error: BaseException | None = None

    def _connect(self, sel) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.connect_errors += 1
            return
        sock.sendall(b"GET /api/dashboard/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        self.opened += 1

    def _drop(self, sel, sock, data: bytes) -> None:
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        self.answers[status] = self.answers.get(status, 0) + 1
        self.closed_by_server += 1
        sel.unregister(sock)
        sock.close()

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + self.max_s
        try:
            for _ in range(self.n):
                self._connect(sel)
            line = 0
            while not self.stop.is_set() and time.monotonic() < deadline:
                for key, _ev in sel.select(timeout=0):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    self._drop(sel, key.fileobj, data)
                line += 1
                for key in list(sel.get_map().values()):
                    try:
                        key.fileobj.send(f"X-Slow-{line}: a\r\n".encode())
                    except OSError:
                        self._drop(sel, key.fileobj, b"")
                for _ in range(self.n - len(sel.get_map())):
                    self._connect(sel)  # keep the pressure up: every closed client comes back
                self.stop.wait(0.5)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()

    def open_now(self) -> int:
        return self.opened - self.closed_by_server


def open_sockets(pid: int) -> int:
    return sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))


class Conn:
    """A raw client connection that sent ``first`` and reads whatever the server sends until it closes."""

    def __init__(self, port: int, first: bytes):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(first)
        self.sock.setblocking(False)
        self.got = b""
        self.opened_at = time.monotonic()

    def closed(self) -> bool:
        """True once the server closed the connection (``got`` holds what it sent before)."""
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not data:
                return True
            self.got += data

    def status(self) -> str:
        return self.got.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def start(tmp_path: Path):
    """Start a receiver under the open-file limit; every one started is stopped after the test (they were
    left running when a test ended)."""
    started: list[ReceiverProcess] = []

    def run(**env) -> ReceiverProcess:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        started.append(ReceiverProcess(data_dir, KEY, env=env, preexec_fn=limit_open_files))
        return started[-1].start()

    yield run
    for rec in started:
        rec.stop()


def push(url: str, tag: str) -> httpx.Response:
    manifest, gz = make_drop(cluster="normal", text=sacct_text(3, tag=tag))
    return httpx.post(
        f"{url}/api/data/ingest",
        content=drop_body(manifest, gz),
        headers={"X-API-Key": KEY, "Content-Type": NATIVE},
        timeout=10,
    )


def test_1100_slow_clients_under_1024_files_do_not_starve_a_normal_client(tmp_path, start, fd_room, figures):
    rec = start()
    attack = Trickler(rec.port, N_SLOW)
    attack.start()
    try:
        wait_for(lambda: attack.opened >= N_SLOW or attack.error, "1,100 slow clients connected", 120)
        # The attack is real: the receiver holds (nearly) as many sockets as its cap allows.
        held = wait_for(lambda: (n := open_sockets(rec.proc.pid)) >= 800 and n, "receiver holding 800 sockets", 60)
        unfinished = Conn(rec.port, b"GET /api/dashboard/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b")
        began = time.perf_counter()
        health = httpx.get(f"{rec.url}/api/dashboard/health", timeout=10)
        health_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        pushed = push(rec.url, "during-attack")
        push_ms = (time.perf_counter() - began) * 1000
        assert health.status_code == 200 and pushed.status_code == 200, (health.text, pushed.text)

        def unfinished_closed():
            try:
                unfinished.sock.send(b"c")  # keeps trickling: the server must close it anyway
            except OSError:
                return True
            return unfinished.closed()

        wait_for(unfinished_closed, "request with unfinished headers closed by the server", 60, 1.0)
        closed_after = time.monotonic() - unfinished.opened_at
        unfinished.close()
        assert rec.proc.poll() is None, rec.log()[-2000:]
        assert attack.error is None, attack.error
    finally:
        attack.stop.set()
        attack.join(30)
    figures.record(
        "API abuse: slow-loris without a key under a 1,024-file limit",
        f"{N_SLOW} loopback clients trickling a header line every 0.5 s (reconnecting when closed), receiver "
        f"under ulimit -n {NOFILE}; {held} sockets held by the receiver",
        f"health 200 in {health_ms:.0f} ms, push 200 in {push_ms:.0f} ms during the attack; a request with "
        f"unfinished headers closed by the server after {closed_after:.0f} s "
        f"({unfinished.status()}); attackers closed by the server: "
        f"{attack.closed_by_server} ({attack.answers}); receiver alive",
        lost=None,
        duplicates=None,
    )


def test_headers_not_complete_in_time_get_408_and_are_closed(tmp_path, start, figures):
    rec = start(SLURM_USAGE_HEADER_TIMEOUT_S="1")
    conn = Conn(rec.port, b"GET /api/dashboard/health HTTP/1.1\r\n")
    wait_for(conn.closed, "connection with unfinished headers closed", 30)
    assert conn.got.startswith(b"HTTP/1.1 408"), conn.got
    conn.close()
    assert httpx.get(f"{rec.url}/api/dashboard/health", timeout=10).status_code == 200
    figures.record(
        "API abuse: request headers never finished",
        "1 client sends a request line, then nothing (SLURM_USAGE_HEADER_TIMEOUT_S=1)",
        f"{conn.status()}, then closed; others served",
        lost=None,
        duplicates=None,
    )


def body_head(length: int) -> bytes:
    return (
        f"POST /api/data/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: {NATIVE}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_stalled_body_is_closed_and_its_spool_removed(tmp_path, start, figures):
    rec = start(SLURM_USAGE_BODY_TIMEOUT_S="1")
    manifest, gz = make_drop(cluster="stalled")
    body = drop_body(manifest, gz)
    conn = Conn(rec.port, body_head(len(body)) + body[: len(body) // 2])
    spool = incoming_dir(rec.data_dir.resolve())
    wait_for(lambda: spool.is_dir() and any(spool.iterdir()), "half a body spooled", 30)
    wait_for(conn.closed, "connection with a stalled body closed", 30)
    wait_for(lambda: not any(spool.iterdir()), "spool file of the stalled body removed", 30)
    conn.close()
    assert push(rec.url, "after-stall").status_code == 200
    figures.record(
        "API abuse: request body stalls half way",
        "1 client sends half a drop, then nothing (SLURM_USAGE_BODY_TIMEOUT_S=1)",
        "connection closed, spool file removed, nothing stored; the next push 200",
        lost=None,
        duplicates=None,
    )


def test_at_the_cap_the_longest_waiting_is_shed_and_else_503_at_once(tmp_path, start, figures):
    rec = start(SLURM_USAGE_MAX_CONNECTIONS="4")
    waiting = [Conn(rec.port, b"GET /api/dashboard/health HTTP/1.1\r\n") for _ in range(4)]
    # A normal client at the cap: served; the connection that waited longest for its headers is closed.
    assert httpx.get(f"{rec.url}/api/dashboard/health", timeout=10).status_code == 200
    wait_for(waiting[0].closed, "longest-waiting connection shed", 30)
    assert not any(c.closed() for c in waiting[1:])
    for conn in waiting:
        conn.close()
    # Four connections busy with real requests (headers done, body pending): nothing to shed, 503 at once.
    busy = [Conn(rec.port, body_head(1000) + b"{") for _ in range(4)]
    spool = incoming_dir(rec.data_dir.resolve())
    wait_for(lambda: spool.is_dir() and len(list(spool.iterdir())) == 4, "4 bodies being read", 30)
    excess = Conn(rec.port, b"GET /api/dashboard/health HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(excess.closed, "excess connection answered and closed", 30)
    assert excess.got.startswith(b"HTTP/1.1 503"), excess.got
    assert not any(c.closed() for c in busy)
    for conn in busy + [excess]:
        conn.close()
    figures.record(
        "API abuse: connections beyond the cap",
        "SLURM_USAGE_MAX_CONNECTIONS=4: 4 header-phase "
        "connections + 1 normal client; then 4 connections reading bodies + 1 more",
        "normal client 200, the longest-waiting connection closed; with nothing to shed: "
        f"{excess.status()} at once, the 4 uploads untouched",
        lost=None,
        duplicates=None,
    )


def test_the_receiver_unit_raises_the_open_file_limit_above_the_connection_cap():
    from slurm_assets.receiver.guard import FD_RESERVE
    from slurm_assets.settings import ReceiverSettings

    unit = (Path(__file__).resolve().parents[2] / "deploy" / "slurm-usage-receiver.service").read_text()
    values = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert values, "deploy/slurm-usage-receiver.service sets no LimitNOFILE"
    default_cap = ReceiverSettings.model_fields["max_connections"].default
    assert int(values[0]) - FD_RESERVE >= default_cap, "the default connection cap would be cut by the unit's limit"
