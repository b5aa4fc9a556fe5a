"""Protects issue 18: numbers outside physical ranges (sacct/limits.py) are quarantined lines, never an exception.

A key holder sent AllocCPUS 10^20, a negative ElapsedRaw and gres/gpu=10^20; the next ``process`` failed with
``ConversionException ... INT64`` and stopped every cluster. Each absurd line must be one quarantine row with
reason ``out_of_range`` (or ``negative_elapsed``) naming the field, the other lines parse as before, and
values at the limits are kept.
"""

import pyarrow as pa
import pytest

from slurm_assets.sacct import limits, summary
from slurm_assets_tests.sacct.builders import line, parse, text

ABSURD = [
    ({"AllocCPUS": "100000000000000000000"}, "AllocCPUS"),
    ({"AllocCPUS": str(limits.JOB_CPUS_MAX + 1)}, "AllocCPUS"),
    ({"AllocTRES": "cpu=2,gres/gpu=100000000000000000000,node=1"}, "GPUs"),
    ({"AllocTRES": f"cpu=2,gres/gpu:a100={limits.JOB_GPUS_MAX},gres/gpu:v100=1,node=1"}, "GPUs"),
    ({"ElapsedRaw": "99999999999999999"}, "elapsed"),
    ({"ElapsedRaw": str(limits.DURATION_S_MAX + 1)}, "elapsed"),
    ({"NNodes": str(limits.NODES_MAX + 1)}, "NNodes"),
    ({"Timelimit": "9999999-00:00:00"}, "Timelimit"),
    ({"ReqMem": "100000000P"}, "ReqMem"),
    ({"ReqMem": "2000000000000Mc", "AllocCPUS": "4"}, "ReqMem"),
    ({"MaxRSS": "99999999999999999999999999K"}, "MaxRSS"),
    ({"TotalCPU": "99999999999999-00:00:00"}, "TotalCPU"),
    ({"Submit": "1970-01-01T00:00:00", "Eligible": "1970-01-01T00:00:00"}, "wait"),
]


@pytest.mark.parametrize("values, field", ABSURD, ids=[f for _, f in ABSURD])
def test_an_absurd_number_is_one_quarantined_line(values, field):
    good = line(JobID="1", JobIDRaw="1")
    parsed = parse(text(good, line(JobID="2", JobIDRaw="2", **values), line(JobID="3", JobIDRaw="3")))
    assert parsed.jobs["job_id_raw"].to_pylist() == [1, 3]
    rows = parsed.quarantine.to_pylist()
    assert [(r["line_no"], r["reason"]) for r in rows] == [(3, "out_of_range")], rows
    assert field in rows[0]["detail"]


def test_negative_elapsed_raw_is_quarantined():
    parsed = parse(text(line(JobID="1", JobIDRaw="1", ElapsedRaw="-5"), line(JobID="2", JobIDRaw="2")))
    assert parsed.jobs["job_id_raw"].to_pylist() == [2]
    assert parsed.quarantine["reason"].to_pylist() == ["negative_elapsed"]


def test_a_step_with_absurd_memory_is_quarantined_and_not_folded():
    job = line(JobID="7", JobIDRaw="7", MaxRSS="")
    step_ok = line(JobID="7.0", JobIDRaw="7.0", MaxRSS="2G", State="COMPLETED")
    step_bad = line(JobID="7.1", JobIDRaw="7.1", MaxRSS="999999999999P", State="COMPLETED")
    parsed = parse(text(job, step_ok, step_bad))
    assert parsed.jobs["max_rss_bytes"].to_pylist() == [2 * 2**30]
    assert [(r["line_no"], r["reason"]) for r in parsed.quarantine.to_pylist()] == [(4, "out_of_range")]


def test_values_at_the_limits_are_kept_and_their_sums_never_overflow():
    at_limit = dict(
        AllocCPUS=str(limits.JOB_CPUS_MAX),
        ElapsedRaw=str(limits.DURATION_S_MAX),
        Start="2000-01-01T00:00:00",
        End="2019-12-31T00:00:00",
        Elapsed="7300-00:00:00",
        Submit="2000-01-01T00:00:00",
        Eligible="2000-01-01T00:00:00",
        ReqMem=f"{2**52}K",
        MaxRSS=f"{2**52}K",
        TotalCPU="01:00:00",
        Timelimit="UNLIMITED",
        AllocTRES=f"cpu=1,gres/gpu={limits.JOB_GPUS_MAX}",
    )
    lines = [line(JobID=str(i), JobIDRaw=str(i), **at_limit) for i in range(1, 41)]
    parsed = parse(text(*lines), day="2019-12-31")
    assert parsed.quarantine.num_rows == 0, parsed.quarantine.to_pylist()
    assert parsed.jobs.num_rows == 40
    rows = summary.job_summary(parsed.jobs)  # 40 x 2^62 bytes, 40 x ~2^60 CPU-seconds: past int64
    assert rows["mem_req_bytes"].to_pylist() == [limits.INT64_MAX]
    assert rows["cpu_alloc_s"].to_pylist() == [limits.INT64_MAX]
    assert rows["jobs"].to_pylist() == [40]
    assert pa.compute.sum(rows["cpu_hours"]).as_py() == pytest.approx(
        40 * limits.JOB_CPUS_MAX * limits.DURATION_S_MAX / 3600
    )


def test_the_issue_18_lines_are_quarantined_never_raised():
    lines = [
        line(JobID="1", JobIDRaw="1", AllocCPUS="100000000000000000000"),
        line(JobID="2", JobIDRaw="2", ElapsedRaw="-3600"),
        line(JobID="3", JobIDRaw="3", AllocTRES="cpu=2,gres/gpu=100000000000000000000"),
        line(JobID="4", JobIDRaw="4"),
    ]
    parsed = parse(text(*lines))
    assert parsed.jobs["job_id_raw"].to_pylist() == [4]
    assert [(r["line_no"], r["reason"]) for r in parsed.quarantine.to_pylist()] == [
        (2, "out_of_range"),
        (3, "negative_elapsed"),
        (4, "out_of_range"),
    ]
