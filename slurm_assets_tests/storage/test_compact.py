"""Protects the monthly compacts (storage/compact.py) and the dashboard's cold start over them
(storage/dashboard_store.py): a compact holds exactly its month's daily rows, a stale one is never read, and the
pages' tables read from files while the copy is made equal the copy and a full copy of the daily files."""

import datetime as dt

import duckdb
import pyarrow.parquet as pq

from slurm_assets.sacct import catalog
from slurm_assets.sacct.summary import job_summary
from slurm_assets.storage import compact, dashboard_store, paths
from slurm_assets.storage.warehouse import write_partition
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse

LAST = dt.date(2026, 3, 10)  # 70 days: January and February complete, March the current month
TODAY = dt.date(2026, 3, 11)


def _warehouse(root):
    info = build_warehouse(root, last_day=LAST, days=70, per_day=16)
    for p in paths.partition_files(root, "jobs"):  # as daily_tables writes it next to jobs
        cluster, day = paths.cluster_day_of(p)
        write_partition(root, "job_summary", cluster, day, job_summary(pq.read_table(p)))
    return info


def _rows(files: list, columns: list[str]) -> list:
    if not files:
        return []
    cols = ", ".join(f'"{c}"' for c in columns)
    return duckdb.sql(
        f"SELECT {cols} FROM read_parquet({[str(f) for f in files]!r}, hive_partitioning = false) ORDER BY ALL"
    ).fetchall()


def test_compacts_hold_exactly_the_daily_rows_and_a_stale_one_is_never_used(tmp_path):
    root = tmp_path / "data"
    _warehouse(root)
    counts = compact.compact_all(root, today=TODAY)
    assert set(counts) == set(catalog.compacted_tables())
    assert "jobs" not in counts and "running_jobs" not in counts
    for table in catalog.compacted_tables():
        names = catalog.TABLE_SCHEMAS[table].names
        daily = paths.partition_files(root, table)
        for (cluster, month), files in compact.month_groups(daily).items():
            listing = {str(f): (f.stat().st_mtime_ns, f.stat().st_size) for f in files}
            compacts, rest = compact.usable(root, table, listing)
            if month == "2026-03":  # the current month: never compacted
                assert compacts == [] and rest == sorted(listing), (table, cluster)
                continue
            assert rest == [] and len(compacts) == 1, (table, cluster, month)
            # every row, unchanged; each tagged with the daily file it came from
            assert _rows(compacts, names) == _rows(files, names), (table, cluster, month)
            for f in files:
                tagged = duckdb.sql(
                    f"SELECT * EXCLUDE (_src) FROM read_parquet('{compacts[0]}', hive_partitioning = false)"
                    f" WHERE _src = '{compact.relative(root, f)}' ORDER BY ALL"
                ).fetchall()
                assert tagged == _rows([f], names), f
    again = compact.compact_all(root, today=TODAY)
    assert all(c["written"] == 0 and c["removed"] == 0 for c in again.values()), again

    # a late drop rewrites a January day: January's compact no longer matches, its daily files are read
    day = "2026-01-15"
    jobs = pq.read_table(paths.partition_file(root, "jobs", "alpha", day))
    write_partition(root, "job_summary", "alpha", day, job_summary(jobs.slice(0, 2)))
    files = [
        p
        for p in paths.partition_files(root, "job_summary")
        if paths.cluster_day_of(p)[0] == "alpha" and paths.cluster_day_of(p)[1].startswith("2026-01")
    ]
    listing = {str(f): (f.stat().st_mtime_ns, f.stat().st_size) for f in files}
    assert compact.usable(root, "job_summary", listing) == ([], sorted(listing))
    third = compact.compact_all(root, today=TODAY)["job_summary"]
    assert third["written"] == 1 and third["removed"] == 1, third
    compacts, rest = compact.usable(root, "job_summary", listing)
    assert rest == [] and _rows(compacts, catalog.TABLE_SCHEMAS["job_summary"].names) == _rows(
        files, catalog.TABLE_SCHEMAS["job_summary"].names
    )

    # a month whose daily files are all gone loses its compact
    for p in paths.partition_files(root, "drops"):
        if paths.cluster_day_of(p) == ("beta", paths.cluster_day_of(p)[1]) and p.parent.name.startswith("date=2026-02"):
            p.unlink()
    assert compact.compact_all(root, today=TODAY)["drops"]["removed"] == 1
    assert not any("cluster=beta/month=2026-02" in str(p) for p in paths.monthly_files(root, "drops"))


def _same(con_a, con_b, tables) -> None:
    for table in tables:
        sql = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert con_a.execute(sql).fetchall() == con_b.execute(sql).fetchall(), table


def test_a_cold_start_reads_the_compacts_and_equals_a_full_copy(tmp_path, monkeypatch):
    """No local copy yet: pages read views over the compacts (current ones) and the other daily files while a
    thread copies the tables in; before, during and after, every table equals a full copy of the daily files."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    _warehouse(root)
    full = dashboard_store.Store(root).load()  # before any compact: every daily file read
    compact.compact_all(root, today=TODAY)
    stale = paths.partition_file(root, "usage_daily", "gamma", "2026-02-03")  # February of gamma: stale compact
    write_partition(root, "usage_daily", "gamma", "2026-02-03", pq.read_table(stale))
    full_after = dashboard_store.Store(root).load()
    tables = (*dashboard_store.MEMORY_TABLES, "jobs")
    _same(full, full_after, tables)  # the rewrite kept the rows (same figures), only the file changed

    reads = []
    real_insert = dashboard_store._insert
    monkeypatch.setattr(
        dashboard_store,
        "_insert",
        lambda con, r, source, files, **kw: (reads.extend(files), real_insert(con, r, source, files, **kw))[1],
    )
    store = dashboard_store.Store(root, cache)
    hold = store.lock  # the copy cannot switch over while this test holds the store's lock
    hold.acquire()
    try:
        con = store.load(background=True)
        assert store.reading_files
        _same(con, full, tables)  # views over the Parquet files while the copy is made
    finally:
        hold.release()
    store.copier.join()
    assert not store.reading_files
    _same(store.con, full, tables)  # the copy
    # compacted months were read from their compacts: of the small tables, only the current month's daily files
    # and the stale compact's month were read one by one
    small = [r for r in reads if "/running_jobs/" not in r]
    assert small and all(
        "date=2026-03" in r or "cluster=gamma/date=2026-02" in r and "/usage_daily/" in r for r in small
    ), small[:5]
    # the next start restores the published copy
    _same(dashboard_store.Store(root, cache).load(), full, tables)
