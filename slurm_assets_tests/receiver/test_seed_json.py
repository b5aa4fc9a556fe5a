"""Protects the seed JSON -> sacct text conversion: header, values, UTC day split, named refusals."""

import pytest

from slurm_assets.receiver.seed_json import SeedJsonError, parse_seed_body


def days(jobs):
    return {d.day: d.text.decode() for d in parse_seed_body({"hostname": "alpha", "jobs": jobs}).days}


@pytest.mark.parametrize(
    "job, day",
    [
        (
            {"End": "2024-05-01T23:59:59"},
            "2024-05-01",
        ),  # naive = UTC (the agent runs sacct with TZ=UTC)
        (
            {"End": "2024-05-02T01:00:00+02:00"},
            "2024-05-01",
        ),  # offsets are converted to UTC
        ({"End": "2024-05-01T22:00:00-03:00"}, "2024-05-02"),
        ({"End": "2024-05-01T10:00:00Z"}, "2024-05-01"),  # Z suffix
        (
            {"End": "Unknown", "Start": "2024-05-03T00:00:00"},
            "2024-05-03",
        ),  # running: Start
        (
            {"End": "", "Start": "None", "Submit": "2024-05-04T08:00:00"},
            "2024-05-04",
        ),  # pending: Submit
        ({"End": "2024-05-01T10:00:00.250000"}, "2024-05-01"),  # fractions of a second
        (
            {"End": None, "Submit": "2024-05-05T08:00:00"},
            "2024-05-05",
        ),  # null counts as missing
    ],
)
def test_job_day_is_end_else_start_else_submit_in_utc(job, day):
    assert list(days([job])) == [day]


def test_header_is_the_days_union_of_keys_in_first_seen_order_and_values_are_text():
    jobs = [
        {"JobID": "1", "End": "2024-05-01T01:00:00", "AllocCPUS": 4},
        {"JobID": "2", "End": "2024-05-01T02:00:00", "ReqMem": None, "CPUTimeRAW": 1.5},
        {"JobID": "3", "End": "2024-05-02T02:00:00", "State": "FAILED"},
    ]
    # JobIDRaw (from JobID) and AllocTRES (from AllocCPUS/AllocGPUS) are added where the job lacks them
    assert days(jobs) == {
        "2024-05-01": "JobID|End|AllocCPUS|JobIDRaw|AllocTRES|ReqMem|CPUTimeRAW\n"
        "1|2024-05-01T01:00:00|4|1|cpu=4||\n"
        "2|2024-05-01T02:00:00||2|||1.5\n",
        "2024-05-02": "JobID|End|State|JobIDRaw\n3|2024-05-02T02:00:00|FAILED|3\n",
    }


def test_identical_bodies_give_identical_text():
    jobs = [{"JobID": str(i), "End": f"2024-05-0{1 + i % 3}T00:00:00"} for i in range(9)]
    assert parse_seed_body({"hostname": "a", "jobs": jobs}) == parse_seed_body({"hostname": "a", "jobs": list(jobs)})


@pytest.mark.parametrize(
    "jobs, message",
    [
        (
            [{"End": "2024-05-01T00:00:00", "JobName": "a|b"}],
            "jobs[0].JobName: value 'a|b' contains '|'",
        ),
        (
            [
                {"End": "2024-05-01T00:00:00"},
                {"End": "2024-05-01T00:00:00", "Comment": "a\nb"},
            ],
            "jobs[1].Comment",
        ),
        (
            [{"End": "2024-05-01T00:00:00", "Job|ID": "1"}],
            "jobs[0]: field name 'Job|ID'",
        ),
        ([{"End": "2024-05-01T00:00:00", "": "1"}], "jobs[0]: field name ''"),
        (
            [{"End": "2024-05-01T00:00:00", "Flag": True}],
            "jobs[0].Flag: value True has type bool",
        ),
        ([{"End": "2024-05-01T00:00:00", "List": [1]}], "jobs[0].List"),
        ([{"JobID": "1", "End": "Unknown"}], "jobs[0]: no End, Start or Submit"),
        ([{"End": "01/05/2024"}], "jobs[0].End: '01/05/2024' is not a timestamp"),
        (
            [{"End": "0001-01-01T00:00:00+05:00"}],
            "jobs[0].End: '0001-01-01T00:00:00+05:00' is not a timestamp",
        ),
        ([{"End": "9999-12-31T23:00:00"}], "jobs[0].End: '9999-12-31T23:00:00' is not a timestamp"),  # years
        ([{"Submit": "1969-12-31T23:00:00"}], "jobs[0].Submit: '1969-12-31T23:00:00' is not"),  # 1970-2999
        ([{"End": "2024-02-30T00:00:00"}], "jobs[0].End: '2024-02-30T00:00:00' is not"),  # no such day
        ([{"End": "2024-05-01"}], "jobs[0].End: '2024-05-01' is not a timestamp"),  # a date is not a time
        ([{"End": "unknown"}], "jobs[0].End: 'unknown' is not"),  # sacct writes Unknown
        ([{"End": 1714521600}], "jobs[0].End: '1714521600' is not"),  # epoch numbers are not sacct times
        ([{"End": "2024-05-01T00:00:00", "Start": "soon"}], "jobs[0].Start: 'soon'"),  # every time field
        (["1"], "jobs[0] must be an object"),
    ],
)
def test_unrepresentable_jobs_are_refused_naming_job_and_field(jobs, message):
    with pytest.raises(SeedJsonError) as err:
        parse_seed_body({"hostname": "alpha", "jobs": jobs})
    assert message in str(err.value)
