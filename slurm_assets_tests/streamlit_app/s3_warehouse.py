"""A warehouse on S3 (the moto server of slurm_assets_tests/s3.py) for the dashboard tests, and the oracle:
DuckDB over the very Parquet objects, fetched from the bucket and read with pyarrow (not through the
dashboard's mirror or copy)."""

import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import fs, paths, warehouse


def upload(local: Path, url: str) -> None:
    """Copy every file under ``local`` to the data root ``url`` (s3://bucket/prefix), keys as the layout."""
    root = fs.root(url)
    files = sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith("."))
    root.fs.put([str(p) for p in files], [f"{fs.key(root)}/{p.relative_to(local).as_posix()}" for p in files])


def oracle(url: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per table over the objects now under ``url``'s warehouse."""
    root = fs.root(url)
    con = duckdb.connect(":memory:")
    for table in TABLE_SCHEMAS:
        folder = paths.table_dir(root, table)
        keys = sorted(folder.fs.glob(f"{fs.key(folder)}/{paths.ANY_TABLE_FILE}"))
        blobs = folder.fs.cat(keys) if keys else {}
        parts = [pq.read_table(io.BytesIO(blobs[k]), schema=TABLE_SCHEMAS[table]) for k in keys]
        rows = pa.concat_tables(parts) if parts else None
        if rows is None:
            con.execute(f'CREATE VIEW "{table}" AS {warehouse.empty_select(table)}')
            continue
        con.register(f"_{table}", rows)
        if table == "running_jobs":  # each cluster's latest snapshot, as warehouse.view_select
            con.execute(
                f'CREATE VIEW "{table}" AS SELECT * FROM "_{table}" r WHERE snapshot_time = '
                f'(SELECT max(snapshot_time) FROM "_{table}" s WHERE s.cluster = r.cluster)'
            )
        else:
            con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM "_{table}"')
    return con


@dataclass
class S3Warehouse:
    """Like the conftest's ``Warehouse`` (``root``, ``first``, ``last``, ``sql``), with ``root`` an s3:// URL."""

    root: str
    first: object
    last: object

    def sql(self, sql: str, params: list | None = None) -> pd.DataFrame:
        con = oracle(self.root)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()

    def one(self, sql: str, params: list | None = None):
        return self.sql(sql, params).iloc[0, 0]
