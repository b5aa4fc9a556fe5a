"""DuckDB's share of the CPUs in a run that runs side by side with others (passed down to ``units.connect``)."""

import os


def threads_for(processes: int) -> int:
    """DuckDB threads for one of ``processes`` runs side by side (``process --workers``, the daemon's queue): a
    1/processes share of the CPUs for DuckDB (more threads than CPUs side by side is slower). Each worker keeps
    the whole batch budget: halving it cost more CPU than the memory it saved (bench/README.md "Figures behind the code").
    """
    return max(1, (os.cpu_count() or 1) // processes)
