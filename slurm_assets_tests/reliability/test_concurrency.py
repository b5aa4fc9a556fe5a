"""Protects issue 8 "Concurrency": several real agents pushing at once to the real receiver, while
``python -m slurm_assets process`` backfills many partitions from the same data dir and a dashboard
reader (streamlit_app.data's connection over ``connect_readonly``) queries in a loop: no DuckDB lock
error or any reader error, no lost or duplicated job, and the receiver's p99 latency is recorded.
"""

import datetime as dt
import subprocess
import threading
import time

import httpx
import pytest

from slurm_assets_tests.receiver.conftest import drop_body, make_drop, sacct_text
from slurm_assets_tests.reliability.conftest import (
    exactly_once,
    make_agent,
    p99,
    process_command,
    process_env,
    run_process,
)


def _plus(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


KEY = "concurrency-key-0123456789abcdef"
# (pushing agents, days each pushes, days of history backfilled, jobs per day, overlapping second `process`)
FAST = (3, 2, 6, 40, False)
SOAK = (20, 3, 90, 60, True)


def dashboard_reader(data_dir, stop: threading.Event, stats: dict) -> None:
    """What the dashboard does on each data version: build its connection, query jobs and usage."""
    from slurm_assets.storage.dashboard_store import Store, data_version

    while not stop.is_set():
        try:
            data_version(data_dir)
            con = Store(data_dir).load()
            try:
                con.execute("SELECT count(*), sum(cpu_hours) FROM jobs").fetchall()
                con.execute("SELECT date, sum(cpu_hours) FROM usage_daily GROUP BY 1").fetchall()
                con.execute("SELECT cluster, count(*) FROM running_jobs GROUP BY 1").fetchall()
            finally:
                con.close()
            stats["queries"] += 3
        except Exception as err:  # noqa: BLE001 - every reader error is a finding: count and keep it
            stats["errors"].append(f"{type(err).__name__}: {str(err)[:300]}")
        time.sleep(0.3)


def receiver_probe(url: str, stop: threading.Event, latencies: list, statuses: list) -> None:
    """Small uploads in a loop while the agents push: the receiver's latency under load."""
    i = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            manifest, gz = make_drop(cluster="probe", text=sacct_text(3, tag=f"p{i}-"))
            began = time.perf_counter()
            response = client.post(
                "/api/data/ingest",
                content=drop_body(manifest, gz),
                headers={"X-API-Key": KEY, "Content-Type": "application/x-slurm-usage-drop"},
            )
            latencies.append((time.perf_counter() - began) * 1000)
            statuses.append(response.status_code)
            i += 1
            time.sleep(0.1)


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(FAST, id="fast"),
        pytest.param(SOAK, id="soak", marks=pytest.mark.reliability_soak),
    ],
)
def test_agents_backfill_and_dashboard_at_once(size, tmp_path, receivers, demo_slurm_bin, figures):
    n_agents, push_days, history_days, jobs_per_day, overlap = size
    data_dir = tmp_path / "server" / "data"
    data_dir.mkdir(parents=True)
    # History to backfill: one cluster's drops for `history_days` days, already in the landing zone.
    history = make_agent(
        tmp_path / "history", "history", demo_slurm_bin, "http://127.0.0.1:9", "unused", jobs_per_day=jobs_per_day
    )
    result = history.run(
        "--output-dir",
        str(data_dir / "landing"),
        "--start-date",
        "2024-02-01",
        "--end-date",
        _plus("2024-02-01", history_days - 1),
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]

    rec = receivers(data_dir, KEY).start()
    agents = [
        make_agent(
            tmp_path / f"agent-{i}",
            f"push{i:02d}",
            demo_slurm_bin,
            rec.url,
            KEY,
            jobs_per_day=jobs_per_day,
            retry_attempts=5,
        )
        for i in range(n_agents)
    ]
    stop = threading.Event()
    stats = {"queries": 0, "errors": []}
    latencies, probe_statuses = [], []
    threads = [
        threading.Thread(target=dashboard_reader, args=(data_dir, stop, stats)),
        threading.Thread(target=receiver_probe, args=(rec.url, stop, latencies, probe_statuses)),
    ]
    for thread in threads:
        thread.start()
    try:
        backfill = subprocess.Popen(
            process_command(data_dir), env=process_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        procs = [
            a.popen("--start-date", "2024-05-01", "--end-date", _plus("2024-05-01", push_days - 1)) for a in agents
        ]
        agent_codes = [p.wait(900) for p in procs]
        # Soak: a second `process` while the first may still run (two sensor-triggered runs at once).
        second = (
            subprocess.run(
                process_command(data_dir), env=process_env(data_dir), capture_output=True, timeout=1200, check=False
            )
            if overlap
            else None
        )
        backfill_out = backfill.communicate(timeout=1200)[0].decode()
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    assert agent_codes == [0] * n_agents, [a.log()[-2000:] for a in agents]
    assert backfill.returncode == 0, backfill_out[-5000:]
    assert second is None or second.returncode == 0, (second.stdout.decode()[-3000:], second.stderr.decode()[-3000:])
    run_process(data_dir)  # whatever landed after the last run
    expected, lost, dups = exactly_once(data_dir)
    lock_errors = [e for e in stats["errors"] if "lock" in e.lower()]
    figures.record(
        "Concurrency: agents pushing + process backfill + dashboard queries",
        f"{n_agents} agents x {push_days} days pushing, a probe client uploading in a loop, backfill of "
        f"{history_days} partitions{' + a second overlapping `process`' if overlap else ''}, dashboard reader loop",
        f"{len(probe_statuses)} probe uploads (statuses {sorted(set(probe_statuses))}), {stats['queries']} dashboard "
        f"queries, {len(stats['errors'])} reader errors ({len(lock_errors)} DuckDB lock errors)"
        + (f": {stats['errors'][:3]}" if stats["errors"] else "")
        + f"; {expected} jobs expected from the raw drops",
        lost=lost,
        duplicates=dups,
        p99_ms=round(p99(latencies), 1) if latencies else None,
    )
    assert stats["errors"] == []
    assert set(probe_statuses) == {200}
    assert (lost, dups) == (0, 0)


def test_process_waits_for_another_duckdb_writer(tmp_path, demo_slurm_bin, figures):
    # Another process holds the DuckDB file open for writing (a second `process`, a daemon run, an
    # operator's duckdb CLI) while `process` reaches its DuckDB step: it waits instead of failing.
    import duckdb

    data_dir = tmp_path / "data"
    agent = make_agent(tmp_path / "agent", "alpha", demo_slurm_bin, "http://127.0.0.1:9", "unused", jobs_per_day=30)
    assert (
        agent.run(
            "--output-dir", str(data_dir / "landing"), "--start-date", "2024-05-01", "--end-date", "2024-05-02"
        ).returncode
        == 0
    )
    holder = duckdb.connect(str(data_dir / "slurm_usage.duckdb"))
    began = time.monotonic()
    proc = subprocess.Popen(
        process_command(data_dir), env=process_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    state_file = data_dir / "state" / "processed_days.json"
    while proc.poll() is None and not state_file.exists() and time.monotonic() - began < 600:
        time.sleep(0.05)
    time.sleep(2)  # `process` is now at (or past) its DuckDB step while the lock is held
    still_running = proc.poll() is None
    holder.close()
    out = proc.communicate(timeout=600)[0].decode()
    figures.record(
        "Concurrency: `process` while another process holds the DuckDB file for writing",
        "1 run, lock held until 2 s after its day tables were written",
        f"exit {proc.returncode}; still waiting when the lock was released: {still_running}"
        + ("" if proc.returncode == 0 else f"; {out[-300:]}"),
        lost=None,
        duplicates=None,
    )
    assert proc.returncode == 0, out[-3000:]
