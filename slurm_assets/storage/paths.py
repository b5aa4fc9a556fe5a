"""The on-disk layout under DATA_DIR (DESIGN.md "Storage"); the only place paths are built.

    landing/<cluster>/<YYYY-MM-DD>/<drop_id>.psv.gz      raw sacct text (gzip)
    landing/<cluster>/<YYYY-MM-DD>/<drop_id>.manifest.json   written last: marks the drop complete
    warehouse/<table>/cluster=<cluster>/date=<YYYY-MM-DD>/part-0.parquet
    warehouse/running_jobs/cluster=<cluster>/latest/part-0.parquet   (a snapshot, replaced in place)
    warehouse/_monthly/<table>/cluster=<cluster>/month=<YYYY-MM>/part-<digest>.parquet   (a month's daily files: storage/compact.py)
    quarantine/                                           (the quarantine table lives in warehouse/quarantine)
    slurm_usage.duckdb                                    DuckDB views over the Parquet (one writer)

Cluster names and days come from requests and file names, so both are validated
before they become path components. ``data_dir`` is a local folder or ``s3://bucket/prefix``
(``fs.root``): the same layout, as object keys below the prefix.
"""

import datetime as dt
import re
from pathlib import Path

from slurm_assets import settings
from slurm_assets.storage import fs

CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DUCKDB_FILE = "slurm_usage.duckdb"


class InvalidNameError(ValueError):
    """A cluster name or day that must not become part of a path."""


def check_cluster_name(name: str) -> str:
    """Return ``name`` if it is a safe cluster name (letters, digits, ``-_.``, 1-64 chars, no ``..``)."""
    # fullmatch, not match: "$" also matches before a trailing newline, so "alpha\n" passed.
    if not isinstance(name, str) or not CLUSTER_NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid cluster name {name!r}: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit, without '..'"
        )
    return name


def check_day(day: str) -> str:
    """Return ``day`` if it is an ISO date ``YYYY-MM-DD``."""
    try:
        # The pattern first: fromisoformat also reads ISO week dates ("2026-W10-2", also 10 characters),
        # which were stored and never processed.
        if not isinstance(day, str) or not DAY_RE.fullmatch(day):
            raise ValueError
        dt.date.fromisoformat(day)
    except ValueError as err:
        raise InvalidNameError(f"invalid day {day!r}: expected YYYY-MM-DD") from err
    return day


def landing_root(data_dir: Path) -> Path:
    return fs.root(data_dir) / "landing"


def landing_day_dir(data_dir: Path, cluster: str, day: str) -> Path:
    return landing_root(data_dir) / check_cluster_name(cluster) / check_day(day)


def warehouse_root(data_dir: Path) -> Path:
    return fs.root(data_dir) / "warehouse"


def table_dir(data_dir: Path, table: str) -> Path:
    return warehouse_root(data_dir) / table


def partition_file(data_dir: Path, table: str, cluster: str, day: str) -> Path:
    """The one Parquet file holding ``table`` rows for (cluster, partition day)."""
    return (
        table_dir(data_dir, table)
        / f"cluster={check_cluster_name(cluster)}"
        / f"date={check_day(day)}"
        / "part-0.parquet"
    )


def snapshot_file(data_dir: Path, table: str, cluster: str) -> Path:
    """The one Parquet file holding a snapshot table's rows for ``cluster`` (``running_jobs``).

    Its path never changes, so a new snapshot replaces it (``os.replace``) and a reader that
    listed the files an instant before still opens a whole file: deleting an old day's file
    instead raced readers ("No such file").
    """
    return table_dir(data_dir, table) / f"cluster={check_cluster_name(cluster)}" / "latest" / "part-0.parquet"


MONTHLY_DIR = "_monthly"  # not a table name: no view or table listing globs it
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def monthly_dir(data_dir: Path, table: str, cluster: str, month: str) -> Path:
    """The folder of a daily table's compact of (cluster, month ``YYYY-MM``) (storage/compact.py)."""
    if not isinstance(month, str) or not MONTH_RE.fullmatch(month):
        raise InvalidNameError(f"invalid month {month!r}: expected YYYY-MM")
    return warehouse_root(data_dir) / MONTHLY_DIR / table / f"cluster={check_cluster_name(cluster)}" / f"month={month}"


def monthly_file(data_dir: Path, table: str, cluster: str, month: str, sources_digest: str) -> Path:
    """The compact of (cluster, month) made of the daily files whose names and stats hash to ``sources_digest``."""
    if not re.fullmatch(r"[0-9a-f]{16}", sources_digest):
        raise InvalidNameError(f"invalid sources digest {sources_digest!r}: expected 16 hex digits")
    return monthly_dir(data_dir, table, cluster, month) / f"part-{sources_digest}.parquet"


def monthly_files(data_dir: Path, table: str) -> list[Path]:
    """Every compact of ``table``, sorted."""
    return sorted((warehouse_root(data_dir) / MONTHLY_DIR / table).glob("cluster=*/month=*/part-*.parquet"))


def duckdb_path(data_dir: Path) -> Path:
    """``DATA_DIR/slurm_usage.duckdb``; for an ``s3://`` root in its local folder (``settings.remote_local_dir``)."""
    return local_dir(data_dir) / DUCKDB_FILE


def local_dir(data_dir: Path) -> Path:
    """``DATA_DIR`` itself on disk; for an ``s3://`` root the local folder of what must be a local file."""
    root = fs.root(data_dir)
    return settings.remote_local_dir(str(root)) if fs.is_remote(root) else root


# --- the inverse: what the folder names say (the only place they are parsed) ---------------------------

PART_FILE = "part-0.parquet"
ANY_TABLE_FILE = f"cluster=*/*/{PART_FILE}"  # a table's files, partitioned (date=<D>) or snapshot (latest)


def partition_files(data_dir: Path, table: str, day: str | None = None) -> list[Path]:
    """The Parquet files of a daily table (of one partition day, or all), sorted."""
    day_glob = "*" if day is None else check_day(day)
    return sorted(table_dir(data_dir, table).glob(f"cluster=*/date={day_glob}/{PART_FILE}"))


def cluster_day_of(path: Path) -> tuple[str, str]:
    """``(cluster, day)`` of a ``partition_file`` path (the inverse); InvalidNameError if it is not one."""
    path = fs.root(path)
    cluster, day = path.parent.parent.name, path.parent.name
    if not (cluster.startswith("cluster=") and day.startswith("date=")):
        raise InvalidNameError(f"{path} is not a warehouse partition file (cluster=<c>/date=<D>/{PART_FILE})")
    return check_cluster_name(cluster[len("cluster=") :]), check_day(day[len("date=") :])


def landing_cluster_day(day_dir: Path) -> tuple[str, str]:
    """``(cluster, day)`` of a ``landing_day_dir`` folder (the inverse); InvalidNameError for junk names."""
    day_dir = fs.root(day_dir)
    return check_cluster_name(day_dir.parent.name), check_day(day_dir.name)
