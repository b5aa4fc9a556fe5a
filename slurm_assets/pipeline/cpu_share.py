"""DuckDB's share of the CPUs in a run worker that runs side by side with others."""

import os

from slurm_assets.sacct import units


def share_machine(processes: int) -> None:
    """In one of ``processes`` run workers side by side (``python -m slurm_assets process --workers``): a
    1/processes share of the CPUs for DuckDB (two workers on 2 CPUs with 2 DuckDB threads each: ~20 % slower).
    Each worker keeps the whole batch budget: halving it cost ~12 % more CPU on the 1M-jobs year for
    ~230 MiB less memory (bench/README.md item 8).
    """
    units.THREADS = max(1, (os.cpu_count() or 1) // processes)
