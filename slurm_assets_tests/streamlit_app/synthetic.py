"""A synthetic warehouse for the dashboard tests: a few clusters x N days of realistic jobs.

Written through ``storage.warehouse.write_partition`` with the real table
schemas, in the layout the pipeline writes (jobs and usage under the job's END
day, capacity/drops/quarantine per day, one running_jobs snapshot per cluster under ``latest``).
The usage tables are apportioned here with a simple reference implementation; the
tests compare the dashboard against direct SQL on these same files, so they do
not depend on it matching the pipeline's apportioning bit for bit.
"""

import datetime as dt
import random
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage.warehouse import write_partition, write_snapshot

UTC = dt.UTC
CLUSTERS = ("alpha", "beta", "gamma")
USERS = {f"u{i:02d}": f"acc-{'abcde'[i % 5]}" for i in range(1, 13)}
PARTITIONS = {"cpu": (64, 0, ""), "gpu": (32, 8, "a100"), "bigmem": (16, 0, "")}  # nodes x 32 CPUs, GPUs, type
# The GPU type of each cluster's gpu partition: beta's GPUs are untyped (sacct's AllocTRES says gres/gpu=N only).
GPU_TYPES = {"alpha": "a100", "beta": "", "gamma": "h100"}
STATES = [("COMPLETED", 75), ("FAILED", 8), ("TIMEOUT", 5), ("CANCELLED", 8), ("OUT_OF_MEMORY", 4)]
# Slurm associations of every cluster (latest snapshot on the last day): acc-c is a sub-account of acc-b;
# u05 (own jobs in acc-a) coordinates acc-b on alpha and beta only. An older snapshot (first day) made
# u07 coordinator of acc-e: not in the latest, so u07 is a plain user.
ACCOUNT_PARENTS = {"acc-a": "root", "acc-b": "root", "acc-c": "acc-b", "acc-d": "root", "acc-e": "root"}
COORDINATORS = {"alpha": {"acc-b": "u05"}, "beta": {"acc-b": "u05"}, "gamma": {}}
# Days without any drop (gaps in the daily series): cluster -> day offsets from the first day.
GAP_OFFSETS = {"beta": (20, 21), "gamma": (40,)}


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC)


def _jobs(rng: random.Random, cluster: str, first: dt.date, days: int, per_day: int) -> list[dict]:
    rows, job_id = [], 1000
    last_end = _day_start(first + dt.timedelta(days=days))
    for offset in range(-3, days):  # jobs submitted up to 3 days before the window may end inside it
        day = first + dt.timedelta(days=offset)
        for _ in range(rng.randint(per_day // 2, per_day)):
            job_id += 1
            user = rng.choice(sorted(USERS))
            partition = rng.choices(list(PARTITIONS), weights=[6, 2, 1])[0]
            state = rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES])[0]
            submit = _day_start(day) + dt.timedelta(seconds=rng.randint(0, 86399))
            never_started = state == "CANCELLED" and rng.random() < 0.4
            wait = int(rng.expovariate(1 / 1800))
            elapsed = 0 if never_started else int(min(rng.lognormvariate(7.5, 1.6), 3.5 * 86400))
            start = None if never_started else submit + dt.timedelta(seconds=wait)
            end = (
                submit + dt.timedelta(seconds=rng.randint(10, 3000))
                if never_started
                else start + dt.timedelta(seconds=elapsed)
            )
            if end < _day_start(first) or end >= last_end:
                continue
            nodes = 1 if rng.random() < 0.8 else rng.choice([2, 4, 8])
            cpus = nodes * rng.choice([1, 2, 4, 8, 16, 32])
            gpus = nodes * rng.choice([1, 2, 4]) if partition == "gpu" else 0
            req_mem = cpus * rng.choice([2, 4, 8]) * 1024**3
            eff = rng.uniform(0.05, 1.0)
            known = not never_started and rng.random() > 0.05
            rows.append(
                {
                    "cluster": cluster,
                    "job_id": str(job_id),
                    "job_id_raw": job_id,
                    "array_job_id": None,
                    "array_task_id": None,
                    "het_job_id": None,
                    "het_job_offset": None,
                    "name": f"job-{job_id % 97}",
                    "user": user,
                    "account": USERS[user],
                    "partition": partition,
                    "qos": "high" if rng.random() < 0.2 else "normal",
                    "state": state,
                    "exit_code": "0:0" if state == "COMPLETED" else "1:0",
                    "submit_time": submit,
                    "eligible_time": submit,
                    "start_time": start,
                    "end_time": end,
                    "end_date": end.date(),
                    "elapsed_s": elapsed,
                    "timelimit_s": 4 * 86400,
                    "wait_s": None if never_started else wait,
                    "nodes": nodes,
                    "node_list": f"{cluster[0]}n[{1:03d}-{nodes:03d}]",
                    "alloc_cpus": cpus,
                    "req_mem_bytes": req_mem,
                    "alloc_gpus": gpus,
                    "gpu_types": f"{GPU_TYPES[cluster]}:{gpus}" if gpus and GPU_TYPES[cluster] else "",
                    "max_rss_bytes": int(req_mem * rng.uniform(0.01, 1.0)) if known else None,
                    "total_cpu_s": cpus * elapsed * eff if known else None,
                    "cpu_hours": cpus * elapsed / 3600,
                    "gpu_hours": gpus * elapsed / 3600,
                    "node_hours": nodes * elapsed / 3600,
                    "cpu_efficiency": eff if known and elapsed else None,
                    "mem_efficiency": None,
                }
            )
            if rows[-1]["max_rss_bytes"] is not None:
                rows[-1]["mem_efficiency"] = rows[-1]["max_rss_bytes"] / req_mem
    return rows


def _apportion(job: dict):
    """Yield (usage day, seconds in that day) for each UTC day the job ran; a never-started job yields none."""
    if job["start_time"] is None or job["elapsed_s"] == 0:
        return
    t, end = job["start_time"], job["end_time"]
    while t < end:
        nxt = min(_day_start(t.date() + dt.timedelta(days=1)), end)
        yield t.date(), (nxt - t).total_seconds()
        t = nxt


def _usage(jobs: list[dict]):
    """(usage rows, gpu rows), each keyed by the job's end day (the folder they are written to)."""
    usage = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    gpu = defaultdict(float)
    for j in jobs:
        dims = (j["user"], j["account"], j["partition"], j["qos"])
        for day, secs in _apportion(j):
            u = usage[(j["end_date"], day) + dims]
            u[0] += j["alloc_cpus"] * secs / 3600
            u[1] += j["alloc_gpus"] * secs / 3600
            u[2] += j["nodes"] * secs / 3600
            if j["alloc_gpus"]:
                gpu[(j["end_date"], day) + dims + (GPU_TYPES[j["cluster"]],)] += j["alloc_gpus"] * secs / 3600
        usage[(j["end_date"], j["end_date"]) + dims][3] += 1
    return usage, gpu


def _write(root: Path, table: str, cluster: str, day: dt.date, rows: list[dict]) -> None:
    write_partition(root, table, cluster, day.isoformat(), pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS[table]))


def _write_associations(root: Path, cluster: str, day: dt.date, coordinators: dict[str, str]) -> None:
    at = _day_start(day) + dt.timedelta(hours=1)
    base = {"cluster": cluster, "date": day, "collected_at": at, "parent": None, "user": None}
    rows = [base | {"kind": "account", "account": a, "parent": p} for a, p in ACCOUNT_PARENTS.items()]
    rows += [base | {"kind": "user", "account": a, "user": u} for u, a in USERS.items()]
    rows += [base | {"kind": "coordinator", "account": a, "user": u} for a, u in coordinators.items()]
    _write(root, "associations", cluster, day, rows)


def build_warehouse(root: Path, *, last_day: dt.date, days: int = 60, per_day: int = 24, seed: int = 7) -> dict:
    """Write the synthetic warehouse under ``root``; return {"first": date, "last": date, "jobs": n}."""
    rng = random.Random(seed)
    first = last_day - dt.timedelta(days=days - 1)
    n_jobs = 0
    for ci, cluster in enumerate(CLUSTERS):
        jobs = _jobs(rng, cluster, first, days, per_day - 6 * ci)
        n_jobs += len(jobs)
        by_end = defaultdict(list)
        for j in jobs:
            by_end[j["end_date"]].append(j)
        usage, gpu = _usage(jobs)
        usage_by_end, gpu_by_end = defaultdict(list), defaultdict(list)
        for (end_day, day, user, account, partition, qos), (c, g, n, e) in usage.items():
            usage_by_end[end_day].append(
                {
                    "cluster": cluster,
                    "date": day,
                    "user": user,
                    "account": account,
                    "partition": partition,
                    "qos": qos,
                    "cpu_hours": c,
                    "gpu_hours": g,
                    "node_hours": n,
                    "jobs_ended": e,
                }
            )
        for (end_day, day, user, account, partition, qos, gtype), g in gpu.items():
            gpu_by_end[end_day].append(
                {
                    "cluster": cluster,
                    "date": day,
                    "user": user,
                    "account": account,
                    "partition": partition,
                    "qos": qos,
                    "gpu_type": gtype,
                    "gpu_hours": g,
                }
            )
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            if by_end[day]:
                _write(root, "jobs", cluster, day, by_end[day])
                _write(root, "usage_daily", cluster, day, usage_by_end[day])
            if gpu_by_end[day]:
                _write(root, "gpu_usage_daily", cluster, day, gpu_by_end[day])
            _write(
                root,
                "capacity_daily",
                cluster,
                day,
                [
                    {
                        "cluster": cluster,
                        "date": day,
                        "partition": p,
                        "nodes": n,
                        "cpus": n * 32,
                        "mem_bytes": n * 256 * 1024**3,
                        "gpus": n * g,
                        "gpu_types": f"{GPU_TYPES[cluster]}:{n * g}" if g and GPU_TYPES[cluster] else "",
                        "cpu_hours_available": n * 32 * 24.0,
                        "gpu_hours_available": n * g * 24.0,
                    }
                    for p, (n, g, _type) in PARTITIONS.items()
                ],
            )
            if offset in GAP_OFFSETS.get(cluster, ()):
                continue
            collected = _day_start(day) + dt.timedelta(days=1, minutes=5)
            _write(
                root,
                "drops",
                cluster,
                day,
                [
                    {
                        "cluster": cluster,
                        "date": day,
                        "drop_id": f"{cluster}{offset:04d}abcdef01"[:16],
                        "sha256": f"{offset:064x}",
                        "source": "drop",
                        "window_start": _day_start(day),
                        "window_end": _day_start(day) + dt.timedelta(days=1),
                        "collected_at": collected,
                        "rows": len(by_end[day]),
                        "sacct_version": "slurm 22.05.8",
                        "agent_version": "1.0.0",
                    }
                ],
            )
            if cluster == "alpha" and offset % 15 == 3:
                _write(
                    root,
                    "quarantine",
                    cluster,
                    day,
                    [
                        {
                            "cluster": cluster,
                            "date": day,
                            "drop_id": "q",
                            "line_no": 2 + k,
                            "reason": "bad_field_count",
                            "detail": "expected 38 fields, got 12: re-run the agent",
                            "raw_line": "123|broken",
                        }
                        for k in range(3)
                    ],
                )
            if cluster == "beta" and offset == days - 4:  # a drop quarantined whole (issue 18): one row, line_no 0
                _write(
                    root,
                    "quarantine",
                    cluster,
                    day,
                    [
                        {
                            "cluster": cluster,
                            "date": day,
                            "drop_id": "beadfeedbeadfeed",
                            "line_no": 0,
                            "reason": "bad_manifest",
                            "raw_line": "",
                            "detail": "landing/beta/...: bad_manifest: manifest field collected_at: 'noon' is not a UTC time",
                        }
                    ],
                )
        snap = _day_start(last_day) + dt.timedelta(hours=23)
        running = []
        for k in range(5 + ci):
            running.append(
                {
                    "cluster": cluster,
                    "job_id": str(90000 + k),
                    "job_id_raw": 90000 + k,
                    "name": "live",
                    "user": "u01",
                    "account": "acc-b",
                    "partition": "cpu",
                    "qos": "normal",
                    "state": "RUNNING" if k % 2 else "PENDING",
                    "submit_time": snap,
                    "alloc_cpus": 4,
                    "nodes": 1,
                    "alloc_gpus": 0,
                    "snapshot_time": snap,
                }
            )
        # the pipeline's layout: one snapshot file per cluster, replaced in place (cluster=<c>/latest/)
        write_snapshot(
            root, "running_jobs", cluster, pa.Table.from_pylist(running, schema=TABLE_SCHEMAS["running_jobs"])
        )
        _write_associations(root, cluster, first, {"acc-e": "u07"})
        _write_associations(root, cluster, last_day, COORDINATORS[cluster])
    return {"first": first, "last": last_day, "jobs": n_jobs}
