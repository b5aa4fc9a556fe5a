"""Writing a batch of days' tables: every file atomically, side by side, and stale clusters' files removed."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from slurm_assets.storage import warehouse

# Concurrent file writes: the fsync waits of small files overlap (bench/README.md "Figures behind the code").
WRITE_THREADS = 4


def write_days(data_dir: Path, days: list[tuple[str, dict[str, dict[str, pa.Table]]]], names: tuple[str, ...]) -> None:
    """Write ``tables[cluster][name]`` of each ``(day, tables)`` for every name; remove the ``day`` files of
    clusters no longer present. The files are written by WRITE_THREADS threads.

    Each file is still written atomically and fsynced (file and folder): waiting for
    the disk is most of a small file's cost, and the waits overlap across threads.
    """
    jobs = [
        (name, cluster, day, per_table[name])
        for day, tables in days
        for name in names
        for cluster, per_table in tables.items()
    ]
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        for done in [pool.submit(warehouse.write_partition, data_dir, *job) for job in jobs]:
            done.result()  # re-raise the first failure (the other writes finished or failed atomically)
    for day, tables in days:
        for name in names:
            for stale in warehouse.clusters_with_files(data_dir, name, day) - set(tables):
                warehouse.remove_partition(data_dir, name, stale, day)
