"""Protects the single-writer rule (DESIGN.md "Storage"): ``publish_views`` puts one view per table into the
DuckDB file, re-publishing is harmless, and dashboard readers (in-memory DuckDB over Parquet) keep working
while another process holds the file open for writing, where opening the file itself would fail."""

import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import paths, warehouse
from slurm_assets.storage.duckdb import publish_views


def write_usage(data_dir):
    rows = pa.Table.from_pylist(
        [{"cluster": "alpha", "user": "ann", "cpu_hours": 2.5}], schema=TABLE_SCHEMAS["usage_daily"]
    )
    warehouse.write_partition(data_dir, "usage_daily", "alpha", "2024-05-01", rows)


def test_publish_views(tmp_path):
    counts = publish_views(tmp_path)
    assert set(counts) == set(TABLE_SCHEMAS) and not any(counts.values())  # empty warehouse: typed empty views
    write_usage(tmp_path)
    assert publish_views(tmp_path)["usage_daily"] == 1
    con = duckdb.connect(str(paths.duckdb_path(tmp_path)), read_only=True)
    assert con.execute("SELECT sum(cpu_hours) FROM usage_daily").fetchone() == (2.5,)
    con.close()


def test_readers_never_touch_the_file_a_writer_holds(tmp_path):
    write_usage(tmp_path)
    publish_views(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(paths.duckdb_path(tmp_path))!r})  # the writer's lock
            con.execute("CREATE OR REPLACE TABLE busy AS SELECT 1")
            print("locked", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        # the dashboard's way: fine while the writer holds the file
        assert warehouse.connect_readonly(tmp_path).execute("SELECT count(*) FROM usage_daily").fetchone() == (1,)
        # opening the file instead would fail: that is why readers never do
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(paths.duckdb_path(tmp_path)), read_only=True)
    finally:
        holder.communicate("", timeout=30)
