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
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import BinaryIO

from slurm_assets.demo import catalog

from slurm_assets.demo.jobmodel import (
    DAY,
    MAX_LIFE_DAYS,
    SHORT_LIFE_S,
    DemoConfig,
    Job,
    Step,
    day_start,
    fmt_cpu,
    fmt_duration,
    fmt_mem,
    fmt_ts,
    iter_units,
)

__all__ = ["DAY", "MAX_LIFE_DAYS", "SHORT_LIFE_S", "DemoConfig", "day_start", "fmt_ts", "header_line", "iter_lines",
           "iter_units", "resolve_fields", "write_days", "write_sacct"]

CHUNK_LINES = 4096


# --------------------------------------------------------------------------- now + window


def _window_days(start: int, end: int, now: int) -> Iterator[tuple[dt.date, tuple[str, ...]]]:
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
    for day, streams in _window_days(start, end, now):
        for stream in streams:
            for unit in iter_units(cfg, day, stream):
                for job, status in _candidates(unit, now, duplicates):
                    if _in_window(job, status, start, end):
                        yield job, status


def _candidates(unit: list[Job], now: int, duplicates: bool) -> Iterator[tuple[Job, int]]:
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
        yield _remainder(pending_tasks), PENDING


def _in_window(job: Job, status: int, start: int, end: int) -> bool:
    if job.eligible is None:  # the throttled array remainder: kept from its submit on
        return job.submit < end
    return job.eligible < end and (status != FINAL or job.end >= start)


def _remainder(tasks: list[Job]) -> Job:
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


# --------------------------------------------------------------------------- rendering

# Fields the generator fills; every other sacct field prints empty.
_FILLED = [
    "Account", "AllocCPUS", "AllocNodes", "AllocTRES", "Cluster", "CPUTime", "CPUTimeRAW", "DerivedExitCode",
    "Elapsed", "ElapsedRaw", "Eligible", "End", "ExitCode", "Flags", "GID", "Group", "JobID", "JobIDRaw",
    "JobName", "MaxRSS", "AveRSS", "MaxVMSize", "NCPUS", "NNodes", "NodeList", "NTasks", "Partition",
    "Priority", "QOS", "QOSRAW", "Reason", "ReqCPUS", "ReqMem", "ReqNodes", "ReqTRES", "Reserved", "Start",
    "State", "Submit", "Suspended", "SystemCPU", "Timelimit", "TimelimitRaw", "TotalCPU", "TRESUsageInTot",
    "UID", "User", "UserCPU", "WorkDir", "SubmitLine", "TRESUsageInMax",
]
_SLOT = {name: i for i, name in enumerate(_FILLED)}
_EMPTY_SLOT = len(_FILLED)
_START, _END = _SLOT["Start"], _SLOT["End"]


def resolve_fields(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """Canonical sacct field names for a ``--format`` value (``jobid,JobName%30``); ValueError if unknown."""
    if spec is None:
        return catalog.DEFAULT_FORMAT
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        name = item.strip().split("%", 1)[0]
        if not name:
            continue
        canon = catalog.FIELD_BY_LOWER.get(name.lower())
        if canon is None:
            raise ValueError(f'Invalid field requested: "{name}"')
        out.append(canon)
    return tuple(out)


def header_line(fields: Iterable[str]) -> str:
    """The ``--parsable2`` header: canonical names joined by ``|`` (no trailing ``|``)."""
    return "|".join(fields)


class Renderer:
    """Turns (job, status) into ``--parsable2`` lines for a fixed field list."""

    def __init__(self, cluster: str, fields: tuple[str, ...], *, noconvert: bool, now: int,
                 allocations_only: bool):
        self.cluster = cluster
        self.fields = fields
        self.noconvert = noconvert
        self.now = now
        self.allocations_only = allocations_only
        idx = [_SLOT.get(f, _EMPTY_SLOT) for f in fields]
        getter = itemgetter(*idx)
        self._pick = (lambda row: (getter(row),)) if len(idx) == 1 else getter
        # Costly columns are only formatted when asked for.
        want = set(fields)
        self._cputime = "CPUTime" in want
        self._usercpu = "UserCPU" in want
        self._syscpu = "SystemCPU" in want
        self._usage = "TRESUsageInTot" in want
        self._reserved = "Reserved" in want
        self._tres_cache: dict[tuple, str] = {}
        self._step_tres_cache: dict[tuple, str] = {}
        self._uid = {u: str(catalog.UID_BASE + i) for i, u in enumerate(catalog.USERS)}
        self._gid = {a: str(catalog.GID_BASE + i) for i, a in enumerate(catalog.ACCOUNTS)}

    def _mem_mb(self, mb: int) -> str:
        return f"{mb}M" if self.noconvert else fmt_mem(mb, 1)

    def _mem_kb(self, kb: int) -> str:
        return str(kb * 1024) if self.noconvert else fmt_mem(kb, 0)

    def _tres(self, job: Job, cpus: int, nodes: int, mem_mb: int) -> str:
        key = (cpus, nodes, mem_mb, job.gpus, job.gpu_type, job.gpumem_gb)
        found = self._tres_cache.get(key)
        if found is None:
            found = self._tres_cache[key] = self._tres_text(job, cpus, nodes, mem_mb)
        return found

    def _tres_text(self, job: Job, cpus: int, nodes: int, mem_mb: int) -> str:
        parts = [f"billing={cpus}", f"cpu={cpus}", f"mem={self._mem_mb(mem_mb)}", f"node={nodes}"]
        if job.gpus:
            parts.append(f"gres/gpu:{job.gpu_type}={job.gpus}")
            parts.append(f"gres/gpu={job.gpus}")
            if job.gpumem_gb:
                parts.append(f"gres/gpumem={self._mem_mb(job.gpumem_gb * 1024)}")
        parts.sort()
        return ",".join(parts)

    def lines(self, job: Job, status: int) -> list[str]:
        now = self.now
        uid = self._uid[job.user]
        pending = status == PENDING
        running = status == RUNNING
        state = job.state
        if pending:
            state = "PENDING"
        elif running:
            state = "RUNNING"
        elif state == "CANCELLED":
            state = f"CANCELLED by {uid if (job.raw_id % 5) else 0}"  # 0: cancelled by an admin
        started = job.start is not None and not pending
        if pending:
            start_s, end_s, elapsed = "Unknown", "Unknown", 0
        elif job.start is None:  # ended without starting: cancelled while pending, DEADLINE
            start_s, end_s, elapsed = "None", fmt_ts(job.end), 0
        elif running:
            start_s, end_s, elapsed = fmt_ts(job.start), "Unknown", now - job.start
        else:
            start_s, end_s, elapsed = fmt_ts(job.start), fmt_ts(job.end), job.end - job.start
        steps = [] if (not started or self.allocations_only) else job.steps
        total_cpu = 0.0 if running else sum(s.cpu_s for s in steps)
        tl = job.timelimit
        tl_s, tl_raw = fmt_duration(tl), str(tl // 60)
        # Timelimit formats seen in real output besides (D-)HH:MM:SS.
        if job.partition == "bigmem" and job.raw_id % 7 == 0:
            tl_s = tl_raw = "UNLIMITED"
        elif job.partition == "debug" and job.raw_id % 11 == 0:
            tl_s, tl_raw = "Partition_Limit", "Partition_Limit"
        req_tres = self._tres(job, job.cpus, job.nodes, job.mem_mb * job.nodes)
        alloc_tres = req_tres if started else ""
        # ReqMem is the whole job's request since Slurm 21.08 (per-node and per-CPU requests multiplied
        # out, no n/c suffix), the same figure as mem= in ReqTRES.
        req_mem = self._mem_mb(job.mem_mb * job.nodes)
        submit_s = fmt_ts(job.submit)
        elig_s = "Unknown" if job.eligible is None else fmt_ts(job.eligible)
        if started:
            reserved = fmt_duration(job.start - job.eligible)
        elif pending and job.eligible is not None:
            reserved = fmt_duration(max(0, now - job.eligible))
        else:
            reserved = "Unknown" if pending else "INVALID"
        interactive = bool(steps) and steps[0].suffix == ".extern"
        cputime = job.cpus * elapsed
        exit_code = "0:0" if (pending or running) else job.exit
        row = [
            job.account, str(job.cpus), str(job.nodes if started else 0), alloc_tres, self.cluster,
            fmt_duration(cputime) if self._cputime else "", str(cputime),
            "0:0" if (pending or running) else job.derived,
            fmt_duration(elapsed), str(elapsed), elig_s, end_s, exit_code,
            job.flags if started else "StartRecieved", uid, job.user, job.job_id, str(job.raw_id),
            job.name, "", "", "", str(job.cpus), str(job.nodes), job.nodelist if started else "None assigned",
            "", job.partition, str(job.priority), job.qos,
            str(catalog.QOS_IDS[job.qos]), "Resources" if pending else "None", str(job.cpus), req_mem,
            str(job.nodes), req_tres,
            reserved if self._reserved else "",
            start_s, state, submit_s, "00:00:00", fmt_cpu(total_cpu * 0.08) if self._syscpu else "", tl_s,
            tl_raw, fmt_cpu(total_cpu), "", uid, job.user,
            fmt_cpu(total_cpu * 0.92) if self._usercpu else "", f"/home/{job.user}",
            f"srun --pty -p {job.partition} bash" if interactive
            else f"sbatch --parsable -A {job.account} -p {job.partition} -J {job.name} {job.name}.sh", "", "",
        ]
        out = ["|".join(self._pick(row))]
        for st in steps:
            if running and st.start > now:
                break  # later srun steps of a running job do not exist yet
            out.append(self._step_line(job, st, running, row))
        return out

    def _step_line(self, job: Job, st: Step, running: bool, job_row: list) -> str:
        """A step row: User/UID/Group/Partition/QOS/Timelimit/ReqMem/ReqTRES empty (real 22.05 capture)."""
        if running and st.end > self.now:
            state, exit_code, end_s = "RUNNING", "0:0", "Unknown"
            elapsed = max(0, self.now - st.start)
            rss, vmem, cpu_s, usage = "", "", 0.0, ""
        else:
            state, exit_code = st.state, st.exit
            end_s = job_row[_END] if st.end == job.end else fmt_ts(st.end)
            elapsed = st.end - st.start
            rss, vmem, cpu_s = self._mem_kb(st.rss_kb), self._mem_kb(st.vmem_kb), st.cpu_s
            usage = (f"cpu={fmt_duration(int(cpu_s))},energy=0,fs/disk={st.disk},mem={rss},pages=0,"
                     f"vmem={vmem}") if self._usage else ""
        if st.suffix == ".extern":  # the extern step carries the job's AllocTRES, billing included
            tres = job_row[_SLOT["AllocTRES"]]
        else:
            key = (st.cpus, job.mem_mb * st.nnodes, st.nnodes, job.gpus, job.gpu_type)
            tres = self._step_tres_cache.get(key)
            if tres is None:
                mem = self._mem_mb(key[1])
                tres = (f"cpu={st.cpus},gres/gpu:{job.gpu_type}={job.gpus},gres/gpu={job.gpus},mem={mem},"
                        f"node={st.nnodes}") if job.gpus else f"cpu={st.cpus},mem={mem},node={st.nnodes}"
                self._step_tres_cache[key] = tres
        start_s = job_row[_START] if st.start == job.start else fmt_ts(st.start)
        cputime = st.cpus * elapsed
        row = [
            job.account, str(st.cpus), str(st.nnodes), tres, self.cluster,
            fmt_duration(cputime) if self._cputime else "", str(cputime),
            "", fmt_duration(elapsed), str(elapsed), start_s, end_s, exit_code, "",
            "", "", job.job_id + st.suffix, f"{job.raw_id}{st.suffix}", st.name, rss, rss, vmem, str(st.cpus),
            str(st.nnodes), st.nodelist, str(st.ntasks),
            "", "", "", "", "", str(st.cpus), "", str(st.nnodes), "", "", start_s, state,
            start_s, "00:00:00", fmt_cpu(cpu_s * 0.08) if self._syscpu else "", "", "", fmt_cpu(cpu_s), usage,
            "", "", fmt_cpu(cpu_s * 0.92) if self._usercpu else "", "",
            f"srun {st.name}" if st.suffix[1:].isdigit() else "",
            usage,  # TRESUsageInMax: one task per node here, so max = total (as in the capture)
            "",
        ]
        return "|".join(self._pick(row))


def iter_lines(cfg: DemoConfig, start: int, end: int, fields: tuple[str, ...], *, duplicates: bool = False,
               noconvert: bool = False, allocations_only: bool = False) -> Iterator[str]:
    """Data lines (no header, no newline) of ``sacct -S start -E end`` for one cluster."""
    renderer = Renderer(cfg.cluster, fields, noconvert=noconvert, now=cfg.now, allocations_only=allocations_only)
    for job, status in iter_window(cfg, start, end, duplicates=duplicates):
        yield from renderer.lines(job, status)


def write_sacct(out: BinaryIO, cfgs: Iterable[DemoConfig], start: int, end: int, fields: tuple[str, ...], *,
                duplicates: bool = False, noconvert: bool = False, allocations_only: bool = False,
                header: bool = True) -> int:
    """Write header and lines for each cluster to ``out`` in chunks; return the number of data lines."""
    n = 0
    if header:
        out.write((header_line(fields) + "\n").encode())
    for cfg in cfgs:
        buf: list[str] = []
        for line in iter_lines(cfg, start, end, fields, duplicates=duplicates, noconvert=noconvert,
                               allocations_only=allocations_only):
            buf.append(line)
            if len(buf) >= CHUNK_LINES:
                out.write(("\n".join(buf) + "\n").encode())
                n += len(buf)
                buf.clear()
        if buf:
            out.write(("\n".join(buf) + "\n").encode())
            n += len(buf)
    return n


def write_days(cfg: DemoConfig, first: dt.date, last: dt.date, fields: tuple[str, ...],
               open_day: Callable[[dt.date], BinaryIO], *, duplicates: bool = False, noconvert: bool = False,
               allocations_only: bool = False, header: bool = True) -> dict[dt.date, int]:
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
    plans = {d: {(sd, st) for sd, streams in _window_days(*windows[d], cfg.now) for st in streams} for d in days}
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
                for job, status in _candidates(unit, cfg.now, duplicates):
                    lines = None
                    for d in targets:
                        if _in_window(job, status, *windows[d]):
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
