"""Connection, cache and filter SQL for every dashboard query: DuckDB SQL over the warehouse Parquet, cached per filter and data version.

The dashboard never opens the DuckDB file (DESIGN.md "Storage"): queries run on its
own copy of the warehouse (``slurm_assets/storage/dashboard_store.py``: the tables the
catalogue marks ``dashboard_copy`` copied in, ``jobs`` a view over its Parquet files so
10M jobs are only ever aggregated in SQL, never pulled into pandas except one page of
the Jobs table), refreshed when the data version changes.

Which table answers what (and why the numbers agree with direct SQL):

* usage over time (CPU/GPU/node-hours per day) comes from ``usage_daily`` /
  ``gpu_usage_daily``, where a job's usage is apportioned to the UTC days it ran;
* job-level numbers (counts, waits, sizes, states, efficiency) come from
  ``job_summary`` (sacct/summary.py: the jobs that ENDED on each day, counted and
  summed by the filter dimensions and fixed buckets: exact sums of sums); lists
  of single jobs come from ``jobs`` (``end_date``, the Dagster partition).
  ``usage_daily`` has no state column, so the state filter applies to job-level
  numbers only.
"""

import dataclasses
import datetime as dt
import io
import math
import time
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from slurm_assets import settings
from slurm_assets.storage import fs
from slurm_assets.storage.dashboard_store import Store, data_version
from streamlit_app.data.scope import NOBODY_SCOPE, Scope, admin_condition, people_condition

GRAINS = ("day", "week", "month")
OTHER = "(other)"
NONE_LABEL = "(none)"
UNTYPED = "(untyped)"  # GPUs whose type Slurm did not record (gpu_type "" in gpu_usage_daily)
# Retries of a query that met a file replaced or removed by a concurrent materialization.
READ_RETRIES = 4


@dataclasses.dataclass(frozen=True)
class Filters:
    """What the sidebar selected; empty tuples mean "all". Dates are UTC days, both ends inclusive.

    ``scope`` is the viewer's (data/scope.py), applied by ``where``; the default sees nothing.
    """

    start: dt.date
    end: dt.date
    clusters: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    qos: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    grain: str = "day"
    scope: Scope = NOBODY_SCOPE
    gpu_types: tuple[str, ...] = ()  # GPU-hours and job lists only: the other tables have no GPU type

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Filters":
        """The period of equal length just before this one (for KPI deltas)."""
        return dataclasses.replace(
            self, start=self.start - dt.timedelta(days=self.days), end=self.start - dt.timedelta(days=1)
        )


# --- connection, version, cache -------------------------------------------------------------


def data_dir():
    """The data root: a local folder (``Path``) or ``s3://bucket/prefix`` (``UPath``, slurm_assets/storage/fs.py)."""
    return settings.data_dir()


@st.cache_data(ttl=2, show_spinner=False)
def _cached_version(root: str) -> tuple[int, int, int]:
    return data_version(fs.root(root))


def current_version() -> tuple[int, int, int]:
    """The data version queries run on now (the 2-second cached listing, so a page checks it cheaply)."""
    return _cached_version(str(data_dir()))


@st.cache_resource(max_entries=4, show_spinner=False)  # one copy per data dir, refreshed in place
def _store(root: str) -> Store:
    return Store(fs.root(root), settings.dashboard_cache_dir())


def read_root() -> Path:
    """The local folder the queries' files are in: the data dir, or the mirror of an ``s3://`` one (the SQL
    that names single ``jobs`` files names them there)."""
    return _store(str(data_dir())).root


def _connection(root: str, version: tuple[int, int, int]) -> duckdb.DuckDBPyConnection:
    return _store(root).at(version)


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
        version = _cached_version(root) if attempt == 0 else data_version(fs.root(root))
        try:
            if (
                _store(root).con is None
            ):  # first query after a start: the local copy (bench/README.md "Figures behind the code")
                with st.spinner(
                    "Loading the warehouse (once after the dashboard starts; the very first time takes longest) ..."
                ):
                    _store(root).at(version)
            return _cached_query(root, version, sql, tuple(params))
        except (duckdb.IOException, duckdb.InvalidInputException) as err:
            # A file listed by the glob was removed or replaced before it was read: reread the listing.
            if attempt == READ_RETRIES - 1:
                raise RuntimeError(
                    f"reading the warehouse under {root} failed {READ_RETRIES} times while it was being "
                    f"rewritten ({err}); reload the page, and check the Dagster run if it persists"
                ) from err
            _store(root).invalidate()
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def stream_csv(sql: str, params: tuple = (), batch_rows: int = 50_000) -> bytes:
    """The result of ``sql`` as CSV, written record batch by record batch from DuckDB (never the whole result
    in pandas); not cached. Bytes, because a Streamlit download holds its file in memory anyway."""
    import pyarrow.csv as pacsv

    root = str(data_dir())
    cur = _store(root).at(data_version(fs.root(root))).cursor()
    out = io.BytesIO()
    try:
        reader = cur.execute(sql, list(params)).fetch_record_batch(batch_rows)
        with pacsv.CSVWriter(out, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    finally:
        cur.close()
    return out.getvalue()


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


def where(
    f: Filters,
    *,
    date_col: str,
    state: bool = False,
    dims: tuple[str, ...] = tuple(DIM_COLUMNS),
    people: bool = True,
    gpu: bool = False,
) -> tuple:
    """(SQL condition, params) for the filters and the viewer's scope on a table whose day column is ``date_col``.

    ``people``: the table has ``cluster``/``account``/``user`` columns and is limited to ``f.scope``;
    ``people=False`` is for tables of cluster facts (capacity, drops) only. ``gpu``: the table has a
    ``gpu_type`` column (gpu_usage_daily); on ``jobs`` (``end_date``) the GPU-type filter reads ``gpu_types``.
    """
    scope_cond, scope_params = people_condition(f.scope) if people else ("true", ())
    conds = [scope_cond, f'"{date_col}" BETWEEN ? AND ?']
    params: list = [*scope_params, f.start, f.end]
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
    if f.gpu_types and (gpu or date_col == "end_date"):
        conds.append(GPU_TYPE_OF_JOB if date_col == "end_date" else f"list_contains(?::VARCHAR[], {GPU_TYPE_LABEL})")
        params += [list(f.gpu_types)] * (2 if date_col == "end_date" else 1)
    return " AND ".join(conds), tuple(_hashable(p) for p in params)


# gpu_usage_daily's type as the filter and the Explorer name it; a job matches a GPU-type filter when its
# gpu_types ("a100:2,v100:1") lists one of the types, or "(untyped)" is chosen and it has GPUs not typed there
# (sacct/usage.py splits a job's GPU-hours the same way).
GPU_TYPE_LABEL = f"CASE WHEN coalesce(gpu_type, '') = '' THEN '{UNTYPED}' ELSE gpu_type END"
_TYPED = "string_split(nullif(gpu_types, ''), ',')"
GPU_TYPE_OF_JOB = (
    f"(coalesce(list_has_any([split_part(t, ':', 1) FOR t IN {_TYPED}], ?::VARCHAR[]), false)"
    f" OR (list_contains(?::VARCHAR[], '{UNTYPED}') AND alloc_gpus >"
    f" coalesce(list_sum([TRY_CAST(split_part(t, ':', 2) AS BIGINT) FOR t IN {_TYPED}]), 0)))"
)


def _hashable(p):
    return tuple(p) if isinstance(p, list) else p


def period(grain: str, col: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown time grain {grain!r}: expected one of {GRAINS}")
    return f"CAST(date_trunc('{grain}', \"{col}\") AS DATE)"


# --- bounds and filter options ---------------------------------------------------------------


def date_bounds(scope: Scope) -> tuple[dt.date | None, dt.date | None]:
    """First and last day with any usage (in ``scope``) or drop (for the "all data" preset)."""
    cond, params = people_condition(scope)
    row = scalar_row(
        "SELECT min(d) AS lo, max(d) AS hi FROM ("
        f" SELECT min(date) AS d FROM usage_daily WHERE {cond} UNION ALL SELECT max(date) FROM usage_daily"
        f" WHERE {cond} UNION ALL SELECT min(date) FROM drops UNION ALL SELECT max(date) FROM drops)",
        tuple(_hashable(p) for p in params * 2),
    )
    return _as_date(row.get("lo")), _as_date(row.get("hi"))


def _as_date(v) -> dt.date | None:
    if v is None:
        return None
    return v.date() if isinstance(v, dt.datetime) else v


def filter_options(scope: Scope) -> dict[str, list[str]]:
    """Distinct values per sidebar filter within ``scope`` (never another user's name); states come from
    job_summary, GPU types from gpu_usage_daily, the rest from usage_daily (in memory)."""
    cond, params = people_condition(scope)
    params = tuple(_hashable(p) for p in params)
    out = {}
    for dim, col in DIM_COLUMNS.items():
        df = query(
            f'SELECT DISTINCT "{col}" AS v FROM usage_daily WHERE {cond} AND "{col}" IS NOT NULL ORDER BY 1', params
        )
        out[dim] = df["v"].tolist()
    out["state"] = query(
        f'SELECT DISTINCT "state" AS v FROM job_summary WHERE {cond} AND "state" IS NOT NULL ORDER BY 1', params
    )["v"].tolist()
    out["gpu_type"] = query(
        f"SELECT DISTINCT {GPU_TYPE_LABEL} AS v FROM gpu_usage_daily WHERE {cond} ORDER BY 1", params
    )["v"].tolist()
    return out


def admin_only(f: Filters) -> str:
    """SQL condition of tables only admins see (quarantined raw lines hold other users' records)."""
    return admin_condition(f.scope)
