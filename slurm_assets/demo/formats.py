"""sacct's value formats (times, durations, CPU times, memory, hostlists) as the demo clusters print them.

Kept apart from the job model: the model draws numbers, these functions only spell them the way
Slurm 22.05 does under ``TZ=UTC``, and the renderer and the model both use them.
"""

import datetime as dt

DAY = 86400

_HMS: list[str] = []


def _hms_table() -> list[str]:
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
    return _HMS


_DAY_PREFIX: dict[int, str] = {}


def fmt_ts(t: int) -> str:
    """Epoch seconds as sacct prints them under TZ=UTC: ``2026-11-25T17:33:07``."""
    d, r = divmod(t, DAY)
    prefix = _DAY_PREFIX.get(d)
    if prefix is None:
        prefix = _DAY_PREFIX[d] = (dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat() + "T"
    return prefix + _hms_table()[r]


def fmt_duration(s: int) -> str:
    """Seconds as sacct prints Elapsed/Timelimit: ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    d, r = divmod(int(s), DAY)
    return f"{d}-{_hms_table()[r]}" if d else _hms_table()[r]


def fmt_cpu(s: float) -> str:
    """Seconds as sacct prints TotalCPU/UserCPU/SystemCPU: ``MM:SS.mmm`` under an hour, else (D-)HH:MM:SS."""
    if s < 3600:
        ms = round(s * 1000)
        m, ms = divmod(ms, 60000)
        if m >= 60:
            return _hms_table()[3600]
        if not ms:
            return "00:00:00"  # sacct prints zero CPU time as 00:00:00, not 00:00.000
        return f"{m:02d}:{ms // 1000:02d}.{ms % 1000:03d}"
    return fmt_duration(int(s))


_UNITS = "KMGTPE"


def fmt_mem(value: int, unit: int) -> str:
    """Memory as sacct prints it by default: integer in the largest exact unit (``12376K``, ``4G``).

    ``unit`` is the index in ``KMGTPE`` of ``value``'s unit; sacct converts only
    while the value divides by 1024 (CONVERT_NUM_UNIT_EXACT).
    """
    while value and value % 1024 == 0 and unit < len(_UNITS) - 1:
        value //= 1024
        unit += 1
    return f"{value}{_UNITS[unit]}"


def hostlist(prefix: str, first: int, count: int) -> str:
    """Consecutive nodes as a Slurm hostlist: ``cn017`` or ``cn[017-020]`` (``first`` is 1-based)."""
    if count == 1:
        return f"{prefix}{first:03d}"
    return f"{prefix}[{first:03d}-{first + count - 1:03d}]"


def day_start(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY
