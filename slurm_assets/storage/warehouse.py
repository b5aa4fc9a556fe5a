"""Warehouse Parquet files and the DuckDB views over them.

Parquet is the source of truth. ``register_views`` gives any DuckDB connection
(the single writer's file, or the dashboard's in-memory read-only one) one view
per table; a table with no files yet is an empty view with the right columns,
so queries work on an empty warehouse.

On an ``s3://`` data root each file is one object (``atomic_writer`` PUTs it whole), pyarrow reads through
the root's fsspec file system, and a connection that reads the views has that file system registered
(``register_views`` does it: DuckDB here has no httpfs, ``con.register_filesystem`` serves ``s3://``).
"""

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import fs, paths
from slurm_assets.storage.atomic import STALE_AFTER_S, atomic_writer, sweep_temp_files


def write_partition(data_dir: Path, table: str, cluster: str, day: str, rows: pa.Table) -> Path:
    """Replace the (table, cluster, day) Parquet file atomically with ``rows`` cast to the table schema."""
    return _write(paths.partition_file(data_dir, table, cluster, day), table, rows)


def write_snapshot(data_dir: Path, table: str, cluster: str, rows: pa.Table) -> Path:
    """Replace a cluster's snapshot file of ``table`` (``running_jobs``) atomically, at a path that never moves."""
    return _write(paths.snapshot_file(data_dir, table, cluster), table, rows)


def _write(target: Path, table: str, rows: pa.Table) -> Path:
    schema = TABLE_SCHEMAS[table]
    with atomic_writer(target) as fh:
        pq.write_table(rows.select(schema.names).cast(schema), fh, compression="zstd")
    return target


def sweep_stale(data_dir: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temp files a killed writer left anywhere under ``warehouse/`` (hidden, never read); return them."""
    removed: list[Path] = []
    if fs.is_remote(data_dir):
        return removed  # no temp objects on S3 (atomic.atomic_writer)
    for folder, _dirs, _files in os.walk(paths.warehouse_root(data_dir)):
        removed += sweep_temp_files(Path(folder), older_than_s)
    return removed


def read_partition(data_dir: Path, table: str, cluster: str, day: str, columns: list[str] | None = None) -> pa.Table:
    """One (table, cluster, day) Parquet file (only ``columns`` if given), or an empty table with the schema."""
    path = paths.partition_file(data_dir, table, cluster, day)
    schema = TABLE_SCHEMAS[table]
    if fs.is_remote(path):
        rows = (
            pq.read_table(fs.key(path), schema=schema, columns=columns, filesystem=path.fs)
            if path.exists()
            else schema.empty_table()
        )
    else:
        rows = pq.read_table(path, schema=schema, columns=columns) if path.exists() else schema.empty_table()
    return rows.select(columns) if columns else rows


def read_days(data_dir: Path, table: str, days: list[str], columns: list[str]) -> pa.Table:
    """``columns`` of all clusters' ``table`` rows of the given partition days (checks read only what they test)."""
    parts = [
        read_partition(data_dir, table, cluster, day, columns)
        for day in days
        for cluster in sorted(clusters_with_files(data_dir, table, day))
    ]
    return pa.concat_tables(parts) if parts else TABLE_SCHEMAS[table].empty_table().select(columns)


def clusters_with_files(data_dir: Path, table: str, day: str) -> set[str]:
    """Clusters that have a ``table`` file for ``day``."""
    return {paths.cluster_day_of(p)[0] for p in paths.partition_files(data_dir, table, day)}


def remove_partition(data_dir: Path, table: str, cluster: str, day: str) -> None:
    """Delete a (table, cluster, day) file if present (a cluster that has no rows left that day)."""
    paths.partition_file(data_dir, table, cluster, day).unlink(missing_ok=True)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def empty_select(table: str) -> str:
    """An empty SELECT with ``table``'s columns and types."""
    cols = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in TABLE_SCHEMAS[table])
    return f"SELECT {cols} WHERE false"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int16(t):
        return "SMALLINT"
    if pa.types.is_int8(t):
        return "TINYINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    return "VARCHAR"


def table_select(data_dir: Path, table: str) -> str:
    """A SELECT over every Parquet file of ``table`` (or an empty, typed SELECT)."""
    folder = paths.table_dir(data_dir, table)
    if not any(folder.glob(paths.ANY_TABLE_FILE)):  # cluster=<c>/date=<D>/ or cluster=<c>/latest/
        return empty_select(table)
    glob = _sql_str(str(folder / paths.ANY_TABLE_FILE))
    return f"SELECT * FROM read_parquet({glob}, hive_partitioning = false, union_by_name = true)"


def view_select(data_dir: Path, table: str) -> str:
    """The SELECT of ``table``'s view: every file's rows; for ``running_jobs`` each cluster's latest snapshot."""
    select = table_select(fs.resolve(data_dir), table)
    if table == "running_jobs":
        select = (
            f"SELECT * FROM ({select}) r WHERE snapshot_time = "
            "(SELECT max(snapshot_time) FROM (" + select + ") s WHERE s.cluster = r.cluster)"
        )
    return select


def register_views(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Create or replace one view per table on ``con``; ``running_jobs`` keeps each cluster's latest snapshot."""
    register_filesystem(con, data_dir)
    for table in TABLE_SCHEMAS:
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {view_select(data_dir, table)}')


def register_filesystem(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Let ``con`` read ``s3://`` paths of a remote data root through its fsspec file system (no-op on disk).

    Any connection that queries the views of a remote root needs this first, the DuckDB file's included
    (the views are stored, the file system is not)."""
    root = fs.root(data_dir)
    if not fs.is_remote(root):
        return
    duck_fs = fs.duckdb_filesystem(root)
    if duck_fs.protocol[0] in con.list_filesystems():  # maybe another endpoint's: this root's wins
        con.unregister_filesystem(duck_fs.protocol[0])
    con.register_filesystem(duck_fs)


def connect_readonly(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the table views: never touches the DuckDB file, so never a lock."""
    con = duckdb.connect(":memory:")
    register_views(con, data_dir)
    return con
