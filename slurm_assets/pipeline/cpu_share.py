"""DuckDB's share of the CPUs in a run worker that runs side by side with others."""

import os

from slurm_assets.sacct import units


def share_machine(processes: int) -> None:
    """In one of ``processes`` run workers side by side (``python -m slurm_assets process --workers``): a
    1/processes share of the CPUs for DuckDB (more threads than CPUs side by side is slower). Each worker keeps
    the whole batch budget: halving it cost more CPU than the memory it saved (bench/README.md "Figures behind the code").
    """
    units.THREADS = max(1, (os.cpu_count() or 1) // processes)
