"""The demo clusters' job model: config and the jobs of each (seed, cluster, submit day).

Jobs are generated per (seed, cluster, submit day) with their own RNG, so any window is reproducible
without generating history from the beginning (``generate.py`` has the whole model's description and
renders the windows; ``formats.py`` spells the values as sacct does).
"""

import datetime as dt
import heapq
import math
import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from slurm_assets.demo import catalog
from slurm_assets.demo.formats import DAY, day_start, hostlist

MAX_LIFE_DAYS = 11  # a "long" job ends at most this many days after its submit day starts
SHORT_LIFE_S = DAY - 1  # a "short" job ends before submit + 1 day
MAX_JOB_ID = 67_043_328  # Slurm's default MaxJobId: ids wrap around on old clusters
LONG_FRACTION = 0.12  # share of a day's jobs drawn from the long stream


@dataclass(frozen=True)
class DemoConfig:
    """One generated cluster: name, seed, mean jobs per day and the ``now`` that decides RUNNING/PENDING."""

    cluster: str
    now: int  # epoch seconds (UTC)
    seed: int = 0
    jobs_per_day: int = 300

    @property
    def id_stride(self) -> int:
        """Raw ids reserved per day (a power of ten, at least 10x the mean job count)."""
        return 10 ** max(3, math.ceil(math.log10(max(1, self.jobs_per_day) * 10)))


# --------------------------------------------------------------------------- the job model


class Step:
    """One step row (``.batch``, ``.extern``, ``.0``, ``.interactive``) of a job allocation."""

    __slots__ = (
        "cpu_s",
        "cpus",
        "disk",
        "end",
        "exit",
        "name",
        "nnodes",
        "nodelist",
        "ntasks",
        "rss_kb",
        "start",
        "state",
        "suffix",
        "vmem_kb",
    )

    def __init__(
        self, suffix, name, nnodes, nodelist, cpus, ntasks, state, exit_code, start, end, rss_kb, vmem_kb, cpu_s, disk
    ):
        self.suffix, self.name, self.nnodes, self.nodelist = suffix, name, nnodes, nodelist
        self.cpus, self.ntasks, self.state, self.exit = cpus, ntasks, state, exit_code
        self.start, self.end, self.rss_kb, self.vmem_kb, self.cpu_s, self.disk = (
            start,
            end,
            rss_kb,
            vmem_kb,
            cpu_s,
            disk,
        )


class Job:
    """One job allocation as its final accounting record says (before ``now`` is applied).

    Attributes: raw_id, job_id, array_id, task_id, throttle, user, account,
    partition, qos, name, submit, eligible, start, end, state, exit, derived,
    timelimit, cpus, nodes, nodelist, mem_mb (per node), gpus, gpu_type,
    gpumem_gb, steps, flags, priority. A plain ``__dict__`` (one C-level
    update) is the fastest way to build and copy millions of these.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def copy(self) -> "Job":
        new = Job.__new__(Job)
        new.__dict__.update(self.__dict__)
        new.steps = []
        return new


def _zipf_cum(n: int, s: float) -> list[float]:
    acc, out = 0.0, []
    for i in range(n):
        acc += 1.0 / (i + 1) ** s
        out.append(acc)
    return out


_USER_CUM = _zipf_cum(len(catalog.USERS), 1.1)
_HOUR_CUM = list(
    __import__("itertools").accumulate((2, 1, 1, 1, 1, 2, 3, 5, 9, 12, 12, 11, 9, 11, 12, 12, 11, 9, 7, 6, 5, 4, 3, 3))
)
_PART_CUM = [(0.60, "cpu"), (0.80, "gpu"), (0.88, "bigmem"), (1.0, "debug")]
_CPU_CHOICES = (1, 1, 1, 2, 4, 4, 8, 8, 16, 16, 32, 64, 128, 256, 512)
# (cumulative probability, final state) for jobs that start; the pending-only
# outcomes (cancelled before start, DEADLINE) are drawn separately.
_STATE_CUM = [
    (0.72, "COMPLETED"),
    (0.84, "FAILED"),
    (0.88, "CANCELLED"),
    (0.93, "TIMEOUT"),
    (0.965, "OUT_OF_MEMORY"),
    (0.972, "NODE_FAIL"),
    (0.99, "PREEMPTED"),
    (0.995, "BOOT_FAIL"),
    (1.0, "COMPLETED"),
]
_FAIL_EXIT = ("1:0", "1:0", "2:0", "127:0", "137:0", "255:0")


def _pick(cum: list, u: float):
    for p, v in cum:
        if u < p:
            return v
    return cum[-1][1]


# The batch (or interactive) step's state and exit code per final job state (testbed captures);
# a FAILED job's step carries the job's own exit code.
_BATCH_OUTCOME = {
    "COMPLETED": ("COMPLETED", "0:0"),
    "CANCELLED": ("CANCELLED", "0:15"),
    "TIMEOUT": ("CANCELLED", "0:15"),
    "OUT_OF_MEMORY": ("OUT_OF_MEMORY", "0:125"),
    "NODE_FAIL": ("CANCELLED", "0:9"),
    "PREEMPTED": ("CANCELLED", "0:15"),
    "REQUEUED": ("CANCELLED", "0:15"),
}


def _batch_outcome(job: Job) -> tuple[str, str]:
    if job.state == "FAILED":
        return "FAILED", job.exit
    return _BATCH_OUTCOME[job.state]


def _extern_step(job: Job) -> Step:
    """The extern step: whole allocation, always COMPLETED, near-zero use (no random draws)."""
    return Step(
        ".extern",
        "extern",
        job.nodes,
        job.nodelist,
        job.cpus,
        job.nodes,
        "COMPLETED",
        "0:0",
        job.start,
        job.end,
        900 + job.raw_id % 300,
        4400 + job.raw_id % 700,
        0.001,
        0,
    )


class _DayGen:
    """Generates one (seed, cluster, day, stream) batch of job units; each unit is a list of Jobs."""

    def __init__(self, cfg: DemoConfig, day: dt.date, stream: str):
        self.cfg = cfg
        self.layout = catalog.cluster_layout(cfg.cluster)
        self.rng = random.Random(f"{cfg.seed}:{cfg.cluster}:{day.isoformat()}:{stream}")
        self.t0 = day_start(day)
        self.long = stream == "long"
        ordinal = (day - dt.date(2000, 1, 1)).days
        stride = cfg.id_stride
        self.next_id = (ordinal * stride) % MAX_JOB_ID + 1 + (stride // 2 if self.long else 0)
        self.id_limit = self.next_id + stride // 2
        weekday_factor = 0.55 if day.weekday() >= 5 else 1.0
        share = LONG_FRACTION if self.long else 1 - LONG_FRACTION
        self.target = round(cfg.jobs_per_day * share * weekday_factor * self.rng.uniform(0.8, 1.2))

    def units(self) -> Iterator[list[Job]]:
        made = 0
        while made < self.target and self.next_id < self.id_limit - 64:
            unit = self._unit()
            made += len(unit)
            yield unit

    # -- drawing helpers
    def _submit(self) -> int:
        r = self.rng
        hour = bisect(_HOUR_CUM, r.random() * _HOUR_CUM[-1])
        return self.t0 + hour * 3600 + int(r.random() * 3600)

    def _wait(self, cap: int) -> int:
        # Heavy-tailed queue wait: median ~1 min, a tail of hours.
        return min(cap, int(self.rng.lognormvariate(4.0, 2.2)))

    def _unit(self) -> list[Job]:
        r = self.rng
        u = r.random()
        if self.long and u < 0.30:
            return self._array()
        job = self._base(self._submit())
        if self.long and u < 0.40 and job.timelimit is not None and job.timelimit <= 2 * DAY:
            return self._requeued(job)
        self._finish(job)
        return [job]

    def _base(self, submit: int) -> Job:
        r = self.rng
        user_i = bisect(_USER_CUM, r.random() * _USER_CUM[-1])
        user = catalog.USERS[user_i]
        account = catalog.USER_ACCOUNT[user] if r.random() < 0.9 else catalog.ACCOUNTS[user_i * 3 % 8]
        partition = _pick(_PART_CUM, r.random())
        qu = r.random()
        if self.long and partition != "debug":
            qos = "long" if qu < 0.6 else "normal"
        else:
            qos = "normal" if qu < 0.75 else ("high" if qu < 0.85 else "low")
        gpu_type, gpus = "", 0
        if partition == "gpu":
            gtypes = self.layout.gpu_types()
            gpu_type = gtypes[0] if r.random() < 0.65 else gtypes[-1]
        group = self.layout.group_for(partition, gpu_type)
        if partition == "gpu":
            gpus = (1, 1, 1, 2, 2, 4, 4, 8, 16)[int(r.random() * 9)]
            nodes = max(1, -(-gpus // group.gpus))
            cpus = min(group.cpus * nodes, gpus * (8 if r.random() < 0.7 else 16))
        else:
            cpus = _CPU_CHOICES[int(r.random() ** 1.6 * len(_CPU_CHOICES))]
            if partition == "debug":
                cpus = min(cpus, 16)
            nodes = max(1, -(-cpus // group.cpus))
        nodes = min(nodes, group.count)
        cpus = min(cpus, nodes * group.cpus)
        per_cpu_mb = (1024, 2048, 4000, 4096, 8192)[int(r.random() * 5)]
        if partition == "bigmem":
            per_cpu_mb *= 8
        mem_mb = min(group.mem_mb, per_cpu_mb * -(-cpus // nodes))  # memory per node (--mem)
        if r.random() < 0.1:
            mem_mb = 500  # the odd small request: prints as 500M
        if partition == "debug":
            tl = (900, 1800, 3600)[int(r.random() * 3)]
        elif qos == "long":
            tl = (3 * DAY, 5 * DAY, 7 * DAY)[int(r.random() * 3)]
        elif self.long:
            tl = (DAY, 2 * DAY, 2 * DAY)[int(r.random() * 3)]
        else:
            tl = (1800, 3600, 4 * 3600, 8 * 3600, 12 * 3600)[int(r.random() * 5)]
        first = 1 + int(r.random() * (group.count - nodes + 1))
        raw = self.next_id
        self.next_id += 1
        return Job(
            raw_id=raw,
            job_id=str(raw),
            array_id=None,
            task_id=None,
            throttle=0,
            user=user,
            account=account,
            partition=partition,
            qos=qos,
            name=catalog.JOB_NAMES[int(r.random() ** 1.5 * len(catalog.JOB_NAMES))],
            submit=submit,
            eligible=submit,
            start=None,
            end=None,
            state="COMPLETED",
            exit="0:0",
            derived="0:0",
            timelimit=tl,
            cpus=cpus,
            nodes=nodes,
            nodelist=hostlist(group.prefix, first, nodes),
            mem_mb=mem_mb,
            gpus=gpus,
            gpu_type=gpu_type,
            gpumem_gb=(80 * gpus if gpus and r.random() < 0.2 else 0),
            steps=[],
            flags="SchedMain,StartRecieved" if r.random() < 0.6 else "SchedBackfill,StartRecieved",
            priority=4294901760 - int(r.random() * 60000),
        )

    def _finish(self, job: Job, state: str | None = None, wait_cap: int | None = None) -> None:
        """Draw the outcome of ``job``: start, end, state, exit codes and steps."""
        r = self.rng
        cap = wait_cap if wait_cap is not None else (2 * DAY if self.long else 6 * 3600)
        wait = self._wait(cap)
        if state is None:
            u = r.random()
            if u < 0.025:
                # Cancelled while pending (or a --deadline that passed): never started.
                job.state = "CANCELLED" if u < 0.02 else "DEADLINE"
                job.end = job.eligible + max(1, wait)
                job.exit = "0:0"
                return
            state = _pick(_STATE_CUM, r.random())
            if state == "PREEMPTED" and job.qos != "low":
                state = "COMPLETED"
        job.state = state
        job.start = job.eligible + wait
        tl = job.timelimit
        if state == "TIMEOUT":
            run = tl + 5 + int(r.random() * 90)  # KillWait plus the epilog
        elif state == "BOOT_FAIL":
            run = 0
        else:
            run = max(1, min(tl - 1, int(tl * min(1.0, r.lognormvariate(-1.8, 1.3)))))
        job.end = job.start + run
        # Job rows: CANCELLED/TIMEOUT keep 0:0 (the 0:15 is on the steps), a
        # batch-script OOM is 0:125 with DerivedExitCode 0:0 (testbed capture).
        job.exit = {"COMPLETED": "0:0", "FAILED": _FAIL_EXIT[int(r.random() * 6)], "OUT_OF_MEMORY": "0:125"}.get(
            state, "0:0"
        )
        job.derived = "0:0"
        if state != "BOOT_FAIL":
            self._steps(job)
            if state == "FAILED" and job.steps[-1].suffix[1:].isdigit():
                job.derived = job.exit  # a failed srun step sets DerivedExitCode too

    def _steps(self, job: Job) -> None:
        """Draw the job's CPU efficiency and memory use, then its step rows (interactive or batch)."""
        r = self.rng
        eff = 0.97 * r.random() ** 0.6  # CPU efficiency, skewed high
        rss_frac = r.random() ** 1.8  # memory use, skewed low
        outcome = _batch_outcome(job)
        steps_cpu = eff * job.cpus * (job.end - job.start)
        if r.random() < 0.12:
            job.steps.extend(self._interactive_steps(job, outcome, rss_frac, steps_cpu))
        else:
            job.steps.extend(self._batch_steps(job, outcome, rss_frac, steps_cpu))

    def _interactive_steps(self, job: Job, outcome: tuple[str, str], rss_frac: float, steps_cpu: float) -> list[Step]:
        """``srun --pty bash``: the extern step and one step ``.0`` doing all the work."""
        r = self.rng
        mem_kb = job.mem_mb * 1024
        rss = min(mem_kb, 1 + int(mem_kb * rss_frac) + int(r.random() * 1000))
        shell = Step(
            ".0",
            "bash",
            job.nodes,
            job.nodelist,
            job.cpus,
            job.nodes,
            *outcome,
            job.start + 1,
            job.end,
            rss,
            rss * 3,
            steps_cpu,
            int(r.random() * 5e8),
        )
        return [_extern_step(job), shell]

    def _batch_steps(self, job: Job, outcome: tuple[str, str], rss_frac: float, steps_cpu: float) -> list[Step]:
        """``sbatch``: the batch step on the first node, the extern step, then 0-3 srun steps sharing the run."""
        r = self.rng
        start, end, run = job.start, job.end, job.end - job.start
        first = job.nodelist.split("[")[0] + job.nodelist.split("[")[-1][:3] if "[" in job.nodelist else job.nodelist
        mem_kb = job.mem_mb * 1024
        nsrun = (0, 0, 1, 1, 1, 2, 3)[int(r.random() * 7)]
        batch_cpu = steps_cpu if nsrun == 0 else steps_cpu * 0.02
        rss_b = min(mem_kb, 1 + int(mem_kb * rss_frac * (1.0 if nsrun == 0 else 0.1)) + int(r.random() * 1000))
        if job.state == "OUT_OF_MEMORY":
            rss_b = 2000 + int(r.random() * 8000)  # killed between samples: tiny MaxRSS (testbed fact)
        steps = [
            Step(
                ".batch",
                "batch",
                1,
                first,
                -(-job.cpus // job.nodes),
                1,
                *outcome,
                start,
                end,
                rss_b,
                rss_b * 2 + 150_000,
                batch_cpu,
                int(r.random() * 2e8),
            ),
            _extern_step(job),
        ]
        t = start + 2
        span = max(1, run - 2)
        prog = catalog.STEP_PROGRAMS[int(r.random() * len(catalog.STEP_PROGRAMS))]
        for i in range(nsrun):
            s_end = end if i == nsrun - 1 else min(end, t + int(span / nsrun))
            last = i == nsrun - 1
            rss = min(mem_kb, 1 + int(mem_kb * rss_frac) + int(r.random() * 1000))
            steps.append(
                Step(
                    f".{i}",
                    prog,
                    job.nodes,
                    job.nodelist,
                    job.cpus,
                    job.cpus,
                    *(outcome if last else ("COMPLETED", "0:0")),
                    t,
                    s_end,
                    rss,
                    rss * 2,
                    steps_cpu / nsrun,
                    int(r.random() * 1e9),
                )
            )
            t = s_end
        return steps

    def _array(self) -> list[Job]:
        r = self.rng
        n = 2 + int(r.random() ** 2 * 48)
        throttle = (0, 0, 2, 4, 8)[int(r.random() * 5)]
        submit = self._submit()
        proto = self._base(submit)
        self.next_id -= 1  # ids are assigned below
        proto.timelimit = min(proto.timelimit, 4 * 3600)
        lanes = [submit + self._wait(4 * 3600)] * (throttle or n)
        heapq.heapify(lanes)
        master = self.next_id
        self.next_id += n
        tasks = []
        for i in range(n):
            job = proto.copy()
            job.array_id, job.task_id, job.throttle = master, i, throttle
            job.job_id = f"{master}_{i}"
            # The last task to start keeps the array's own id; others get fresh ones.
            job.raw_id = master if i == n - 1 else master + 1 + i
            self._finish(job, state=_pick(_STATE_CUM[:5], r.random()) if r.random() < 0.3 else "COMPLETED", wait_cap=0)
            lane_free = heapq.heappop(lanes)
            if throttle and i >= throttle:
                job.eligible = lane_free  # a throttled task becomes eligible when a slot frees
            shift = lane_free - job.start
            job.start += shift
            job.end += shift
            for st in job.steps:
                st.start += shift
                st.end += shift
            heapq.heappush(lanes, job.end)
            tasks.append(job)
        return tasks

    def _requeued(self, job: Job) -> list[Job]:
        """An earlier run ended REQUEUED (node failure or preemption); the final run has Submit = requeue time."""
        first = job
        self._finish(first, state="REQUEUED")
        final = first.copy()
        final.submit = first.end
        final.eligible = first.end + 121  # requeued jobs wait BeginTime ~121 s (testbed fact)
        self._finish(final, wait_cap=12 * 3600)
        return [first, final]


def iter_units(cfg: DemoConfig, day: dt.date, stream: str) -> Iterator[list[Job]]:
    """Job units (a job, an array's tasks, or a requeued job's runs) submitted on ``day`` in ``stream``."""
    return _DayGen(cfg, day, stream).units()
