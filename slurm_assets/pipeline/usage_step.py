"""The usage step: the ``jobs`` of each partition day apportioned to the UTC days they ran (``sacct/usage.py``).

Files sit under the end day's folder; the ``date`` column is the usage day, so
summing ``usage_daily`` by ``date`` over all files gives usage per day.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from slurm_assets.pipeline.write import write_days
from slurm_assets.sacct import usage
from slurm_assets.sacct.catalog import SPECS, USAGE_STEP, tables_of
from slurm_assets.storage import state, warehouse

# Jobs apportioned per batch: DuckDB's fixed cost is paid once per batch, memory stays bounded.
BATCH_JOB_ROWS = 500_000


def process_usage_days(
    data_dir: Path, days: Iterable[str], threads: int | None = None
) -> Iterator[tuple[str, dict[str, dict[str, pa.Table]]]]:
    """Apportion and write the jobs of each partition day (jobs that ENDED on it), in order, batches of days
    together; yields ``(day, {cluster: {table: rows}})``."""
    pending: list[tuple[str, dict[str, pa.Table]]] = []
    rows = 0
    for day in days:
        jobs = {
            c: warehouse.read_partition(data_dir, "jobs", c, day)
            for c in sorted(warehouse.clusters_with_files(data_dir, "jobs", day))
        }
        pending.append((day, jobs))
        rows += sum(t.num_rows for t in jobs.values())
        if rows >= BATCH_JOB_ROWS:
            yield from _usage_batch(data_dir, pending, threads)
            pending, rows = [], 0
    if pending:
        yield from _usage_batch(data_dir, pending, threads)


def _usage_batch(data_dir: Path, pending: list[tuple[str, dict[str, pa.Table]]], threads: int | None):
    results = iter(usage.apportion_usage_groups([t for _, jobs in pending for t in jobs.values()], threads))
    days = []
    for day, jobs in pending:
        built = {}
        for cluster in jobs:
            usage_rows, gpu_rows = next(results)
            built[cluster] = {
                "usage_daily": usage_rows.sort_by([(c, "ascending") for c in SPECS["usage_daily"].sort_key]),
                "gpu_usage_daily": gpu_rows.sort_by([(c, "ascending") for c in SPECS["gpu_usage_daily"].sort_key]),
            }
        days.append((day, built))
    write_days(data_dir, days, tables_of(USAGE_STEP))
    state.promote_built(data_dir, [day for day, _ in pending])  # the last step of these days: processed
    yield from days
