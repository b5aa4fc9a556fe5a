"""The single DuckDB writer: publishes the table views into ``DATA_DIR/slurm_usage.duckdb``.

DuckDB allows one writer process and blocks readers while it writes (DESIGN.md
"Storage"), so only the ``warehouse_duckdb`` asset (Dagster pool ``duckdb_writer``,
limit 1) calls this. The views read the Parquet files, which stay the source of
truth; the dashboard never opens this file (``warehouse.connect_readonly``).
"""

import time
from pathlib import Path

import duckdb

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import paths, warehouse


# How long to wait for another process's lock on the DuckDB file (a second `process` run, a daemon run,
# an operator's `duckdb` CLI session) before failing: DuckDB itself fails at once.
LOCK_WAIT_S = 120.0


def connect_writer(target: Path, wait_s: float = LOCK_WAIT_S) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file for writing, retrying while another process holds its lock (up to ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            return duckdb.connect(str(target))
        except duckdb.IOException as err:
            if "lock" not in str(err).lower() or time.monotonic() + delay > deadline:
                raise duckdb.IOException(
                    f"{target}: {err} (waited {wait_s:.0f} s; another process keeps the DuckDB file open for "
                    "writing: stop it, or rerun `python -m slurm_assets process` when it is done)"
                ) from err
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def publish_views(data_dir: Path) -> dict[str, int]:
    """(Re)create one view per table in the DuckDB file; return ``{table: rows}`` as the views see them."""
    target = paths.duckdb_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    con = connect_writer(target)
    try:
        con.execute("BEGIN TRANSACTION")
        warehouse.register_views(con, data_dir)
        con.execute("COMMIT")
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLE_SCHEMAS}
    finally:
        con.close()
