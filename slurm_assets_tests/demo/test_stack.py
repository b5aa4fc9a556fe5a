"""Protects `make demo` (slurm_assets.demo.stack): demo data lands through the real agent for every
cluster, a second run reuses it, each service that exists in the tree answers on its port
(Dagster /server_info), and SIGINT stops every process the stack started."""

import datetime as dt
import importlib.util
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from slurm_assets.demo import services, stack
from slurm_assets.storage import landing
from slurm_assets_tests.ports import free_port

READY_TIMEOUT_S = 420  # pipeline + three cold starts on a busy 2-core machine


def expected_services() -> set[str]:
    names = set()
    if importlib.util.find_spec("slurm_assets.definitions") is not None:
        names.add("dagster")
    if importlib.util.find_spec("slurm_assets.receiver.cli") is not None:
        names.add("receiver")
    if stack.STREAMLIT_APP.exists():
        names.add("streamlit")
    return names


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def test_second_data_step_reuses_the_landing_zone(tmp_path, capsys):
    if not stack.AGENT.exists():
        pytest.skip(f"{stack.AGENT} not in the tree yet")
    args = stack.parse_args(
        ["--data-dir", str(tmp_path), "--clusters", "alpha,beta", "--days", "2", "--jobs-per-day", "10"]
    )
    env = {**os.environ, "TZ": "UTC"}
    assert stack.generate_drops(args, tmp_path, env, [])
    first = landing.list_drops(tmp_path)
    assert {d.cluster for d in first} == {"alpha", "beta"} and len({d.day for d in first}) == 2
    capsys.readouterr()
    assert stack.generate_drops(args, tmp_path, env, [])
    assert "up to today" in capsys.readouterr().out
    assert landing.list_drops(tmp_path) == first


@pytest.mark.parametrize(
    "latest, expected",
    [
        ({}, {"alpha": ("2026-10-27", "2026-11-25"), "beta": ("2026-10-27", "2026-11-25")}),  # fresh: 30 days
        ({"alpha": "2026-11-25"}, {"beta": ("2026-10-27", "2026-11-25")}),  # alpha is up to date
        ({"alpha": "2026-11-22", "beta": "2026-11-25"}, {"alpha": ("2026-11-22", "2026-11-25")}),  # top up,
        # re-collecting alpha's last (partial) day
    ],
)
def test_plan_collection(latest, expected):
    plan = stack.plan_collection(
        {c: dt.date.fromisoformat(d) for c, d in latest.items()}, ["alpha", "beta"], dt.date(2026, 11, 25), 30
    )
    assert {c: (a.isoformat(), b.isoformat()) for c, (a, b) in plan.items()} == expected


def test_stack_serves_everything_that_exists_and_stops_it_on_sigint(tmp_path):
    wanted = expected_services()
    if not wanted:
        pytest.skip("no service of the stack is in the tree yet")
    ports = {"dagster": free_port(), "receiver": free_port(), "streamlit": free_port()}
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_DEMO_") and k != "API_KEYS"}
    env["DAGSTER_HOME"] = str(home)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slurm_assets.demo.stack",
            "--data-dir",
            str(data),
            "--days",
            "2",
            "--clusters",
            "alpha,beta",
            "--jobs-per-day",
            "10",
            "--dagster-port",
            str(ports["dagster"]),
            "--receiver-port",
            str(ports["receiver"]),
            "--streamlit-port",
            str(ports["streamlit"]),
            "--ready-timeout",
            str(READY_TIMEOUT_S),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    output: list[str] = []
    family: dict[int, int | None] = {}
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S + 300
        while not any(line.startswith("[demo] data: ") for line in output):
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("stack not ready in time:\n" + "".join(output[-60:]))
            if line is None:
                pytest.fail(f"stack exited ({proc.wait()}) before it was ready:\n" + "".join(output[-60:]))
            output.append(line)
        text = "".join(output)
        if stack.AGENT.exists():
            assert {d.cluster for d in landing.list_drops(data)} == {"alpha", "beta"}
        urls = {}
        for line in output:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ports and parts[1].startswith("http://"):
                urls[parts[0]] = parts[1]
        assert set(urls) == wanted, text
        checks = {"dagster": "/server_info", "receiver": "/api/dashboard/health", "streamlit": "/_stcore/health"}
        for name, url in urls.items():
            assert url == f"http://127.0.0.1:{ports[name]}"
            status, body = _get(url + checks[name])
            assert status == 200, (name, body[:300])
        if "dagster" in urls:
            assert b"dagster_webserver_version" in _get(urls["dagster"] + "/server_info")[1]
            # The UI lists the code location, loaded without errors.
            assert services.dagster_locations(urls["dagster"]) == [("slurm_assets.definitions", "LOADED", None)]
            assert "code location slurm_assets.definitions: loaded" in text
        assert "API_KEYS=demo-key" in text
        family = services.family_of(proc.pid)
        assert len(family) > len(wanted)  # the stack and its services (with their own children)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0, "".join(output[-30:])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(services.alive(p) for p in family):
            time.sleep(0.2)
        assert not [p for p in family if services.alive(p)], "processes left after SIGINT"
    finally:
        # Never leave what this test started running, whatever failed above.
        if proc.poll() is None:
            family.update(services.family_of(proc.pid))
        services.kill_family(family)
        proc.wait(timeout=30)
    logs = data / "logs"
    assert {p.stem for p in Path(logs).glob("*.log")} == wanted


def test_a_busy_port_stops_the_stack_before_any_work(tmp_path):
    if "receiver" not in expected_services():
        pytest.skip("the receiver is not in the tree yet")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "slurm_assets.demo.stack",
                "--data-dir",
                str(tmp_path),
                "--days",
                "1",
                "--receiver-port",
                str(port),
                "--dagster-port",
                str(free_port()),
                "--streamlit-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1
    assert f"receiver port {port} already in use" in proc.stdout
    assert not landing.list_drops(tmp_path)  # failed fast: no data was prepared


def test_demo_first_day_is_its_data_first_day(tmp_path):
    from slurm_assets_tests.defs.history import at, land

    today = dt.datetime.now(dt.UTC).date()
    assert stack.demo_first_day(tmp_path, 60) == (today - dt.timedelta(days=59)).isoformat()
    land(tmp_path, "alpha", "2021-03-04", b"JobIDRaw|State\n", at("2021-03-05T00:30:00"))  # an older landed day
    assert stack.demo_first_day(tmp_path, 60) == "2021-03-04"
