"""Protects the dashboard's reads while the warehouse is written: no lock or read error, and fresh numbers after.

The dashboard reads Parquet through an in-memory DuckDB; writers replace files
atomically (temp + os.replace) and the Dagster pipeline holds the DuckDB file.
Readers must never see an error, and must show the new data once it is there.
"""

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import streamlit as st

from slurm_assets.storage import paths
from slurm_assets.storage.warehouse import remove_partition, write_partition
from slurm_assets_tests.defs.conftest import HISTORY as DEFS_HISTORY
from slurm_assets_tests.defs.history import at, land, render_window
from slurm_assets_tests.streamlit_app.conftest import Warehouse
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse
from streamlit_app import data

REPO = Path(__file__).resolve().parents[3]


def _read_everything(f: data.Filters) -> None:
    st.cache_data.clear()  # every round must really read the files
    data.kpis(f)
    data.breakdown(f, "usage", "cpu_hours", "user", grain="day", top_n=5)
    data.breakdown(f, "jobs", "jobs", "wall_time")
    data.utilization(f)
    data.jobs_page(f, page=1, page_size=50)
    data.cluster_status(f)


def _reader(f: data.Filters, stop: threading.Event, errors: list, rounds: list) -> None:
    while not stop.is_set():
        try:
            _read_everything(f)
            rounds.append(1)
        except Exception as err:  # noqa: BLE001 - any error is the failure this test looks for
            errors.append(repr(err))


def _expected_kpis(wh: Warehouse, f: data.Filters) -> tuple:
    row = wh.sql(
        "SELECT (SELECT count(*) FROM jobs WHERE end_date BETWEEN $1 AND $2),"
        " (SELECT sum(cpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2)",
        [f.start, f.end],
    ).iloc[0]
    return int(row.iloc[0]), float(row.iloc[1])


def test_reads_while_partitions_are_rewritten(tmp_path, monkeypatch):
    root = tmp_path / "data"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=10, per_day=12)
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(root))
    f = data.Filters(start=info["first"], end=info["last"] + dt.timedelta(days=15), scope=data.ADMIN_SCOPE)
    wh = Warehouse(root, info["first"], info["last"])
    # New days are copies of existing ones with moved dates; existing days are rewritten and briefly removed.
    src = {
        t: pq.read_table(paths.partition_file(root, t, "alpha", info["last"].isoformat()))
        for t in ("jobs", "usage_daily")
    }
    stop, errors, rounds = threading.Event(), [], []
    readers = [threading.Thread(target=_reader, args=(f, stop, errors, rounds)) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for k in range(1, 16):
            day = (info["last"] + dt.timedelta(days=k)).isoformat()
            write_partition(root, "jobs", "alpha", day, src["jobs"])
            write_partition(root, "usage_daily", "alpha", day, src["usage_daily"])
            for table in ("jobs", "usage_daily"):
                existing = info["first"].isoformat()
                if k % 2:
                    remove_partition(root, table, "beta", existing)
                else:
                    write_partition(
                        root,
                        table,
                        "beta",
                        existing,
                        pq.read_table(paths.partition_file(root, table, "alpha", existing)).set_column(
                            0,
                            "cluster",
                            [["beta"] * len(pq.read_table(paths.partition_file(root, table, "alpha", existing)))],
                        ),
                    )
        while len(rounds) < 6 and not errors:
            stop.wait(0.05)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert not errors, errors[:3]
    assert len(rounds) >= 6
    st.cache_data.clear()
    shown = data.kpis(f)
    jobs, cpu = _expected_kpis(wh, f)
    assert (shown["jobs"], round(shown["cpu_hours"], 6)) == (jobs, round(cpu, 6))


DAY1, DAY2 = "2024-05-01", "2024-05-02"
HISTORY = DEFS_HISTORY["alpha"][:3]  # ends 05-01, runs over midnight to 05-02, ends 05-02 with GPUs


def _process(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"SLURM_USAGE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_reads_while_dagster_materializes(tmp_path, monkeypatch):
    """Dagster (``python -m slurm_assets process``, incl. the DuckDB file writer) runs while the app queries."""
    collected = at("2024-05-03T00:30:00")
    land(tmp_path, "alpha", DAY1, render_window(HISTORY, DAY1, collected), collected)
    first = _process(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(tmp_path))
    f = data.Filters(start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 2), scope=data.ADMIN_SCOPE)
    st.cache_data.clear()
    before = data.kpis(f)["jobs"]

    land(tmp_path, "alpha", DAY2, render_window(HISTORY, DAY2, collected), collected)
    stop, errors, rounds = threading.Event(), [], []
    reader = threading.Thread(target=_reader, args=(f, stop, errors, rounds))
    reader.start()
    try:
        second = _process(tmp_path)
    finally:
        stop.set()
        reader.join()
    assert second.returncode == 0, second.stdout + second.stderr
    assert not errors, errors[:3]
    assert rounds, "the reader never completed a round while Dagster ran"
    assert paths.duckdb_path(tmp_path).exists()  # the pipeline's DuckDB file was written meanwhile
    st.cache_data.clear()
    wh = Warehouse(tmp_path, f.start, f.end)
    assert data.kpis(f)["jobs"] == _expected_kpis(wh, f)[0] == 3 > before
