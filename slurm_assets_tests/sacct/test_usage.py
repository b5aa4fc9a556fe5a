"""Protects apportion_usage: usage lands in the UTC days the job ran, and days sum to the job totals."""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_assets.sacct.fields import (
    GPU_USAGE_DAILY_SCHEMA,
    JOBS_SCHEMA,
    USAGE_DAILY_SCHEMA,
)
from slurm_assets.sacct.usage import apportion_usage
from slurm_assets_tests.sacct.builders import line, parse, sample, text

D = dt.date


def _days(table: pa.Table, column: str) -> dict:
    return {r["date"]: r[column] for r in table.to_pylist()}


@pytest.mark.parametrize(
    "start, end, cpu_hours_by_day",
    [
        # within one day
        ("2024-05-01T10:00:00", "2024-05-01T12:00:00", {D(2024, 5, 1): 4.0}),
        # across midnight: 1 h before, 2 h after
        ("2024-05-01T23:00:00", "2024-05-02T02:00:00", {D(2024, 5, 1): 2.0, D(2024, 5, 2): 4.0}),
        # three days: 1 h, 24 h, 1 h
        ("2024-05-01T23:00:00", "2024-05-03T01:00:00", {D(2024, 5, 1): 2.0, D(2024, 5, 2): 48.0, D(2024, 5, 3): 2.0}),
        # ends exactly at midnight: all on the first day, jobs_ended on the end day (with 0 hours)
        ("2024-05-01T22:00:00", "2024-05-02T00:00:00", {D(2024, 5, 1): 4.0, D(2024, 5, 2): 0.0}),
    ],
)
def test_split_over_utc_days(start, end, cpu_hours_by_day):
    elapsed = int((dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds())
    jobs = parse(text(line(Start=start, End=end, ElapsedRaw=str(elapsed), AllocCPUS="2"))).jobs
    usage, _ = apportion_usage(jobs)
    assert _days(usage, "cpu_hours") == pytest.approx(cpu_hours_by_day)
    ended = _days(usage, "jobs_ended")
    assert ended[max(cpu_hours_by_day)] == 1 and sum(ended.values()) == 1


def test_never_started_job_counts_once_on_its_end_day():
    jobs = parse(text(line(Start="None", End="2024-05-01T12:00:00", ElapsedRaw="0"))).jobs
    usage, gpu = apportion_usage(jobs)
    assert usage.to_pylist() == [
        {
            "cluster": "alpha",
            "date": D(2024, 5, 1),
            "user": "alice",
            "account": "physics",
            "partition": "cpu",
            "qos": "normal",
            "cpu_hours": 0.0,
            "gpu_hours": 0.0,
            "node_hours": 0.0,
            "jobs_ended": 1,
        }
    ]
    assert len(gpu) == 0


def test_gpu_hours_by_type_including_untyped_remainder():
    tres = "cpu=1,gres/gpu:a100=1,gres/gpu=3,node=1"  # 3 GPUs, only one of them typed
    jobs = parse(
        text(line(AllocTRES=tres, Start="2024-05-01T10:00:00", End="2024-05-01T12:00:00", ElapsedRaw="7200"))
    ).jobs
    _, gpu = apportion_usage(jobs)
    assert {r["gpu_type"]: r["gpu_hours"] for r in gpu.to_pylist()} == pytest.approx({"a100": 2.0, "": 4.0})
    assert gpu.schema == GPU_USAGE_DAILY_SCHEMA


def test_sample_totals_and_schema():
    jobs = parse(sample("sacct_24.x_sample.psv")).jobs
    usage, gpu = apportion_usage(jobs)
    assert usage.schema == USAGE_DAILY_SCHEMA
    assert sorted(set(usage.column("date").to_pylist())) == [D(2024, 11, 30), D(2024, 12, 1)]
    assert pc.sum(gpu["gpu_hours"]).as_py() == pytest.approx(pc.sum(jobs["gpu_hours"]).as_py())


TS = st.integers(min_value=1_700_000_000, max_value=1_700_000_000 + 20 * 86400)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            TS, st.integers(0, 5 * 86400), st.integers(0, 64), st.integers(0, 8), st.sampled_from(["alice", "bob"])
        ),
        min_size=1,
        max_size=25,
    )
)
def test_sum_over_days_equals_job_totals(specs):
    rows = []
    for i, (start, length, cpus, gpus, user) in enumerate(specs):
        s = dt.datetime.fromtimestamp(start, dt.UTC)
        e = dt.datetime.fromtimestamp(start + length, dt.UTC)
        rows.append(
            {
                "cluster": "alpha",
                "job_id": str(i),
                "job_id_raw": i,
                "user": user,
                "account": "a",
                "partition": "p",
                "qos": "q",
                "state": "COMPLETED",
                "submit_time": s,
                "start_time": s,
                "end_time": e,
                "end_date": e.date(),
                "elapsed_s": length,
                "alloc_cpus": cpus,
                "alloc_gpus": gpus,
                "nodes": 1,
                "gpu_types": "a100:1" if gpus else "",
                "cpu_hours": cpus * length / 3600,
                "gpu_hours": gpus * length / 3600,
                "node_hours": length / 3600,
            }
        )
    jobs = pa.Table.from_pylist(rows, schema=JOBS_SCHEMA)
    usage, gpu = apportion_usage(jobs)
    for col in ("cpu_hours", "gpu_hours", "node_hours"):
        assert (pc.sum(usage[col]).as_py() or 0) == pytest.approx(pc.sum(jobs[col]).as_py(), rel=1e-9, abs=1e-9)
    assert (pc.sum(gpu["gpu_hours"]).as_py() or 0) == pytest.approx(pc.sum(jobs["gpu_hours"]).as_py(), abs=1e-9)
    assert pc.sum(usage["jobs_ended"]).as_py() == len(jobs)
    for user in ("alice", "bob"):
        mine = jobs.filter(pc.equal(jobs["user"], user))
        used = usage.filter(pc.equal(usage["user"], user))
        assert (pc.sum(used["cpu_hours"]).as_py() or 0) == pytest.approx(
            pc.sum(mine["cpu_hours"]).as_py() or 0, abs=1e-9
        )
