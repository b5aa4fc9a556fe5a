"""``--parsable2`` lines of the demo jobs for a fixed field list, column by column as real Slurm 22.05 prints them.

Kept apart from the job model and the window choice: this is the hot loop of the generator (millions of
rows for the benchmarks), so each row is built once as a list in ``_FILLED`` order and the asked-for
columns are picked with one ``itemgetter``; costly columns are formatted only when asked for.
"""

from collections.abc import Iterable
from operator import itemgetter

from slurm_assets.demo import catalog
from slurm_assets.demo.formats import fmt_cpu, fmt_duration, fmt_mem, fmt_ts
from slurm_assets.demo.jobmodel import Job, Step
from slurm_assets.demo.window import PENDING, RUNNING

# Fields the generator fills; every other sacct field prints empty.
_FILLED = [
    "Account",
    "AllocCPUS",
    "AllocNodes",
    "AllocTRES",
    "Cluster",
    "CPUTime",
    "CPUTimeRAW",
    "DerivedExitCode",
    "Elapsed",
    "ElapsedRaw",
    "Eligible",
    "End",
    "ExitCode",
    "Flags",
    "GID",
    "Group",
    "JobID",
    "JobIDRaw",
    "JobName",
    "MaxRSS",
    "AveRSS",
    "MaxVMSize",
    "NCPUS",
    "NNodes",
    "NodeList",
    "NTasks",
    "Partition",
    "Priority",
    "QOS",
    "QOSRAW",
    "Reason",
    "ReqCPUS",
    "ReqMem",
    "ReqNodes",
    "ReqTRES",
    "Reserved",
    "Start",
    "State",
    "Submit",
    "Suspended",
    "SystemCPU",
    "Timelimit",
    "TimelimitRaw",
    "TotalCPU",
    "TRESUsageInTot",
    "UID",
    "User",
    "UserCPU",
    "WorkDir",
    "SubmitLine",
    "TRESUsageInMax",
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


def _job_state(job: Job, status: int, uid: str) -> str:
    """State as of ``now``; a cancelled job names who cancelled it (uid 0: an admin)."""
    if status == PENDING:
        return "PENDING"
    if status == RUNNING:
        return "RUNNING"
    if job.state == "CANCELLED":
        return f"CANCELLED by {uid if (job.raw_id % 5) else 0}"
    return job.state


def _job_times(job: Job, status: int, now: int) -> tuple[str, str, int]:
    """``(Start, End, elapsed seconds)`` with sacct's sentinels for jobs not started or not ended."""
    if status == PENDING:
        return "Unknown", "Unknown", 0
    if job.start is None:  # ended without starting: cancelled while pending, DEADLINE
        return "None", fmt_ts(job.end), 0
    if status == RUNNING:
        return fmt_ts(job.start), "Unknown", now - job.start
    return fmt_ts(job.start), fmt_ts(job.end), job.end - job.start


def _timelimit(job: Job) -> tuple[str, str]:
    """``(Timelimit, TimelimitRaw)``, with the formats seen in real output besides (D-)HH:MM:SS."""
    if job.partition == "bigmem" and job.raw_id % 7 == 0:
        return "UNLIMITED", "UNLIMITED"
    if job.partition == "debug" and job.raw_id % 11 == 0:
        return "Partition_Limit", "Partition_Limit"
    return fmt_duration(job.timelimit), str(job.timelimit // 60)


def _reserved(job: Job, status: int, started: bool, now: int) -> str:
    """Reserved (the wait from Eligible to Start, or to ``now`` while pending)."""
    if started:
        return fmt_duration(job.start - job.eligible)
    if status == PENDING and job.eligible is not None:
        return fmt_duration(max(0, now - job.eligible))
    return "Unknown" if status == PENDING else "INVALID"


def _submit_line(job: Job, interactive: bool) -> str:
    if interactive:
        return f"srun --pty -p {job.partition} bash"
    return f"sbatch --parsable -A {job.account} -p {job.partition} -J {job.name} {job.name}.sh"


class Renderer:
    """Turns (job, status) into ``--parsable2`` lines for a fixed field list."""

    def __init__(self, cluster: str, fields: tuple[str, ...], *, noconvert: bool, now: int, allocations_only: bool):
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
        """The job's row, then its step rows (none before it starts or with ``allocations_only``)."""
        started = job.start is not None and status != PENDING
        running = status == RUNNING
        steps = [] if (not started or self.allocations_only) else job.steps
        row = self._job_row(job, status, started, steps)
        out = ["|".join(self._pick(row))]
        for st in steps:
            if running and st.start > self.now:
                break  # later srun steps of a running job do not exist yet
            out.append(self._step_line(job, st, running, row))
        return out

    def _job_row(self, job: Job, status: int, started: bool, steps: list[Step]) -> list[str]:
        """The job's values in ``_FILLED`` order."""
        uid = self._uid[job.user]
        live = status in (PENDING, RUNNING)
        start_s, end_s, elapsed = _job_times(job, status, self.now)
        total_cpu = 0.0 if status == RUNNING else sum(s.cpu_s for s in steps)
        tl_s, tl_raw = _timelimit(job)
        req_tres = self._tres(job, job.cpus, job.nodes, job.mem_mb * job.nodes)
        # ReqMem is the whole job's request since Slurm 21.08 (per-node and per-CPU requests multiplied
        # out, no n/c suffix), the same figure as mem= in ReqTRES.
        req_mem = self._mem_mb(job.mem_mb * job.nodes)
        cputime = job.cpus * elapsed
        return [
            job.account,
            str(job.cpus),
            str(job.nodes if started else 0),
            req_tres if started else "",
            self.cluster,
            fmt_duration(cputime) if self._cputime else "",
            str(cputime),
            "0:0" if live else job.derived,
            fmt_duration(elapsed),
            str(elapsed),
            "Unknown" if job.eligible is None else fmt_ts(job.eligible),
            end_s,
            "0:0" if live else job.exit,
            job.flags if started else "StartRecieved",
            uid,
            job.user,
            job.job_id,
            str(job.raw_id),
            job.name,
            "",
            "",
            "",
            str(job.cpus),
            str(job.nodes),
            job.nodelist if started else "None assigned",
            "",
            job.partition,
            str(job.priority),
            job.qos,
            str(catalog.QOS_IDS[job.qos]),
            "Resources" if status == PENDING else "None",
            str(job.cpus),
            req_mem,
            str(job.nodes),
            req_tres,
            _reserved(job, status, started, self.now) if self._reserved else "",
            start_s,
            _job_state(job, status, uid),
            fmt_ts(job.submit),
            "00:00:00",
            fmt_cpu(total_cpu * 0.08) if self._syscpu else "",
            tl_s,
            tl_raw,
            fmt_cpu(total_cpu),
            "",
            uid,
            job.user,
            fmt_cpu(total_cpu * 0.92) if self._usercpu else "",
            f"/home/{job.user}",
            _submit_line(job, bool(steps) and steps[0].suffix == ".extern"),
            "",
            "",
        ]

    def _step_usage(self, job: Job, st: Step, running: bool, job_row: list) -> tuple:
        """``(state, exit, End, elapsed, rss, vmem, cpu seconds, TRESUsageInTot)``; a running step has no usage yet."""
        if running and st.end > self.now:
            return "RUNNING", "0:0", "Unknown", max(0, self.now - st.start), "", "", 0.0, ""
        end_s = job_row[_END] if st.end == job.end else fmt_ts(st.end)
        rss, vmem, cpu_s = self._mem_kb(st.rss_kb), self._mem_kb(st.vmem_kb), st.cpu_s
        usage = (
            (f"cpu={fmt_duration(int(cpu_s))},energy=0,fs/disk={st.disk},mem={rss},pages=0,vmem={vmem}")
            if self._usage
            else ""
        )
        return st.state, st.exit, end_s, st.end - st.start, rss, vmem, cpu_s, usage

    def _step_tres(self, job: Job, st: Step, job_row: list) -> str:
        """A step's AllocTRES: the extern step carries the job's (billing included), others their own share."""
        if st.suffix == ".extern":
            return job_row[_SLOT["AllocTRES"]]
        key = (st.cpus, job.mem_mb * st.nnodes, st.nnodes, job.gpus, job.gpu_type)
        tres = self._step_tres_cache.get(key)
        if tres is None:
            mem = self._mem_mb(key[1])
            tres = (
                (f"cpu={st.cpus},gres/gpu:{job.gpu_type}={job.gpus},gres/gpu={job.gpus},mem={mem},node={st.nnodes}")
                if job.gpus
                else f"cpu={st.cpus},mem={mem},node={st.nnodes}"
            )
            self._step_tres_cache[key] = tres
        return tres

    def _step_line(self, job: Job, st: Step, running: bool, job_row: list) -> str:
        """A step row: User/UID/Group/Partition/QOS/Timelimit/ReqMem/ReqTRES empty (real 22.05 capture)."""
        state, exit_code, end_s, elapsed, rss, vmem, cpu_s, usage = self._step_usage(job, st, running, job_row)
        start_s = job_row[_START] if st.start == job.start else fmt_ts(st.start)
        cputime = st.cpus * elapsed
        row = [
            job.account,
            str(st.cpus),
            str(st.nnodes),
            self._step_tres(job, st, job_row),
            self.cluster,
            fmt_duration(cputime) if self._cputime else "",
            str(cputime),
            "",
            fmt_duration(elapsed),
            str(elapsed),
            start_s,
            end_s,
            exit_code,
            "",
            "",
            "",
            job.job_id + st.suffix,
            f"{job.raw_id}{st.suffix}",
            st.name,
            rss,
            rss,
            vmem,
            str(st.cpus),
            str(st.nnodes),
            st.nodelist,
            str(st.ntasks),
            "",
            "",
            "",
            "",
            "",
            str(st.cpus),
            "",
            str(st.nnodes),
            "",
            "",
            start_s,
            state,
            start_s,
            "00:00:00",
            fmt_cpu(cpu_s * 0.08) if self._syscpu else "",
            "",
            "",
            fmt_cpu(cpu_s),
            usage,
            "",
            "",
            fmt_cpu(cpu_s * 0.92) if self._usercpu else "",
            "",
            f"srun {st.name}" if st.suffix[1:].isdigit() else "",
            usage,  # TRESUsageInMax: one task per node here, so max = total (as in the capture)
            "",
        ]
        return "|".join(self._pick(row))
