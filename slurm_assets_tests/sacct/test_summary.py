"""Protects job_summary: summing its rows gives exactly what the same aggregate over the jobs gives.

The dashboard answers its job-level figures from job_summary (issue 7), so any
grouping of summary rows must equal the direct aggregation over ``jobs``
(counts and integer sums exactly, float sums to rounding), for random jobs with
NULLs and for real sacct samples; a batch equals one call per table.
"""

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.sacct.fields import JOB_SUMMARY_SCHEMA, JOBS_SCHEMA
from slurm_assets.sacct.summary import (
    BUCKETS,
    CPU_KNOWN,
    MEM_KNOWN,
    SUMMARY_TOTAL_CPU_S,
    WASTED_CPU_HOURS,
    bucket_sql,
    job_summary,
    job_summary_groups,
)
from slurm_assets_tests.sacct.builders import parse, sample

UTC = dt.UTC
# (summary expression, jobs expression) of each figure.
FIGURES = {
    "jobs": ("sum(jobs)", "count(*)"),
    "cpu_hours": ("sum(cpu_hours)", "sum(cpu_hours)"),
    "gpu_hours": ("sum(gpu_hours)", "sum(gpu_hours)"),
    "node_hours": ("sum(node_hours)", "sum(node_hours)"),
    "alloc_cpus": ("sum(alloc_cpus_sum)", "sum(alloc_cpus)"),
    "wait_jobs": ("coalesce(sum(jobs) FILTER (WHERE wait_bucket IS NOT NULL), 0)", "count(wait_s)"),
    "wait_s": ("sum(wait_s_sum)", "sum(wait_s)"),
    "total_cpu_s": (SUMMARY_TOTAL_CPU_S, "sum(total_cpu_s)"),
    "cpu_known": ("sum(cpu_known_jobs)", f"count(*) FILTER (WHERE {CPU_KNOWN})"),
    "cpu_used": ("sum(cpu_used_s)", f"sum(total_cpu_s) FILTER (WHERE {CPU_KNOWN})"),
    "cpu_alloc": ("sum(cpu_alloc_s)", f"sum(alloc_cpus * elapsed_s) FILTER (WHERE {CPU_KNOWN})"),
    "mem_used": ("sum(mem_used_bytes)", f"sum(max_rss_bytes) FILTER (WHERE {MEM_KNOWN})"),
    "mem_req": ("sum(mem_req_bytes)", f"sum(req_mem_bytes) FILTER (WHERE {MEM_KNOWN})"),
    "wasted": ("sum(wasted_cpu_hours)", f"sum({WASTED_CPU_HOURS})"),
    "max_wasted": ("max(max_wasted_cpu_hours)", f"max({WASTED_CPU_HOURS})"),
}
# Groupings the dashboard uses: (summary key, jobs key).
GROUPINGS = [
    ("(cluster, date)", "(cluster, end_date)"),
    ('"user"', '"user"'),
    ("(account, state)", "(account, state)"),
    ("(partition, qos)", "(partition, qos)"),
] + [(name, bucket_sql(*spec)) for name, spec in BUCKETS.items()]


def assert_summary_matches(jobs: pa.Table) -> None:
    summary = job_summary(jobs)
    assert summary.schema == JOB_SUMMARY_SCHEMA
    con = duckdb.connect()
    con.register("j", jobs)
    con.register("s", summary)
    for s_key, j_key in GROUPINGS:
        s_cols = ", ".join(f"{s} AS {n}" for n, (s, _) in FIGURES.items())
        j_cols = ", ".join(f"{j} AS {n}" for n, (_, j) in FIGURES.items())
        got = con.execute(f"SELECT {s_key} AS k, {s_cols} FROM s GROUP BY 1 ORDER BY 1 NULLS FIRST").fetchall()
        want = con.execute(f"SELECT {j_key} AS k, {j_cols} FROM j GROUP BY 1 ORDER BY 1 NULLS FIRST").fetchall()
        assert len(got) == len(want), s_key
        for g, w in zip(got, want, strict=True):
            for name, a, b in zip(["key", *FIGURES], g, w, strict=True):
                if isinstance(b, float):
                    assert a == pytest.approx(b, rel=1e-12, abs=1e-9), (s_key, name, g[0])
                else:
                    assert a == b, (s_key, name, g[0])


def _jobs(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=JOBS_SCHEMA)


def _opt(strategy):
    return st.one_of(st.none(), strategy)


@st.composite
def job_rows(draw):
    n = draw(st.integers(0, 40))
    rows = []
    for i in range(n):
        end = dt.datetime(2024, 5, 1, tzinfo=UTC) + dt.timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        cpus, elapsed = draw(_opt(st.integers(0, 600))), draw(_opt(st.integers(0, 5 * 86400)))
        gpus, nodes = draw(_opt(st.integers(0, 12))), draw(_opt(st.integers(0, 40)))
        rows.append(
            {
                "cluster": draw(st.sampled_from(["alpha", "beta"])),
                "job_id_raw": i,
                "job_id": str(i),
                "user": draw(_opt(st.sampled_from(["ann", "bob", "cy"]))),
                "account": draw(st.sampled_from(["phys", "bio"])),
                "partition": draw(_opt(st.sampled_from(["cpu", "gpu"]))),
                "qos": draw(st.sampled_from(["normal", "high"])),
                "state": draw(st.sampled_from(["COMPLETED", "FAILED", "CANCELLED"])),
                "end_time": end,
                "end_date": end.date(),
                "submit_time": end - dt.timedelta(hours=draw(st.integers(0, 50))),
                "elapsed_s": elapsed,
                "wait_s": draw(_opt(st.sampled_from([0, 59, 60, 599, 600, 3600, 21600, 86400, 10**6]))),
                "alloc_cpus": cpus,
                "nodes": nodes,
                "alloc_gpus": gpus,
                "req_mem_bytes": draw(_opt(st.integers(0, 2**40))),
                "max_rss_bytes": draw(_opt(st.integers(0, 2**40))),
                "total_cpu_s": draw(_opt(st.floats(0, 1e7, allow_nan=False))),
                "cpu_hours": None if cpus is None or elapsed is None else cpus * elapsed / 3600,
                "gpu_hours": None if gpus is None or elapsed is None else gpus * elapsed / 3600,
                "node_hours": None if nodes is None or elapsed is None else nodes * elapsed / 3600,
            }
        )
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_rows())
def test_summary_sums_equal_jobs_aggregates(rows):
    assert_summary_matches(_jobs(rows))


@pytest.mark.parametrize("name", ["sacct_20.11_sample.psv", "sacct_22.05_sample.psv", "sacct_24.x_sample.psv"])
def test_real_samples(name):
    jobs = parse(sample(name)).jobs
    assert jobs.num_rows > 0
    assert_summary_matches(jobs.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA))


def test_bucket_bounds():
    rows = [
        {
            "cluster": "a",
            "end_date": dt.date(2024, 5, 1),
            "job_id_raw": k,
            "alloc_cpus": c,
            "wait_s": w,
            "alloc_gpus": 0,
            "nodes": 1,
            "elapsed_s": 10,
        }
        for k, (c, w) in enumerate([(1, 59), (2, 60), (4, 599), (5, 600), (256, 86399), (257, 86400), (None, None)])
    ]
    summary = job_summary(_jobs(rows)).to_pylist()
    assert [(r["size_bucket"], r["wait_bucket"], r["jobs"]) for r in summary] == [  # sorted, NULLs first
        (None, None, 1),
        (0, 0, 1),
        (1, 1, 2),
        (2, 2, 1),
        (4, 4, 1),
        (5, 5, 1),
    ]


def test_batch_equals_one_by_one():
    tables = [
        parse(sample(n)).jobs.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
        for n in ("sacct_22.05_sample.psv", "sacct_24.x_sample.psv")
    ]
    tables.insert(1, JOBS_SCHEMA.empty_table())
    assert [t.to_pylist() for t in job_summary_groups(tables)] == [job_summary(t).to_pylist() for t in tables]
    assert job_summary(JOBS_SCHEMA.empty_table()).num_rows == 0
