"""Deterministic, streaming generator of ``sacct --parsable2`` text for demo and benchmark clusters.

What it models (see ``catalog.py`` for the cluster layout):

* jobs are generated per (seed, cluster, submit day) with their own RNG, so any
  window is reproducible without generating history from the beginning, and the
  same job has identical fields in every window that returns it;
* two streams per day: "short" jobs whose whole life (submit to end) is under a
  day, and "long" jobs (arrays, requeues, multi-day limits) living up to
  ``MAX_LIFE_DAYS``. A window therefore needs the short jobs of the day before
  it and the long jobs of the ``MAX_LIFE_DAYS`` days before it;
* window semantics of real sacct (as_mysql_jobacct_process.c): ``-S s -E e``
  returns every job with ``Eligible < e`` and (``End >= s`` or not ended), plus
  all its steps;
* RUNNING/PENDING are relative to ``now``: a job submitted after ``now`` does not
  exist yet, one not started by ``now`` is PENDING, one not ended is RUNNING;
* job ids: each day owns a block of raw ids (``id_stride`` per day, wrapping at
  Slurm's MaxJobId), short jobs in the lower half, long jobs in the upper half,
  so ids increase within a stream but the two streams interleave in time;
* array tasks ``A_i`` get their own raw ids, the last task to start keeps ``A``;
  a throttled task becomes eligible when a slot frees; tasks not started by
  ``now`` are one pending row ``A_[lo-hi%t]`` with JobIDRaw ``A``. Deliberate
  deviation: real 22.05 omits a throttled remainder from -S/-E queries (its
  Eligible is Unknown, shown only by ``-j``); we print it (Eligible=Unknown, as
  in the ``-j`` capture) in every window from its submit on, so parsers meet it;
* ``--duplicates``: a requeued job's earlier run is its own REQUEUED row (same
  JobIDRaw, its own steps); the final run's Submit is the requeue time.

Output matches the real Slurm 22.05.8 captures in slurm_assets_tests/fixtures/
(column by column: empty User/Partition/QOS/ReqMem on steps, Group = user,
``SchedMain,StartRecieved`` flags, exit codes per state): ``Unknown``/``None`` time sentinels,
``None assigned`` node lists, ``CANCELLED by <uid>`` on job rows, sorted TRES
strings with typed GRES, MaxRSS in K (bytes with ``--noconvert``), and TotalCPU
as ``MM:SS.mmm`` / ``HH:MM:SS`` / ``D-HH:MM:SS``.

Where each part lives: ``jobmodel.py`` draws the jobs, ``window.py`` decides which a window returns,
``render.py`` prints their rows (values spelled by ``formats.py``); this module streams windows to files.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from slurm_assets.demo.formats import DAY, day_start, fmt_ts
from slurm_assets.demo.jobmodel import MAX_LIFE_DAYS, SHORT_LIFE_S, DemoConfig, iter_units
from slurm_assets.demo.render import Renderer, header_line, resolve_fields
from slurm_assets.demo.window import candidates, in_window, iter_window, window_days

__all__ = [
    "DAY",
    "MAX_LIFE_DAYS",
    "SHORT_LIFE_S",
    "DemoConfig",
    "day_start",
    "fmt_ts",
    "header_line",
    "iter_lines",
    "iter_units",
    "iter_window",
    "resolve_fields",
    "write_days",
    "write_sacct",
]

CHUNK_LINES = 4096


# --------------------------------------------------------------------------- streaming writers


def iter_lines(
    cfg: DemoConfig,
    start: int,
    end: int,
    fields: tuple[str, ...],
    *,
    duplicates: bool = False,
    noconvert: bool = False,
    allocations_only: bool = False,
) -> Iterator[str]:
    """Data lines (no header, no newline) of ``sacct -S start -E end`` for one cluster."""
    renderer = Renderer(cfg.cluster, fields, noconvert=noconvert, now=cfg.now, allocations_only=allocations_only)
    for job, status in iter_window(cfg, start, end, duplicates=duplicates):
        yield from renderer.lines(job, status)


def write_sacct(
    out: BinaryIO,
    cfgs: Iterable[DemoConfig],
    start: int,
    end: int,
    fields: tuple[str, ...],
    *,
    duplicates: bool = False,
    noconvert: bool = False,
    allocations_only: bool = False,
    header: bool = True,
) -> int:
    """Write header and lines for each cluster to ``out`` in chunks; return the number of data lines."""
    n = 0
    if header:
        out.write((header_line(fields) + "\n").encode())
    for cfg in cfgs:
        buf: list[str] = []
        for line in iter_lines(
            cfg, start, end, fields, duplicates=duplicates, noconvert=noconvert, allocations_only=allocations_only
        ):
            buf.append(line)
            if len(buf) >= CHUNK_LINES:
                out.write(("\n".join(buf) + "\n").encode())
                n += len(buf)
                buf.clear()
        if buf:
            out.write(("\n".join(buf) + "\n").encode())
            n += len(buf)
    return n


def write_days(
    cfg: DemoConfig,
    first: dt.date,
    last: dt.date,
    fields: tuple[str, ...],
    open_day: Callable[[dt.date], BinaryIO],
    *,
    duplicates: bool = False,
    noconvert: bool = False,
    allocations_only: bool = False,
    header: bool = True,
) -> dict[dt.date, int]:
    """One file per UTC day ``first..last``, byte-identical to ``write_sacct`` with ``-S d -E d+1`` per day.

    Each job is generated and rendered once, however many day windows it spans
    (a per-day loop regenerates up to ``MAX_LIFE_DAYS`` of history for every
    day). ``open_day(d)`` returns a binary file; it is closed here when day
    ``d`` is complete, at most ``MAX_LIFE_DAYS + 2`` are open at once. Returns
    data lines per day.
    """
    renderer = Renderer(cfg.cluster, fields, noconvert=noconvert, now=cfg.now, allocations_only=allocations_only)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    windows = {d: (day_start(d), day_start(d) + DAY) for d in days}
    plans = {d: {(sd, st) for sd, streams in window_days(*windows[d], cfg.now) for st in streams} for d in days}
    submit_days = sorted({sd for plan in plans.values() for sd, _ in plan})
    last_needed = {d: max((sd for sd, _ in plans[d]), default=first) for d in days}
    head = (header_line(fields) + "\n").encode()
    files: dict[dt.date, BinaryIO] = {}
    bufs: dict[dt.date, list[str]] = {}
    counts = dict.fromkeys(days, 0)

    def flush(d: dt.date) -> None:
        if bufs[d]:
            files[d].write(("\n".join(bufs[d]) + "\n").encode())
            counts[d] += len(bufs[d])
            bufs[d].clear()

    for sd in submit_days:
        for stream in ("short", "long"):
            targets = [d for d in days if (sd, stream) in plans[d]]
            if not targets:
                continue
            for d in targets:
                if d not in files:
                    files[d] = open_day(d)
                    bufs[d] = []
                    if header:
                        files[d].write(head)
            for unit in iter_units(cfg, sd, stream):
                for job, status in candidates(unit, cfg.now, duplicates):
                    lines = None
                    for d in targets:
                        if in_window(job, status, *windows[d]):
                            if lines is None:
                                lines = renderer.lines(job, status)
                            buf = bufs[d]
                            buf.extend(lines)
                            if len(buf) >= CHUNK_LINES:
                                flush(d)
        for d in [d for d in files if last_needed[d] <= sd]:
            flush(d)
            files.pop(d).close()
    for d in days:  # a window no submit day can reach still gets its (header-only) file
        if not plans[d]:
            files[d], bufs[d] = open_day(d), []
            if header:
                files[d].write(head)
    for d in list(files):
        flush(d)
        files.pop(d).close()
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m slurm_assets.demo.generate``: write demo sacct text to a file or per-day files."""
    import argparse
    import sys
    import time

    p = argparse.ArgumentParser(prog="python -m slurm_assets.demo.generate", description=main.__doc__)
    p.add_argument("--cluster", default="alpha")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs-per-day", type=int, default=300)
    p.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last UTC day, YYYY-MM-DD (inclusive)")
    p.add_argument("--now", help="ISO UTC time deciding RUNNING/PENDING (default: end of --end)")
    p.add_argument("--format", default=None, help="sacct --format list (default: sacct's default)")
    p.add_argument("--duplicates", action="store_true")
    p.add_argument("--out", type=argparse.FileType("wb"), help="one file for the whole range ('-' = stdout)")
    p.add_argument("--out-dir", help="one <day>.psv per day, as the agent's -S d -E d+1 windows see them")
    args = p.parse_args(argv)
    first, last = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    end = day_start(last) + DAY
    now = int(dt.datetime.fromisoformat(args.now).replace(tzinfo=dt.UTC).timestamp()) if args.now else end
    cfg = DemoConfig(args.cluster, now=now, seed=args.seed, jobs_per_day=args.jobs_per_day)
    try:
        fields = resolve_fields(args.format)
    except ValueError as err:
        p.error(str(err))
    began = time.monotonic()
    if args.out_dir:
        import pathlib

        folder = pathlib.Path(args.out_dir)
        folder.mkdir(parents=True, exist_ok=True)

        def open_day(d: dt.date) -> BinaryIO:
            return open(folder / f"{d.isoformat()}.psv", "wb")  # write_days closes it

        n = sum(write_days(cfg, first, last, fields, open_day, duplicates=args.duplicates).values())
    elif args.out:
        n = write_sacct(args.out, [cfg], day_start(first), end, fields, duplicates=args.duplicates)
        args.out.flush()
    else:
        p.error("give --out FILE or --out-dir DIR")
    elapsed = time.monotonic() - began
    print(f"{n} lines in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.0f} lines/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
