"""Connection, cache and filter SQL for every dashboard query: DuckDB SQL over the warehouse Parquet, cached per filter and data version.

The dashboard never opens the DuckDB file (DESIGN.md "Storage"): it reads the
Parquet files through its own in-memory DuckDB. Every table but ``jobs``
(usage_daily, gpu_usage_daily, capacity_daily, quarantine, drops, running_jobs
and job_summary) is copied into a compressed in-memory database once per data
version; ``jobs`` stays a view over its Parquet files so 10M jobs are only ever
aggregated in SQL, never pulled into pandas (except one page of the Jobs table).
(Not ``warehouse.connect_readonly``: its views bind every file of every table.)

Which table answers what (and why the numbers agree with direct SQL):

* usage over time (CPU/GPU/node-hours per day) comes from ``usage_daily`` /
  ``gpu_usage_daily``, where a job's usage is apportioned to the UTC days it ran;
* job-level numbers (counts, waits, sizes, states, efficiency) come from
  ``job_summary`` (sacct/summary.py: the jobs that ENDED on each day, counted and
  summed by the filter dimensions and fixed buckets: exact sums of sums); lists
  of single jobs come from ``jobs`` (``end_date``, the Dagster partition).
  ``usage_daily`` has no state column, so the state filter applies to job-level
  numbers only.

The data version is the (count, newest mtime, total size) of the warehouse
files; a new materialization changes it, so cached answers never go stale.
"""

import dataclasses
import datetime as dt
import math
import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from slurm_assets import settings
from slurm_assets.sacct import summary
from slurm_assets.sacct.fields import TABLE_SCHEMAS
from slurm_assets.storage import paths, warehouse

# Copied into the connection's compressed in-memory database once per data version; ``jobs`` stays on disk.
MEMORY_TABLES = ("usage_daily", "gpu_usage_daily", "capacity_daily", "quarantine", "drops", "running_jobs",
                 "job_summary")
# jobs files summarized per pass when a warehouse has jobs days without a job_summary file.
SUMMARY_BATCH_FILES = 200
# Files read per statement when copying a table in (then compressed): bounds the load's peak memory.
LOAD_BATCH_FILES = 400
GRAINS = ("day", "week", "month")
OTHER = "(other)"
NONE_LABEL = "(none)"
# Retries of a query that met a file replaced or removed by a concurrent materialization.
READ_RETRIES = 4


@dataclasses.dataclass(frozen=True)
class Filters:
    """What the sidebar selected; empty tuples mean "all". Dates are UTC days, both ends inclusive."""

    start: dt.date
    end: dt.date
    clusters: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    qos: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    grain: str = "day"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Filters":
        """The period of equal length just before this one (for KPI deltas)."""
        return dataclasses.replace(
            self, start=self.start - dt.timedelta(days=self.days), end=self.start - dt.timedelta(days=1)
        )


# --- connection, version, cache -------------------------------------------------------------


def data_dir() -> Path:
    return settings.data_dir()


def data_version(root: Path | None = None) -> tuple[int, int, int]:
    """(files, newest mtime in ns, total bytes) of the warehouse Parquet files: changes on every write."""
    root = paths.warehouse_root(root or data_dir())
    count = newest = size = 0
    for table in TABLE_SCHEMAS:
        for dirpath, _dirs, files in os.walk(root / table):
            for name in files:
                if not name.endswith(".parquet"):
                    continue
                try:
                    info = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:  # replaced or removed while we walked
                    continue
                count += 1
                newest = max(newest, info.st_mtime_ns)
                size += info.st_size
    return count, newest, size


@st.cache_data(ttl=2, show_spinner=False)
def _cached_version(root: str) -> tuple[int, int, int]:
    return data_version(Path(root))


def _build_connection(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (DESIGN.md: never the DuckDB file) with MEMORY_TABLES copied in and a ``jobs`` view.

    Not ``warehouse.connect_readonly``: its views bind every file of every table (union_by_name reads all
    footers: ~450 MiB and seconds at 10M jobs) although only ``jobs`` stays a view here.
    """
    con = duckdb.connect(":memory:")
    # DuckDB's file cache kept ~800 MiB of Parquet bytes after the copy below (10M jobs); one thread reads the
    # ~3 x 1,100 files per table a year faster than two on this 2-core box, at a third of the peak memory.
    con.execute("SET enable_external_file_cache = false")
    con.execute("SET threads = 1")
    con.execute("ATTACH ':memory:' AS mem (COMPRESS)")  # compressed at each CHECKPOINT (~5x smaller)
    for table in MEMORY_TABLES:
        files = _table_files(root, table)
        if table == "running_jobs" or not files:  # running_jobs: each cluster's latest snapshot (few files)
            con.execute(f'CREATE TABLE mem."{table}" AS {warehouse.view_select(root, table)}')
        for i in range(0, len(files) if table != "running_jobs" else 0, LOAD_BATCH_FILES):
            # hive_partitioning off: usage_daily's ``date`` column is the usage day, not its folder's end day
            batch = [str(p) for p in files[i : i + LOAD_BATCH_FILES]]
            select = f"SELECT {_columns(table)} FROM read_parquet({batch!r}, hive_partitioning = false)"
            con.execute(f'CREATE TABLE mem."{table}" AS {select}' if i == 0 else f'INSERT INTO mem."{table}" {select}')
            con.execute("CHECKPOINT mem")  # compress what was read: bounds the peak to one batch uncompressed
        if table == "job_summary":
            _summarize_missing_days(con, root, {_cluster_day(p) for p in files})
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM mem."{table}"')
    con.execute("CHECKPOINT mem")
    con.execute("RESET threads")
    # jobs: the files of this version listed once (no glob per query), with the folder day as a hive column
    # ``date`` (= end_date) so a date filter skips whole files without opening them.
    con.execute(f"CREATE OR REPLACE VIEW jobs AS {jobs_select(root, None)}")
    return con


def _table_files(root: Path, table: str) -> list[Path]:
    return sorted(paths.table_dir(root, table).glob("cluster=*/date=*/*.parquet"))


def _cluster_day(path: Path) -> tuple[str, str]:
    return path.parent.parent.name[len("cluster="):], path.parent.name[len("date="):]


def _columns(table: str) -> str:
    return ", ".join(f'"{name}"' for name in TABLE_SCHEMAS[table].names)


def _summarize_missing_days(con: duckdb.DuckDBPyConnection, root: Path, have: set[tuple[str, str]]) -> None:
    """Add ``job_summary`` rows for the jobs files that have no summary file yet (a warehouse written before it)."""
    missing = [p for p in _table_files(root, "jobs") if _cluster_day(p) not in have]
    for i in range(0, len(missing), SUMMARY_BATCH_FILES):
        files = [str(p) for p in missing[i : i + SUMMARY_BATCH_FILES]]
        jobs = con.execute(f"SELECT {_columns('jobs')} FROM read_parquet({files!r}, hive_partitioning = false)").arrow()
        jobs = jobs.read_all() if hasattr(jobs, "read_all") else jobs
        con.register("_missing_summary", summary.job_summary(jobs))
        con.execute('INSERT INTO mem."job_summary" SELECT * FROM _missing_summary')
        con.unregister("_missing_summary")
        con.execute("CHECKPOINT mem")


def jobs_select(root: Path, days: list[tuple[str, str]] | None) -> str:
    """SELECT over the ``jobs`` files (all, or those of the (cluster, day) pairs), with the hive column ``date``."""
    files = _table_files(root, "jobs") if days is None else [
        paths.partition_file(root, "jobs", c, d) for c, d in sorted(days)]
    if not files:
        return f"SELECT *, CAST(NULL AS DATE) AS \"date\" FROM ({warehouse.table_select(root, 'jobs')}) WHERE false"
    return (f"SELECT * FROM read_parquet({[str(p) for p in files]!r}, hive_partitioning = true,"
            " hive_types = {'date': DATE, 'cluster': VARCHAR})")


@st.cache_resource(max_entries=1, show_spinner=False)  # one data version in memory at a time
def _connection(root: str, version: tuple[int, int, int]) -> duckdb.DuckDBPyConnection:
    return _build_connection(Path(root))


@st.cache_data(max_entries=1000, show_spinner=False)
def _cached_query(root: str, version: tuple[int, int, int], sql: str, params: tuple) -> pd.DataFrame:
    cur = _connection(root, version).cursor()
    try:
        return cur.execute(sql, list(params)).df()
    finally:
        cur.close()


def query(sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run ``sql`` with ``params`` on the current data version; a read that races a writer is retried."""
    root = str(data_dir())
    for attempt in range(READ_RETRIES):
        version = _cached_version(root) if attempt == 0 else data_version(Path(root))
        try:
            return _cached_query(root, version, sql, tuple(params))
        except (duckdb.IOException, duckdb.InvalidInputException) as err:
            # A file listed by the glob was removed or replaced before it was read: reread the listing.
            if attempt == READ_RETRIES - 1:
                raise RuntimeError(
                    f"reading the warehouse under {root} failed {READ_RETRIES} times while it was being "
                    f"rewritten ({err}); reload the page, and check the Dagster run if it persists"
                ) from err
            _connection.clear()
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def scalar_row(sql: str, params: tuple = ()) -> dict:
    df = query(sql, params)
    return {} if df.empty else {k: _plain(v) for k, v in df.to_dict(orient="records")[0].items()}


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


# --- filters -> SQL -------------------------------------------------------------------------

DIM_COLUMNS = {"cluster": "cluster", "account": "account", "user": "user", "partition": "partition", "qos": "qos"}


def where(f: Filters, *, date_col: str, state: bool = False, dims: tuple[str, ...] = tuple(DIM_COLUMNS)) -> tuple:
    """(SQL condition, params) for the filters on a table whose day column is ``date_col``."""
    conds = [f'"{date_col}" BETWEEN ? AND ?']
    params: list = [f.start, f.end]
    if date_col == "end_date":  # jobs: prune files by their folder day (the partition is the end day)
        conds.append('"date" BETWEEN ? AND ?')
        params += [f.start, f.end]
    selected = {
        "cluster": f.clusters,
        "account": f.accounts,
        "user": f.users,
        "partition": f.partitions,
        "qos": f.qos,
    }
    for dim in dims:
        if selected[dim]:
            conds.append(f'list_contains(?::VARCHAR[], "{DIM_COLUMNS[dim]}")')
            params.append(list(selected[dim]))
    if state and f.states:
        conds.append('list_contains(?::VARCHAR[], "state")')
        params.append(list(f.states))
    return " AND ".join(conds), tuple(_hashable(p) for p in params)


def _hashable(p):
    return tuple(p) if isinstance(p, list) else p


def period(grain: str, col: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown time grain {grain!r}: expected one of {GRAINS}")
    return f"CAST(date_trunc('{grain}', \"{col}\") AS DATE)"


# --- bounds and filter options ---------------------------------------------------------------


def date_bounds() -> tuple[dt.date | None, dt.date | None]:
    """First and last day with any usage, job or drop (for the "all data" preset)."""
    row = scalar_row(
        "SELECT min(d) AS lo, max(d) AS hi FROM ("
        " SELECT min(date) AS d FROM usage_daily UNION ALL SELECT max(date) FROM usage_daily"
        " UNION ALL SELECT min(date) FROM drops UNION ALL SELECT max(date) FROM drops)"
    )
    return _as_date(row.get("lo")), _as_date(row.get("hi"))


def _as_date(v) -> dt.date | None:
    if v is None:
        return None
    return v.date() if isinstance(v, dt.datetime) else v


def filter_options() -> dict[str, list[str]]:
    """Distinct values per sidebar filter; states come from job_summary, the rest from usage_daily (in memory)."""
    out = {}
    for dim, col in DIM_COLUMNS.items():
        df = query(f'SELECT DISTINCT "{col}" AS v FROM usage_daily WHERE "{col}" IS NOT NULL ORDER BY 1')
        out[dim] = df["v"].tolist()
    out["state"] = query('SELECT DISTINCT "state" AS v FROM job_summary WHERE "state" IS NOT NULL ORDER BY 1')[
        "v"].tolist()
    return out

