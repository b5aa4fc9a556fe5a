"""Protects parse_sacct_text: every sacct format we meet becomes the right typed job rows, bad lines are
quarantined with a reason (never dropped), and no input at all makes the parser raise."""

import datetime as dt
import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.sacct.fields import (
    JOBS_SCHEMA,
    QUARANTINE_SCHEMA,
    REQUIRED_FIELD_GROUPS,
)
from slurm_assets_tests.sacct.builders import FIELDS, JOB, line, parse, sample, text

UTC = dt.UTC
GiB = 1024**3


def by_id(table: pa.Table) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        out.setdefault(row["job_id"], []).append(row)
    return out


# --- the 22.05-style sample: one expectation per job ------------------------------------------------

S22 = parse(sample("sacct_22.05_sample.psv"))


@pytest.mark.parametrize(
    "job_id, expected",
    [
        # plain job: TotalCPU from the job row, MaxRSS = max over batch/extern/0 steps
        (
            "2",
            {
                "job_id_raw": 2,
                "elapsed_s": 600,
                "wait_s": 5,
                "alloc_cpus": 4,
                "req_mem_bytes": GiB,
                "total_cpu_s": 1200.0,
                "max_rss_bytes": 102400 * 1024,
                "cpu_hours": 4 * 600 / 3600,
                "cpu_efficiency": 0.5,
                "mem_efficiency": 102400 * 1024 / GiB,
                "timelimit_s": 3600,
                "node_list": "vm",
                "name": "train",
            },
        ),
        # array task whose raw id differs from the array id
        (
            "22_1",
            {
                "job_id_raw": 23,
                "array_job_id": 22,
                "array_task_id": 1,
                "elapsed_s": 1800,
                "wait_s": 59,
                "max_rss_bytes": 51200 * 1024,
            },
        ),
        # the task that kept the array's own raw id
        ("22_2", {"job_id_raw": 22, "array_job_id": 22, "array_task_id": 2, "het_job_id": None}),
        # het job components: raw ids 59 and 60, offsets 0 and 1
        ("59+0", {"job_id_raw": 59, "het_job_id": 59, "het_job_offset": 0, "alloc_cpus": 2, "array_job_id": None}),
        ("59+1", {"job_id_raw": 60, "het_job_id": 59, "het_job_offset": 1, "alloc_cpus": 4}),
        # cancelled while pending: "CANCELLED by 1001", Start=None, nothing used, ratios NULL
        (
            "61",
            {
                "state": "CANCELLED",
                "start_time": None,
                "elapsed_s": 0,
                "wait_s": None,
                "cpu_hours": 0.0,
                "cpu_efficiency": None,
                "mem_efficiency": None,
                "node_list": None,
                "timelimit_s": None,
                "alloc_gpus": 0,
            },
        ),
        # typed GPUs
        ("62", {"alloc_gpus": 2, "gpu_types": "a100:2", "gpu_hours": 2.0, "cpu_hours": 4.0}),
        # untyped request recorded with its type
        ("63", {"alloc_gpus": 1, "gpu_types": "v100:1", "gpu_hours": 1.0}),
        # OOM: state kept, step MaxRSS small
        ("80", {"state": "OUT_OF_MEMORY", "exit_code": "0:125", "max_rss_bytes": 2340 * 1024, "total_cpu_s": 2.1}),
        # TIMEOUT after the 1-minute limit
        ("81", {"state": "TIMEOUT", "elapsed_s": 87, "timelimit_s": 60}),
        # JobName with an unescaped '|': the line has one field too many and is repaired
        ("95", {"state": "FAILED", "name": "a|b", "exit_code": "1:0"}),
    ],
)
def test_sample_22_05_jobs(job_id, expected):
    rows = by_id(S22.jobs)[job_id]
    assert len(rows) == 1
    got = {k: rows[0][k] for k in expected}
    for k, v in expected.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v), k
        else:
            assert got[k] == v, k


def test_sample_22_05_requeued_attempts_are_separate_finished_jobs():
    # sacct --duplicates: the REQUEUED attempt and the final run share JobIDRaw 70 and differ in Submit;
    # each attempt gets the CPU time of its own batch step.
    rows = sorted(by_id(S22.jobs)["70"], key=lambda r: r["submit_time"])
    assert [r["state"] for r in rows] == ["REQUEUED", "COMPLETED"]
    assert [r["total_cpu_s"] for r in rows] == [120.0, 180.0]
    assert [r["max_rss_bytes"] for r in rows] == [2048 * 1024, 4096 * 1024]
    assert rows[1]["wait_s"] == 0  # eligible again 121 s after the requeue, started at once


def test_sample_22_05_split_and_clean():
    assert len(S22.jobs) == 13
    assert sorted(S22.unfinished.column("job_id").to_pylist()) == ["56_[3-6%2]", "90", "91"]
    assert S22.unfinished.column("state").to_pylist() == ["PENDING", "RUNNING", "PENDING"]
    assert len(S22.quarantine) == 0
    assert S22.jobs.schema == JOBS_SCHEMA and S22.quarantine.schema == QUARANTINE_SCHEMA
    assert set(S22.jobs.column("cluster").to_pylist()) == {"alpha"}
    assert S22.jobs.column("end_date").to_pylist()[0] == dt.date(2024, 5, 1)
    pending = by_id(S22.unfinished)["56_[3-6%2]"][0]
    assert (pending["array_job_id"], pending["array_task_id"], pending["job_id_raw"]) == (56, None, 56)


def test_sample_20_11_per_node_and_per_cpu_memory_and_alloc_gres():
    jobs = by_id(parse(sample("sacct_20.11_sample.psv"), day="2021-03-01").jobs)
    mpi, gpu = jobs["1001"][0], jobs["1002"][0]
    assert mpi["req_mem_bytes"] == 4000 * 1024**2 * 2  # 4000Mn x 2 nodes
    assert mpi["elapsed_s"] == 26 * 3600  # no ElapsedRaw: from Elapsed 1-02:00:00
    assert mpi["total_cpu_s"] == 2 * 86400.0
    assert mpi["max_rss_bytes"] == 3000000 * 1024
    assert mpi["node_hours"] == pytest.approx(2 * 26.0)
    assert mpi["node_list"] == "node[01-02]"  # hostlist kept as printed
    assert gpu["req_mem_bytes"] == 1000 * 1024**2 * 4  # 1000Mc x 4 CPUs
    assert (gpu["alloc_gpus"], gpu["gpu_types"]) == (2, "tesla:2")  # AllocGRES
    assert gpu["timelimit_s"] is None  # UNLIMITED


def test_sample_24_x_cpu_from_tres_usage_and_unknown_fields():
    p = parse(sample("sacct_24.x_sample.psv"), day="2024-11-30")
    assert len(p.quarantine) == 0
    jobs = by_id(p.jobs)
    wrap = jobs["5001"][0]
    # TotalCPU 00:00:00 everywhere: CPU time comes from the steps' TRESUsageInTot cpu=
    assert wrap["total_cpu_s"] == 7200.0
    assert wrap["max_rss_bytes"] == 8 * GiB
    assert (wrap["alloc_gpus"], wrap["gpu_types"]) == (1, "a100_3g.20gb:1")  # gres/gpumem ignored
    assert wrap["alloc_cpus"] == 8  # NCPUS when AllocCPUS is absent
    assert wrap["end_date"] == dt.date(2024, 12, 1)  # ran across midnight
    assert wrap["name"] == "wrap"  # SubmitLine held the extra '|', not JobName
    cancelled = jobs["5002"][0]
    assert cancelled["state"] == "CANCELLED"  # "CANCELLED by 0"
    assert cancelled["eligible_time"] is None and cancelled["wait_s"] == 0  # wait from Submit
    assert cancelled["timelimit_s"] is None  # Partition_Limit
    assert cancelled["cpu_efficiency"] is None  # 0 s elapsed: NULL, not a division by zero


# --- header-driven ---------------------------------------------------------------------------------


def test_any_field_order_and_extra_fields_give_the_same_jobs():
    lines = [r for r in sample("sacct_22.05_sample.psv").decode().splitlines() if "|a|b" not in r]
    rows = [r.split("|") for r in lines]
    order = list(reversed(range(len(rows[0]))))
    shuffled = "\n".join("|".join([r[i] for i in order] + ["extra"]) for r in rows)
    shuffled = shuffled.replace("|extra", "|NewField2030", 1)  # a field this parser does not know
    again = parse(shuffled.encode())
    original = parse("\n".join(lines).encode())
    assert len(again.jobs) == 12
    assert again.jobs.equals(original.jobs)
    assert again.unfinished.equals(original.unfinished)


def test_header_names_are_case_insensitive():
    data = sample("sacct_22.05_sample.psv")
    header, rest = data.split(b"\n", 1)
    assert parse(header.lower() + b"\n" + rest).jobs.equals(S22.jobs)


@pytest.mark.parametrize("group", REQUIRED_FIELD_GROUPS, ids=lambda g: "/".join(g))
def test_missing_required_field_quarantines_the_whole_drop(group):
    fields = [f for f in FIELDS if f not in group]
    p = parse(text(line(fields), line(fields, JobID="101", JobIDRaw="101"), fields=fields))
    assert len(p.jobs) == 0 and len(p.unfinished) == 0
    assert p.quarantine.column("line_no").to_pylist() == [1, 2, 3]
    assert set(p.quarantine.column("reason").to_pylist()) == {"unusable_header"}
    detail = p.quarantine.column("detail")[0].as_py()
    assert group[0] in detail and "upgrade the agent" in detail


def test_only_jobid_without_jobidraw_still_parses_plain_jobs():
    fields = [f for f in FIELDS if f != "JobIDRaw"]
    p = parse(text(line(fields), line(fields, JobID="100.batch"), line(fields, JobID="7_1"), fields=fields))
    assert p.jobs.column("job_id_raw").to_pylist() == [100]
    assert p.quarantine.column("reason").to_pylist() == ["missing_job_id_raw"]


def test_missing_header_is_reported():
    p = parse(line().encode() + b"\n")
    assert p.quarantine.column("reason").to_pylist() == ["unusable_header"]
    assert "not a sacct header" in p.quarantine.column("detail")[0].as_py()


def test_optional_fields_missing_are_null():
    fields = ["JobIDRaw", "State", "Submit", "Start", "End", "NCPUS"]
    p = parse(text(line(fields, NCPUS="3"), fields=fields))
    row = p.jobs.to_pylist()[0]
    assert row["job_id"] == "100" and row["alloc_cpus"] == 3
    assert row["elapsed_s"] == 3600  # from End - Start
    assert row["user"] is None and row["max_rss_bytes"] is None and row["alloc_gpus"] == 0
    assert row["cpu_hours"] == 3.0


# --- validation -> quarantine ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"Start": "2024-05-01T12:00:00", "End": "2024-05-01T11:00:00", "ElapsedRaw": "0"}, "end_before_start"),
        ({"ElapsedRaw": "-5"}, "negative_elapsed"),  # corrupt accounting record
        ({"Submit": "yesterday"}, "bad_time"),  # unparsable time
        ({"End": "2024-05-01T25:00:00"}, "bad_time"),  # impossible hour
        ({"AllocCPUS": "four"}, "bad_number"),  # unparsable count
        ({"Elapsed": "1 hour", "ElapsedRaw": ""}, "bad_number"),  # unparsable duration
        ({"ReqMem": "lots"}, "bad_number"),  # unparsable memory
        ({"State": "EXPLODED"}, "unknown_state"),  # not a Slurm state
        ({"JobID": "abc", "JobIDRaw": "abc"}, "bad_job_id"),  # not a job id
        ({"Submit": "Unknown"}, "missing_submit_time"),  # part of the key
        ({"End": "Unknown"}, "missing_end_time"),  # final state without End
        ({"AllocCPUS": ""}, "missing_alloc_cpus"),  # CPU-hours impossible
    ],
)
def test_bad_job_rows_are_quarantined_and_the_rest_processed(values, reason):
    bad = line(**{"JobID": "200", "JobIDRaw": "200", **values})
    p = parse(text(line(), bad, line(JobID="201", JobIDRaw="201")))
    assert p.jobs.column("job_id").to_pylist() == ["100", "201"]
    q = p.quarantine.to_pylist()
    assert [(r["line_no"], r["reason"], r["raw_line"]) for r in q] == [(3, reason, bad)]
    assert q[0]["detail"] and q[0]["cluster"] == "alpha" and q[0]["drop_id"] == "d0"
    assert q[0]["date"] == dt.date(2024, 5, 1)


def test_bad_step_row_is_quarantined_and_its_job_kept():
    bad_step = line(JobID="100.batch", JobIDRaw="100.batch", MaxRSS="huge", User="")
    p = parse(text(line(), bad_step))
    assert len(p.jobs) == 1
    assert p.quarantine.column("reason").to_pylist() == ["bad_number"]
    assert "MaxRSS=huge" in p.quarantine.column("detail")[0].as_py()


def test_orphan_steps_are_ignored():
    # The job row of 300 is in another drop: its steps count nothing here and are not errors.
    p = parse(text(line(), line(JobID="300.batch", JobIDRaw="300.batch", MaxRSS="999G", TotalCPU="10:00:00")))
    assert p.jobs.column("job_id").to_pylist() == ["100"]
    assert p.jobs.column("max_rss_bytes").to_pylist() == [None]
    assert len(p.quarantine) == 0


NO_FREE_TEXT = FIELDS[:-1]


@pytest.mark.parametrize(
    "fields, bad, note",
    [
        (FIELDS, "100|100|alice", "truncated line"),
        (FIELDS, line(JobID="200", JobIDRaw="200", QOS="a|b"), "'|' in a field that is not free text"),
        (NO_FREE_TEXT, line(NO_FREE_TEXT, JobID="200", JobIDRaw="200") + "|x|y", "no free-text field to hold it"),
    ],
)
def test_wrong_field_count_is_quarantined(fields, bad, note):
    p = parse(text(line(fields), bad, fields=fields))
    assert len(p.jobs) == 1, note
    q = p.quarantine.to_pylist()
    assert [(r["line_no"], r["reason"], r["raw_line"]) for r in q] == [(3, "bad_field_count", bad)]


def test_newline_in_job_name_is_rejoined():
    # A newline inside a field splits the record into two short lines; when the field is in the middle
    # of the line both parts are short, and joined they have the header's field count. (When the field
    # is first or last one part looks complete: the other part is quarantined as bad_field_count.)
    fields = FIELDS[:3] + FIELDS[-1:] + FIELDS[3:-1]
    broken = line(fields, JobID="200", JobIDRaw="200", JobName="two\nlines")
    p = parse(text(line(fields), broken, line(fields, JobID="201", JobIDRaw="201"), fields=fields))
    assert p.jobs.column("name").to_pylist() == ["job", "two\nlines", "job"]
    assert len(p.quarantine) == 0


def test_two_free_text_fields_that_both_read_well_but_disagree_are_quarantined():
    # SubmitLine and JobName adjacent to a numeric field: the '|' could belong to either ... the
    # candidates read differently (AllocCPUS moves), so only the consistent one is taken.
    fields = ["JobIDRaw", "State", "Submit", "Start", "End", "SubmitLine", "AllocCPUS", "JobName"]
    raw = "|".join(["5", "COMPLETED", JOB["Submit"], JOB["Start"], JOB["End"], "sbatch a", "2", "x|3"])
    p = parse(text(raw, fields=fields))
    # SubmitLine candidate: AllocCPUS="2|..."? no: SubmitLine="sbatch a|2", AllocCPUS="x" -> unreadable.
    # JobName candidate: AllocCPUS=2, JobName="x|3": the only readable one.
    assert p.jobs.column("name").to_pylist() == ["x|3"]
    raw2 = "|".join(["5", "COMPLETED", JOB["Submit"], JOB["Start"], JOB["End"], "s", "2", "3", "n"])
    p2 = parse(text(raw2, fields=fields))  # both candidates readable, AllocCPUS 2 or 3: ambiguous
    assert p2.quarantine.column("reason").to_pylist() == ["bad_field_count"]
    assert len(p2.jobs) == 0


# --- odd input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, jobs, quarantined",
    [
        (b"", 0, 0),  # nothing at all
        (b"\n\n", 0, 0),  # blank lines only
        (text(), 0, 0),  # header only (no job in the window)
        (text(line()).replace(b"\n", b"\r\n"), 1, 0),  # CRLF line ends
        (text(line()).rstrip(b"\n"), 1, 0),  # no final newline
        (text(line(), "", line(JobID="101", JobIDRaw="101")), 2, 0),  # blank line in between
        (text(line(), "|".join(FIELDS)), 1, 0),  # header repeated (concatenated outputs)
        (b"\xef\xbb\xbf" + text(line()), 1, 0),  # UTF-8 byte order mark
        (text(line(User="jos\xe9")).replace("jos\xe9".encode(), b"jos\xe9"), 1, 0),  # Latin-1 byte in a name
        (text(line(JobName="a\x00b")), 1, 0),  # NUL byte
    ],
)
def test_odd_input(data, jobs, quarantined):
    p = parse(data)
    assert (len(p.jobs), len(p.quarantine)) == (jobs, quarantined)


def test_non_utf8_bytes_are_replaced():
    p = parse(text(line(User="jos\xe9")).replace("jos\xe9".encode(), b"jos\xe9"))
    assert p.jobs.column("user").to_pylist() == ["jos\ufffd"]


def _check_invariants(p):
    assert p.jobs.schema == JOBS_SCHEMA and p.unfinished.schema == JOBS_SCHEMA
    assert p.quarantine.schema == QUARANTINE_SCHEMA
    for table in (p.jobs, p.unfinished):
        for name in ("cpu_hours", "gpu_hours", "node_hours", "cpu_efficiency", "mem_efficiency", "total_cpu_s"):
            for v in table.column(name).to_pylist():
                assert v is None or math.isfinite(v), name
    if len(p.jobs):
        assert pc.min(p.jobs.column("elapsed_s")).as_py() >= 0
        assert p.jobs.column("end_time").null_count == 0
        assert p.jobs.column("submit_time").null_count == 0
    assert p.quarantine.column("reason").null_count == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(data):
    _check_invariants(parse(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(sample("sacct_22.05_sample.psv").decode().splitlines()[1:]),
            st.text(alphabet="0123456789|:-T.KMGnc_[]%+ab\n\r", max_size=200),
        ),
        max_size=30,
    ),
    st.integers(min_value=0, max_value=400),
    st.sampled_from(["", "|", "\n", "x" * 5000, "\udcff"]),
)
def test_never_raises_on_mangled_sacct_text(lines, cut, insert):
    body = "\n".join(lines)
    body = body[:cut] + insert + body[cut:]
    data = ("|".join(FIELDS) + "\n" + body).encode("utf-8", errors="surrogateescape")
    _check_invariants(parse(data))


def test_line_numbers_count_blank_lines():
    # Line numbers are physical (1-based, header = its own line), blank lines included.
    bad = line(JobID="200", JobIDRaw="200", Submit="soon")
    data = b"\n\n" + text(line(), "", "", bad, "", "100|100|short").replace(b"\n", b"\r\n", 3)
    q = parse(data).quarantine.to_pylist()
    assert [(r["line_no"], r["reason"], r["raw_line"]) for r in q] == [
        (7, "bad_time", bad),
        (9, "bad_field_count", "100|100|short"),
    ]


CORRUPTIONS = {
    "ok": {},
    "bad_time": {"Start": "2024-05-01T99:00:00"},
    "bad_number": {"AllocCPUS": "x"},
    "negative": {"ElapsedRaw": "-1"},
    "pipe_in_qos": {"QOS": "nor|mal"},  # wrong field count, no free text to hold it
    "pipe_in_name": {"JobName": "a|b"},  # repaired
    "running": {"State": "RUNNING", "End": "Unknown"},
    "cancelled_by": {"State": "CANCELLED by 1001"},
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(CORRUPTIONS)), st.booleans(), st.booleans()), max_size=25))
def test_every_job_line_is_a_job_or_quarantined(spec):
    # No line is lost: each job line ends up in jobs/unfinished or in quarantine, never both, never neither.
    lines, job_lines = [], []
    for i, (kind, truncate, with_step) in enumerate(spec):
        jid = str(1000 + i)
        row = line(**{"JobID": jid, "JobIDRaw": jid, **CORRUPTIONS[kind]})
        lines.append(row[: len(row) // 2] if truncate else row)
        job_lines.append(len(lines) + 1)  # +1: the header is line 1
        if with_step:
            lines.append(line(JobID=jid + ".batch", JobIDRaw=jid + ".batch", User="", MaxRSS="10K"))
    p = parse(text(*lines))
    quarantined = set(p.quarantine.column("line_no").to_pylist())
    assert len(p.quarantine) == len(quarantined)  # one reason per line
    assert len(p.jobs) + len(p.unfinished) + len(quarantined & set(job_lines)) == len(job_lines)
    keys = list(zip(p.jobs["job_id_raw"].to_pylist(), p.jobs["submit_time"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))


def test_job_id_beyond_64_bits_is_quarantined():
    big = "9" * 25
    p = parse(text(line(JobID=big, JobIDRaw=big)))
    assert p.quarantine.column("reason").to_pylist() == ["bad_job_id"]
    assert len(p.jobs) == 0


def test_steps_of_requeued_attempts_with_the_same_start_go_to_the_attempt_listed_last():
    # Two attempts of job 100 share JobIDRaw and Start (requeued, then cancelled while pending again):
    # the steps always go to the one listed last (an ASOF JOIN chose one at random: files differed run to run).
    first = line(State="REQUEUED", Submit="2024-05-01T09:00:00", End="2024-05-01T10:30:00", TotalCPU="00:00:00")
    last = line(State="CANCELLED by 0", Submit="2024-05-01T10:30:00", TotalCPU="00:00:00")
    step = line(
        JobID="100.batch", JobIDRaw="100.batch", Start="2024-05-01T10:00:00", MaxRSS="2G", TotalCPU="00:10:00", User=""
    )
    for _ in range(5):
        rows = sorted(parse(text(first, last, step)).jobs.to_pylist(), key=lambda r: r["submit_time"])
        assert [(r["state"], r["max_rss_bytes"], r["total_cpu_s"]) for r in rows] == [
            ("REQUEUED", None, 0.0),
            ("CANCELLED", 2 * GiB, 600.0),
        ]
