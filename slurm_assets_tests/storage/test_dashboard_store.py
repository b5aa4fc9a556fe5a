"""Protects the dashboard's copy of the warehouse (storage/dashboard_store.py, local_copy.py): a refresh reads
only changed files and equals a fresh load; a restart reuses the copy published on local disk, never a damaged
or foreign one; the working copies of dead processes are removed."""

import datetime as dt
import os
import time

import pyarrow.parquet as pq

from slurm_assets.sacct.summary import job_summary
from slurm_assets.storage import dashboard_store, local_copy, paths
from slurm_assets.storage.warehouse import remove_partition, write_partition
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse


def test_refresh_equals_a_fresh_load(tmp_path):
    """A new data version re-reads only changed files: the refreshed copy must equal a load from scratch."""
    root = tmp_path / "data"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=8, per_day=16)
    store = dashboard_store.Store(root)
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
    fresh = dashboard_store.Store(root).load()
    for table in (*dashboard_store.MEMORY_TABLES, "jobs"):
        sql = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert store.con.execute(sql).fetchall() == fresh.execute(sql).fetchall(), table
    counts = store.con.execute("SELECT sum(jobs) FROM job_summary").fetchone()[0]
    assert counts == store.con.execute("SELECT count(*) FROM jobs").fetchone()[0]


def _same_as_fresh(store, root) -> None:
    fresh = dashboard_store.Store(root).load()  # in memory, every file read
    for table in (*dashboard_store.MEMORY_TABLES, "jobs"):
        sql = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert store.con.execute(sql).fetchall() == fresh.execute(sql).fetchall(), table


def test_a_restart_reuses_the_published_copy_and_reads_only_what_changed(tmp_path, monkeypatch):
    """Kept on local disk between starts: a restart equals a fresh load, files changed meanwhile included;
    a damaged or foreign copy is never used; the working copies of dead processes are removed."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    info = build_warehouse(root, last_day=dt.date(2026, 1, 20), days=6, per_day=12)
    first = dashboard_store.Store(root, cache)
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
    real_insert = dashboard_store._insert
    monkeypatch.setattr(
        dashboard_store,
        "_insert",
        lambda con, r, source, files, **kw: (reads.extend(files), real_insert(con, r, source, files, **kw))[1],
    )
    second = dashboard_store.Store(root, cache)
    second.load()
    assert second.work != first.work
    assert reads == [str(paths.partition_file(root, "jobs", "alpha", last))]  # summarized from the changed jobs file
    _same_as_fresh(second, root)
    monkeypatch.setattr(dashboard_store, "_insert", real_insert)

    # a damaged published copy: a full copy again, same rows
    published.write_bytes(b"not a duckdb file")
    third = dashboard_store.Store(root, cache)
    third.load()
    _same_as_fresh(third, root)
    assert published.stat().st_size > 100  # republished

    # a copy of another format (schemas changed in an upgrade) is not used
    monkeypatch.setattr(local_copy, "copy_format", lambda: "another format")
    assert local_copy.published_path(cache, root) != published  # other key, so not even opened
    reads.clear()
    monkeypatch.setattr(
        dashboard_store,
        "_insert",
        lambda con, r, source, files, **kw: (reads.extend(files), real_insert(con, r, source, files, **kw))[1],
    )
    dashboard_store.Store(root, cache).load()
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
