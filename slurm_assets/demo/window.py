"""Which jobs a ``sacct -S start -E end`` window returns at the generator's ``now`` (real sacct's semantics).

Apart from the rendering: ``write_days`` asks these questions once per job for many day windows
and renders only the jobs some window keeps.
"""

import datetime as dt
from collections.abc import Iterator

from slurm_assets.demo.formats import DAY
from slurm_assets.demo.jobmodel import MAX_LIFE_DAYS, DemoConfig, Job, iter_units


def window_days(start: int, end: int, now: int) -> Iterator[tuple[dt.date, tuple[str, ...]]]:
    """Submit days (and which streams) that can hold jobs active in [start, end) as seen at ``now``."""
    epoch = dt.date(1970, 1, 1)
    # A job still running or pending at ``now`` matches any later window, so
    # look back from the earlier of window start and now.
    first_active = min(start, now) // DAY
    last = (min(end, now + 1) - 1) // DAY
    for d in range(first_active - MAX_LIFE_DAYS, last + 1):
        streams = ("short", "long") if d >= first_active - 1 else ("long",)
        yield epoch + dt.timedelta(days=d), streams


PENDING, RUNNING, FINAL = 0, 1, 2


def _status(job: Job, now: int) -> int | None:
    """PENDING, RUNNING or FINAL at ``now``; None for a job not submitted yet."""
    if job.submit > now:
        return None
    if job.start is None:
        return PENDING if job.end > now else FINAL
    if job.start > now:
        return PENDING
    if job.end > now:
        return RUNNING
    return FINAL


def iter_window(cfg: DemoConfig, start: int, end: int, *, duplicates: bool = False) -> Iterator[tuple[Job, int]]:
    """``(job, status)`` for every job sacct would return for ``-S start -E end`` at ``cfg.now``.

    A job is returned when ``Eligible < end`` and (``End >= start`` or not ended
    at ``now``). Array tasks not started by ``now`` come back as one pending
    remainder Job. ``duplicates`` keeps REQUEUED earlier runs (``sacct -D``).
    """
    now = cfg.now
    for day, streams in window_days(start, end, now):
        for stream in streams:
            for unit in iter_units(cfg, day, stream):
                for job, status in candidates(unit, now, duplicates):
                    if in_window(job, status, start, end):
                        yield job, status


def candidates(unit: list[Job], now: int, duplicates: bool) -> Iterator[tuple[Job, int]]:
    """The records of one unit that exist at ``now``, before any window applies."""
    pending_tasks = []
    for job in unit:
        status = _status(job, now)
        if status is None:
            continue
        if job.state == "REQUEUED" and not duplicates and status == FINAL:
            continue
        if status == PENDING and job.task_id is not None:
            pending_tasks.append(job)
            continue
        yield job, status
    if pending_tasks:
        yield remainder(pending_tasks), PENDING


def in_window(job: Job, status: int, start: int, end: int) -> bool:
    """sacct's window test: eligible before ``end`` and not ended before ``start``."""
    if job.eligible is None:  # the throttled array remainder: kept from its submit on
        return job.submit < end
    return job.eligible < end and (status != FINAL or job.end >= start)


def remainder(tasks: list[Job]) -> Job:
    """The one pending row ``A_[lo-hi%t]`` standing for an array's tasks not started by ``now``."""
    head = tasks[0]
    rem = head.copy()
    lo, hi = tasks[0].task_id, tasks[-1].task_id
    rng = f"{lo}-{hi}" if hi > lo else f"{lo}"
    rem.job_id = f"{head.array_id}_[{rng}%{head.throttle}]" if head.throttle else f"{head.array_id}_[{rng}]"
    rem.raw_id = head.array_id
    rem.task_id = None
    rem.start = None
    # A throttled remainder has never been eligible (Eligible=Unknown, testbed capture).
    rem.eligible = None if head.throttle else head.submit
    return rem
