"""Test helper: a small job history rendered the way ``sacct --parsable2 -S d -E d+1`` prints it, as drops.

``render_window`` shows each job as sacct would at ``now``: PENDING before it starts,
RUNNING (End ``Unknown``) until it ends, finished after; a job appears in every day
window it was active in, so long jobs are in several drops (DESIGN.md window semantics).
"""

import datetime as dt
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from slurm_assets.storage import landing

UTC = dt.UTC
HEADER = (
    "JobID|JobIDRaw|JobName|User|Account|Partition|QOS|State|ExitCode|Submit|Eligible|Start|End|Elapsed|"
    "ElapsedRaw|Timelimit|NNodes|AllocCPUS|ReqMem|MaxRSS|TotalCPU|NodeList|AllocTRES"
)


@dataclass(frozen=True)
class Job:
    job_id: int
    user: str
    account: str
    partition: str
    submit: dt.datetime
    start: dt.datetime
    end: dt.datetime
    cpus: int
    gpus: int = 0
    state: str = "COMPLETED"

    @property
    def elapsed_s(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def cpu_hours(self) -> float:
        return self.cpus * self.elapsed_s / 3600

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.elapsed_s / 3600


def ts(value: dt.datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else "Unknown"


def hms(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def job_lines(job: Job, now: dt.datetime) -> list[str]:
    if now < job.start:
        state, start, end, elapsed, nodes = "PENDING", None, None, 0, "None assigned"
    elif now < job.end:
        state, start, end, elapsed, nodes = "RUNNING", job.start, None, int((now - job.start).total_seconds()), "vm"
    else:
        state, start, end, elapsed, nodes = job.state, job.start, job.end, job.elapsed_s, "vm"
    tres = f"billing={job.cpus},cpu={job.cpus},mem={job.cpus}G,node=1"
    if job.gpus:
        tres += f",gres/gpu:a100={job.gpus},gres/gpu={job.gpus}"
    alloc = tres if start else ""
    head = [
        str(job.job_id),
        str(job.job_id),
        "run.sh",
        job.user,
        job.account,
        job.partition,
        "normal",
        state,
        "0:0",
        ts(job.submit),
        ts(job.submit),
        ts(start),
        ts(end),
        hms(elapsed),
        str(elapsed),
        "1-00:00:00",
        "1",
        str(job.cpus),
        f"{job.cpus}G",
        "",
        "00:00:00" if not start else hms(elapsed // 2),
        nodes,
        alloc,
    ]
    lines = ["|".join(head)]
    if start:
        batch = [
            f"{job.job_id}.batch",
            f"{job.job_id}.batch",
            "batch",
            "",
            job.account,
            "",
            "",
            state if end else "RUNNING",
            "0:0",
            ts(job.start),
            ts(job.start),
            ts(start),
            ts(end),
            hms(elapsed),
            str(elapsed),
            "",
            "1",
            str(job.cpus),
            "",
            "1024K" if end else "",
            hms(elapsed // 2),
            nodes,
            f"cpu={job.cpus},mem={job.cpus}G,node=1",
        ]
        lines.append("|".join(batch))
    return lines


def day_bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.fromisoformat(day).replace(tzinfo=UTC)
    return start, start + dt.timedelta(days=1)


def render_window(jobs: list[Job], day: str, now: dt.datetime) -> bytes:
    """sacct text for the UTC day window ``day`` as printed at ``now`` (jobs submitted by ``now`` only)."""
    start, end = day_bounds(day)
    lines = [HEADER]
    for job in sorted(jobs, key=lambda j: j.job_id):
        if job.submit > now or job.submit >= end:
            continue
        ended = job.end <= now
        if ended and job.end < start:
            continue
        if now >= job.start and job.start >= end:
            continue
        lines.extend(job_lines(job, now))
    return ("\n".join(lines) + "\n").encode()


def manifest_for(
    cluster: str,
    day: str,
    text: bytes,
    gz: bytes,
    collected_at: dt.datetime,
    source: str = "drop",
    inventory: dict | None = None,
) -> dict:
    start, end = day_bounds(day)
    return {
        "format": landing.DROP_FORMAT,
        "cluster": cluster,
        "day": day,
        "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "collected_at": collected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sacct_version": "slurm 22.05.8",
        "fields": HEADER.split("|"),
        "rows": text.count(b"\n") - 1,
        "sha256": hashlib.sha256(text).hexdigest(),
        "gzip_size": len(gz),
        "agent_version": "test",
        "source": source,
        "inventory": inventory,
    }


def land(data_dir: Path, cluster: str, day: str, text: bytes, collected_at: dt.datetime, **kw) -> str:
    """Store ``text`` as a drop in the landing zone; return its drop id."""
    gz = gzip.compress(text, mtime=0)
    drop_id, _ = landing.store_drop(data_dir, manifest_for(cluster, day, text, gz, collected_at, **kw), gz)
    return drop_id


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- An independent reading of real sacct text (for comparing the pipeline with plain string code) ---

UNFINISHED = {
    "PENDING",
    "RUNNING",
    "SUSPENDED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "REQUEUING",
    "CONFIGURING",
    "COMPLETING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
}


def gpus_of(alloc_tres: str) -> int:
    """GPUs of an AllocTRES string: gres/gpu=N, else the sum of gres/gpu:TYPE=N (never gres/gpumem)."""
    parts = dict(p.split("=", 1) for p in alloc_tres.split(",") if "=" in p)
    if "gres/gpu" in parts:
        return int(parts["gres/gpu"])
    return sum(int(v) for k, v in parts.items() if k.startswith("gres/gpu:"))


def allocation_rows(text: str) -> list[dict]:
    """Job allocation rows (no steps) of sacct --parsable2 text, as dicts keyed by the header."""
    lines = text.splitlines()
    header = lines[0].split("|")
    rows = [dict(zip(header, line.split("|"))) for line in lines[1:]]
    return [r for r in rows if len(r) == len(header) and "." not in r["JobIDRaw"]]


def is_finished(row: dict) -> bool:
    return row["End"] != "Unknown" and row["State"].split()[0] not in UNFINISHED


def expected_jobs(text: str, day: str) -> dict[tuple[int, str], tuple[float, float]]:
    """``{(JobIDRaw, Submit): (cpu_hours, gpu_hours)}`` of the finished allocations that ended on ``day``."""
    return {
        (int(r["JobIDRaw"]), r["Submit"]): (
            int(r["AllocCPUS"]) * int(r["ElapsedRaw"]) / 3600,
            gpus_of(r["AllocTRES"]) * int(r["ElapsedRaw"]) / 3600,
        )
        for r in allocation_rows(text)
        if is_finished(r) and r["End"][:10] == day
    }
