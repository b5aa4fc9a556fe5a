"""Protects the quality rules behind the asset checks: each finds the offending rows per cluster and
nothing on clean data (NULL times of unknown values are not errors)."""

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from slurm_assets.pipeline import quality
from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.sacct.fields import JOBS_SCHEMA, QUARANTINE_SCHEMA

T0 = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)


def jobs(*rows):
    base = {
        "cluster": "alpha",
        "job_id_raw": 1,
        "submit_time": T0,
        "start_time": T0,
        "end_time": T0,
        "elapsed_s": 0,
        "wait_s": 0,
        "cpu_hours": 1.0,
        "gpu_hours": 0.0,
        "state": "COMPLETED",
    }
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=JOBS_SCHEMA)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{}, {"job_id_raw": 2}], {}),  # distinct ids
        ([{}, {"submit_time": T0 + dt.timedelta(hours=1)}], {}),  # requeued: same id, new submit
        ([{}, {"cluster": "beta"}], {}),  # same id on another cluster
        ([{}, {}, {}], {"alpha": 2}),  # three copies = two extra rows
        ([{}, {}, {"cluster": "beta"}, {"cluster": "beta"}], {"alpha": 1, "beta": 1}),
    ],
)
def test_duplicate_job_keys(rows, expected):
    assert quality.duplicate_job_keys(jobs(*rows)) == expected


@pytest.mark.parametrize(
    ("row", "bad"),
    [
        ({}, False),  # zero-length job
        ({"end_time": T0 - dt.timedelta(seconds=1)}, True),  # end < start
        ({"elapsed_s": -5}, True),
        ({"wait_s": -1}, True),
        ({"start_time": None, "end_time": T0, "elapsed_s": None, "wait_s": None}, False),  # cancelled while pending
    ],
)
def test_bad_durations(row, bad):
    assert quality.bad_durations(jobs(row)) == ({"alpha": 1} if bad else {})


def test_usage_mismatch_and_summaries():
    usage = pa.Table.from_pylist(
        [
            {"cluster": "alpha", "cpu_hours": 0.5},
            {"cluster": "alpha", "cpu_hours": 0.5},
            {"cluster": "beta", "cpu_hours": 3.0},
        ],
        schema=TABLE_SCHEMAS["usage_daily"],
    )
    assert quality.usage_mismatch(jobs({}), usage) == {"beta": 3.0}
    summary = quality.cluster_summary(
        jobs({}, {"job_id_raw": 2, "state": "FAILED"}), TABLE_SCHEMAS["quarantine"].empty_table()
    )
    assert summary == {
        "alpha": {
            "rows": 2,
            "cpu_hours": 2.0,
            "gpu_hours": 0.0,
            "jobs_by_state": {"COMPLETED": 1, "FAILED": 1},
            "quarantined": 0,
        }
    }


def test_quarantine_shares():
    drops = pa.Table.from_pylist(
        [{"cluster": "alpha", "rows": 200}, {"cluster": "beta", "rows": 0}], schema=TABLE_SCHEMAS["drops"]
    )
    quarantine = pa.Table.from_pylist([{"cluster": "alpha"}, {"cluster": "beta"}], schema=TABLE_SCHEMAS["quarantine"])
    # beta: an unreadable drop with no readable lines is 100 % quarantined
    assert quality.quarantine_shares(quarantine, drops) == {"alpha": 0.005, "beta": 1.0}


def test_merge_counts_adds_nested_numbers():
    day1 = {"alpha": {"rows": 2, "cpu_hours": 1.5, "jobs_by_state": {"COMPLETED": 2}}}
    day2 = {"alpha": {"rows": 1, "cpu_hours": 0.25, "jobs_by_state": {"FAILED": 1}}, "beta": {"rows": 4}}
    assert quality.merge_counts(quality.merge_counts({}, day1), day2) == {
        "alpha": {"cpu_hours": 1.75, "jobs_by_state": {"COMPLETED": 2, "FAILED": 1}, "rows": 3},
        "beta": {"rows": 4},
    }


def test_a_capacity_cross_check_is_not_a_drop_quarantined_whole():
    """The demo's inventory vs. a real slurmdbd once failed `no_drop_quarantined_whole` though every job was in."""

    def row(reason, line_no=0, drop_id="d1"):
        return {
            "cluster": "alpha",
            "date": T0.date(),
            "drop_id": drop_id,
            "line_no": line_no,
            "reason": reason,
            "detail": f"landing/alpha/2024-05-01/{drop_id}: {reason}",
            "raw_line": "",
        }

    rows = pa.Table.from_pylist(
        [row("capacity_mismatch"), row("bad_manifest", drop_id="d2"), row("out_of_range", line_no=7)],
        schema=QUARANTINE_SCHEMA,
    )
    assert quality.whole_drops(rows) == {"alpha": ["landing/alpha/2024-05-01/d2: bad_manifest"]}
    con = duckdb.connect()
    con.register("quarantine", rows)
    assert con.execute(f"SELECT drop_id FROM quarantine WHERE {quality.WHOLE_DROP_SQL}").fetchall() == [("d2",)]
