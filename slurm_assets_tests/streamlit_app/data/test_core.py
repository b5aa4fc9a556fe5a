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
import time
from pathlib import Path

import pyarrow.parquet as pq
import streamlit as st

from slurm_assets.storage import paths
from slurm_assets.storage.warehouse import remove_partition, write_partition
from slurm_assets_tests.defs.history import Job, at, land, render_window
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
        " (SELECT sum(cpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2)", [f.start, f.end]
    ).iloc[0]
    return int(row.iloc[0]), float(row.iloc[1])


def test_reads_while_partitions_are_rewritten(tmp_path, monkeypatch):
    root = tmp_path / "data"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=10, per_day=12)
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(root))
    f = data.Filters(start=info["first"], end=info["last"] + dt.timedelta(days=15))
    wh = Warehouse(root, info["first"], info["last"])
    # New days are copies of existing ones with moved dates; existing days are rewritten and briefly removed.
    src = {t: pq.read_table(paths.partition_file(root, t, "alpha", info["last"].isoformat()))
           for t in ("jobs", "usage_daily")}
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
                    write_partition(root, table, "beta", existing, pq.read_table(
                        paths.partition_file(root, table, "alpha", existing)).set_column(
                        0, "cluster", [["beta"] * len(pq.read_table(paths.partition_file(
                            root, table, "alpha", existing)))]))
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
HISTORY = [
    Job(1, "alice", "physics", "cpu", at("2024-05-01T08:00:00"), at("2024-05-01T09:00:00"),
        at("2024-05-01T11:00:00"), cpus=4),
    Job(2, "bob", "chem", "cpu", at("2024-05-01T21:00:00"), at("2024-05-01T22:00:00"),
        at("2024-05-02T02:00:00"), cpus=8, state="FAILED"),
    Job(3, "alice", "physics", "gpu", at("2024-05-02T10:00:00"), at("2024-05-02T10:30:00"),
        at("2024-05-02T12:30:00"), cpus=2, gpus=2),
]


def _process(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"SLURM_USAGE_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(data_dir), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_reads_while_dagster_materializes(tmp_path, monkeypatch):
    """Dagster (``python -m slurm_assets process``, incl. the DuckDB file writer) runs while the app queries."""
    collected = at("2024-05-03T00:30:00")
    land(tmp_path, "alpha", DAY1, render_window(HISTORY, DAY1, collected), collected)
    first = _process(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(tmp_path))
    f = data.Filters(start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 2))
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


def test_refresh_equals_a_fresh_load(tmp_path):
    """A new data version re-reads only changed files: the refreshed copy must equal a load from scratch."""
    from slurm_assets.sacct.summary import job_summary
    from streamlit_app.data import core

    root = tmp_path / "data"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=8, per_day=16)
    store = core._Store(root)
    store.load()
    first, last = info["first"].isoformat(), info["last"].isoformat()
    jobs = pq.read_table(paths.partition_file(root, "jobs", "alpha", last))
    write_partition(root, "jobs", "alpha", last, jobs.slice(0, 3))  # a day rewritten with fewer jobs
    for table in ("jobs", "usage_daily"):
        remove_partition(root, table, "beta", first)  # a day gone
    new_day = (info["last"] + dt.timedelta(days=1)).isoformat()
    write_partition(root, "jobs", "alpha", new_day, jobs)  # a new day, its summary built from jobs
    gamma = pq.read_table(paths.partition_file(root, "jobs", "gamma", first))
    write_partition(root, "job_summary", "gamma", first, job_summary(gamma))  # a summary file appears
    store.refresh()
    fresh = core._Store(root).load()
    for table in (*core.MEMORY_TABLES, "jobs"):
        sql = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert store.con.execute(sql).fetchall() == fresh.execute(sql).fetchall(), table
    counts = store.con.execute("SELECT sum(jobs) FROM job_summary").fetchone()[0]
    assert counts == store.con.execute("SELECT count(*) FROM jobs").fetchone()[0]


def _same_as_fresh(store, root) -> None:
    from streamlit_app.data import core

    fresh = core._Store(root).load()  # in memory, every file read
    for table in (*core.MEMORY_TABLES, "jobs"):
        sql = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert store.con.execute(sql).fetchall() == fresh.execute(sql).fetchall(), table


def test_a_restart_reuses_the_published_copy_and_reads_only_what_changed(tmp_path, monkeypatch):
    """Kept on local disk between starts: a restart equals a fresh load, files changed meanwhile included;
    a damaged or foreign copy is never used; the working copies of dead processes are removed."""
    from streamlit_app.data import core, local_copy

    root, cache = tmp_path / "data", tmp_path / "cache"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=6, per_day=12)
    first = core._Store(root, cache)
    first.load()
    assert first.work is not None and first.work.exists()
    published = local_copy.published_path(cache, root)
    assert published.exists()
    _same_as_fresh(first, root)

    # files change while no dashboard runs: the restart reads only those (counted), the rest comes from the copy
    last = info["last"].isoformat()
    jobs = pq.read_table(paths.partition_file(root, "jobs", "alpha", last))
    write_partition(root, "jobs", "alpha", last, jobs.slice(0, 2))
    remove_partition(root, "usage_daily", "beta", info["first"].isoformat())
    reads = []
    real_insert = core._insert
    monkeypatch.setattr(core, "_insert", lambda con, r, source, files, **kw: (
        reads.extend(files), real_insert(con, r, source, files, **kw))[1])
    second = core._Store(root, cache)
    second.load()
    assert second.work != first.work
    assert reads == [str(paths.partition_file(root, "jobs", "alpha", last))]  # summarized from the changed jobs file
    _same_as_fresh(second, root)
    monkeypatch.setattr(core, "_insert", real_insert)

    # a damaged published copy: a full copy again, same rows
    published.write_bytes(b"not a duckdb file")
    third = core._Store(root, cache)
    third.load()
    _same_as_fresh(third, root)
    assert published.stat().st_size > 100  # republished

    # a copy of another format (schemas changed in an upgrade) is not used
    monkeypatch.setattr(local_copy, "copy_format", lambda: "another format")
    assert local_copy.published_path(cache, root) != published  # other key, so not even opened
    reads.clear()
    monkeypatch.setattr(core, "_insert", lambda con, r, source, files, **kw: (
        reads.extend(files), real_insert(con, r, source, files, **kw))[1])
    core._Store(root, cache).load()
    assert len(reads) > 10  # everything read again

    # a killed process's working copy goes at the next start; live ones stay
    dead = cache / f"{local_copy.key_for(root)}.999999.0.duckdb"
    dead.write_bytes(b"x")
    unused = cache / f"{'0' * 24}.duckdb"  # published for a warehouse nobody opened for 40 days
    unused.write_bytes(b"x")
    os.utime(unused, (time.time() - 40 * 86400,) * 2)
    local_copy.remove_dead_working_copies(cache)
    assert not dead.exists() and not unused.exists() and first.work.exists()
    assert published.exists()
    local_copy.discard(first.work)
    assert not first.work.exists()
