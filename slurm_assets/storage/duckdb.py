"""The single DuckDB writer: publishes the table views into ``DATA_DIR/slurm_usage.duckdb``.

DuckDB allows one writer process and blocks readers while it writes (DESIGN.md
"Storage"), so only the ``warehouse_duckdb`` asset (Dagster pool ``duckdb_writer``,
limit 1) calls this. The views read the Parquet files, which stay the source of
truth; the dashboard never opens this file (``warehouse.connect_readonly``).
"""

from pathlib import Path

import duckdb

from slurm_assets.sacct.fields import TABLE_SCHEMAS
from slurm_assets.storage import paths, warehouse


def publish_views(data_dir: Path) -> dict[str, int]:
    """(Re)create one view per table in the DuckDB file; return ``{table: rows}`` as the views see them."""
    target = paths.duckdb_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute("BEGIN TRANSACTION")
        warehouse.register_views(con, data_dir)
        con.execute("COMMIT")
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLE_SCHEMAS}
    finally:
        con.close()
