"""Protects the demo/benchmark generator: same seed -> same bytes, the header real sacct prints,
every job state and the sacct quirks parsers must meet, real sacct's -S/-E window semantics
(a job appears identically in every window it was active in), and streaming (bounded memory)."""

import datetime as dt
import io
import re
import tracemalloc

import pytest

from slurm_assets.demo import catalog, generate
from slurm_assets_tests.demo.conftest import (
    DAY,
    NOW,
    NOW_S,
    day_s,
    real_capture,
    rows,
    sacct_text,
)

FIELDS = generate.resolve_fields("JobID,JobIDRaw,State,Submit,Eligible,Start,End,AllocTRES,MaxRSS,TotalCPU")


def test_same_seed_same_bytes_other_seed_other_bytes():
    start, end = NOW_S - 3 * DAY, NOW_S
    a = sacct_text(generate.DemoConfig("alpha", now=NOW_S, seed=1, jobs_per_day=200), start, end, FIELDS)
    b = sacct_text(generate.DemoConfig("alpha", now=NOW_S, seed=1, jobs_per_day=200), start, end, FIELDS)
    c = sacct_text(generate.DemoConfig("alpha", now=NOW_S, seed=2, jobs_per_day=200), start, end, FIELDS)
    d = sacct_text(generate.DemoConfig("beta", now=NOW_S, seed=1, jobs_per_day=200), start, end, FIELDS)
    assert a == b
    assert a != c and a != d
    assert len(a.splitlines()) > 500


def test_header_matches_the_real_capture_whatever_the_case_of_format(agent_fields):
    real_header = real_capture("sacct_22.05_alpha.psv").splitlines()[0]
    # The agent may ask in any case and with %width suffixes: sacct prints its canonical names.
    spec = ",".join(f.lower() + ("%30" if i % 3 == 0 else "") for i, f in enumerate(agent_fields))
    fields = generate.resolve_fields(spec)
    assert generate.header_line(fields) == real_header
    text = sacct_text(generate.DemoConfig("alpha", now=NOW_S), NOW_S - DAY, NOW_S, fields)
    assert text.splitlines()[0] == real_header


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("jobid,jobidraw", ("JobID", "JobIDRaw")),  # lower case
        ("JobName%40,alloctres", ("JobName", "AllocTRES")),  # width suffix dropped
        ("State,JobID", ("State", "JobID")),  # any order
        (None, catalog.DEFAULT_FORMAT),  # sacct's default --format
    ],
)
def test_resolve_fields(spec, expected):
    assert generate.resolve_fields(spec) == expected


def test_unknown_field_is_an_error_naming_it():
    with pytest.raises(ValueError, match='Invalid field requested: "ArrayJobID"'):
        generate.resolve_fields("JobID,ArrayJobID")


def test_every_line_has_the_header_field_count(sixty_days, agent_fields):
    assert sixty_days  # rows() asserts the count per line
    assert set(sixty_days[0]) == set(agent_fields)


def test_every_job_state_over_sixty_days(sixty_days):
    states = {r["State"].split(" ")[0] for r in sixty_days if "." not in r["JobID"]}
    expected = {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "REQUEUED",
        "BOOT_FAIL",
        "DEADLINE",
        "RUNNING",
        "PENDING",
    }
    assert expected <= states, f"missing: {expected - states}"
    # Job rows say who cancelled; step rows say plain CANCELLED (real sacct).
    assert any(re.fullmatch(r"CANCELLED by \d+", r["State"]) for r in sixty_days if "." not in r["JobID"])
    assert all(r["State"] == "CANCELLED" for r in sixty_days if "." in r["JobID"] and r["State"].startswith("CANC"))


def test_sentinels_and_formats_parsers_must_meet(sixty_days):
    jobs = [r for r in sixty_days if "." not in r["JobID"]]
    steps = [r for r in sixty_days if "." in r["JobID"]]
    pending = [r for r in jobs if r["State"] == "PENDING"]
    assert pending and all(r["Start"] == "Unknown" and r["End"] == "Unknown" for r in pending)
    assert all(r["NodeList"] == "None assigned" and r["AllocTRES"] == "" for r in pending)
    never_started = [r for r in jobs if r["Start"] == "None"]
    assert never_started and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r["End"]) for r in never_started)
    running = [r for r in jobs if r["State"] == "RUNNING"]
    assert running and all(r["End"] == "Unknown" for r in running)
    assert {"UNLIMITED", "Partition_Limit"} <= {r["Timelimit"] for r in jobs}
    assert any(re.fullmatch(r"\d+-\d\d:\d\d:\d\d", r["Timelimit"]) for r in jobs)
    assert any(re.fullmatch(r"\d+G", r["ReqMem"]) for r in jobs) and any(r["ReqMem"].endswith("M") for r in jobs)
    assert any(re.fullmatch(r"[a-z]+\[\d{3}-\d{3}\]", r["NodeList"]) for r in jobs)  # hostlist
    finished_steps = [r for r in steps if r["State"] != "RUNNING"]
    assert all(re.fullmatch(r"\d+[KMG]", r["MaxRSS"]) for r in finished_steps if r["MaxRSS"])  # exact units only
    assert all(r["TRESUsageInTot"].startswith("cpu=") for r in finished_steps)
    assert all(r["User"] == "" and r["Partition"] == "" and r["QOS"] == "" for r in steps)
    assert all(r["MaxRSS"] == "" for r in jobs)
    cpu_formats = {
        "mm:ss.mmm"
        if re.fullmatch(r"\d\d:\d\d\.\d{3}", r["TotalCPU"])
        else "d-hh:mm:ss"
        if "-" in r["TotalCPU"]
        else "hh:mm:ss"
        for r in steps
    }
    assert cpu_formats == {"mm:ss.mmm", "hh:mm:ss", "d-hh:mm:ss"}


def test_arrays_steps_and_typed_gpus(sixty_days):
    jobs = [r for r in sixty_days if "." not in r["JobID"]]
    tasks = [r for r in jobs if re.fullmatch(r"\d+_\d+", r["JobID"])]
    assert tasks
    # Array tasks have their own raw ids; the last task keeps the array's id.
    assert any(r["JobIDRaw"] != r["JobID"].split("_")[0] for r in tasks)
    assert any(r["JobIDRaw"] == r["JobID"].split("_")[0] for r in tasks)
    remainders = [r for r in jobs if "_[" in r["JobID"]]
    assert any("%" in r["JobID"] for r in remainders)
    assert all(r["State"] == "PENDING" and r["JobIDRaw"] == r["JobID"].split("_")[0] for r in remainders)
    suffixes = {r["JobID"].split(".", 1)[1] for r in sixty_days if "." in r["JobID"]}
    assert {"batch", "extern", "0", "1"} <= suffixes
    assert any(r["JobIDRaw"].endswith(".batch") for r in sixty_days)
    tres = " ".join(r["AllocTRES"] for r in jobs)
    assert re.search(r"gres/gpu:(a100|h100)=\d+,gres/gpu=\d+", tres)
    assert "gres/gpu:v100=" in tres and "gres/gpumem=" in tres
    # TRES lists are sorted the way sacct prints them.
    for r in jobs:
        if r["AllocTRES"]:
            assert r["AllocTRES"].split(",") == sorted(r["AllocTRES"].split(","))


def test_requeued_run_only_with_duplicates(agent_fields):
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=7, jobs_per_day=100)
    start = day_s(NOW.date() - dt.timedelta(days=20))
    with_d = rows(sacct_text(cfg, start, NOW_S, agent_fields, duplicates=True))
    without = rows(sacct_text(cfg, start, NOW_S, agent_fields, duplicates=False))
    requeued = [r for r in with_d if r["State"] == "REQUEUED"]
    assert requeued and not any(r["State"] == "REQUEUED" for r in without)
    final = {r["JobIDRaw"]: r for r in without if "." not in r["JobID"]}
    for r in requeued:  # the later run of the same raw id was submitted when the first one ended
        assert final[r["JobIDRaw"]]["Submit"] == r["End"]
    assert len(with_d) - len(without) >= len(requeued)


def test_noconvert_prints_bytes_and_megabytes():
    fields = generate.resolve_fields("JobID,ReqMem,AllocTRES,MaxRSS,TRESUsageInTot")
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=3)
    data = rows(sacct_text(cfg, NOW_S - 2 * DAY, NOW_S - DAY, fields, noconvert=True))
    steps = [r for r in data if "." in r["JobID"] and r["MaxRSS"]]
    assert steps and all(r["MaxRSS"].isdigit() for r in steps)
    assert all(re.search(r"mem=\d+,", r["TRESUsageInTot"]) for r in steps)
    assert all(re.fullmatch(r"\d+M", r["ReqMem"]) for r in data if "." not in r["JobID"])


def test_allocations_only_has_no_steps():
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=3)
    data = rows(sacct_text(cfg, NOW_S - DAY, NOW_S, FIELDS, allocations_only=True))
    assert data and not any("." in r["JobID"] for r in data)


def _active(r: dict[str, str], start: int, end: int) -> bool:
    """Real sacct's rule: Eligible < end and (End >= start or not ended)."""

    def ts(v):
        return int(dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC).timestamp())

    if r["Eligible"] == "Unknown":
        return ts(r["Submit"]) < end  # the throttled array remainder (kept on purpose, see generate.py)
    ended = r["End"] != "Unknown"
    return ts(r["Eligible"]) < end and (not ended or ts(r["End"]) >= start)


def test_a_job_appears_identically_in_every_day_window_it_was_active_in(agent_fields):
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=11, jobs_per_day=60)
    first = NOW.date() - dt.timedelta(days=14)
    days = [first + dt.timedelta(days=i) for i in range(15)]  # the last one is today, up to now
    whole = sacct_text(cfg, day_s(days[0]), NOW_S, agent_fields, duplicates=True).splitlines()
    per_day = {d: sacct_text(cfg, day_s(d), min(day_s(d) + DAY, NOW_S), agent_fields, duplicates=True) for d in days}
    whole_set = set(whole[1:])
    header = whole[0].split("|")
    long_jobs = 0
    in_days: list[dt.date] = []
    for line in whole[1:]:
        r = dict(zip(header, line.split("|")))
        if "." not in r["JobID"]:  # steps come with their job, whatever their own times
            in_days = [d for d in days if _active(r, day_s(d), min(day_s(d) + DAY, NOW_S))]
            assert in_days, f"job in the 15-day window but active in none of its days: {line}"
            long_jobs += len(in_days) > 2
        for d in days:
            present = ("\n" + line + "\n") in per_day[d]
            assert present == (d in in_days), f"{d}: present={present}, active={d in in_days}: {line}"
    assert long_jobs >= 3  # jobs spanning 3+ day windows were checked too
    for d in days:  # and nothing in a day window that the whole window lacks
        assert set(per_day[d].splitlines()[1:]) <= whole_set


class _Kept(io.BytesIO):
    closed_by_writer = False

    def close(self) -> None:  # keep the bytes readable after write_days closes the file
        self.closed_by_writer = True


def test_write_days_is_byte_identical_to_one_query_per_day(agent_fields):
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=4, jobs_per_day=80)
    first, last = NOW.date() - dt.timedelta(days=6), NOW.date() + dt.timedelta(days=1)  # past, today, future
    files: dict[dt.date, _Kept] = {}
    counts = generate.write_days(
        cfg, first, last, agent_fields, lambda d: files.setdefault(d, _Kept()), duplicates=True
    )
    assert sorted(files) == sorted(counts) and len(files) == 8
    for d, fh in files.items():
        assert fh.closed_by_writer
        expected = sacct_text(cfg, day_s(d), day_s(d) + DAY, agent_fields, duplicates=True)
        assert fh.getvalue().decode() == expected, d
        assert counts[d] == len(expected.splitlines()) - 1


def test_life_of_short_and_long_jobs_stays_within_the_lookback():
    cfg = generate.DemoConfig("alpha", now=NOW_S + 30 * DAY, seed=5, jobs_per_day=300)
    for i in range(5):
        day = NOW.date() - dt.timedelta(days=i)
        t0 = day_s(day)
        for stream, limit in (
            ("short", t0 + DAY + generate.SHORT_LIFE_S),
            ("long", t0 + (generate.MAX_LIFE_DAYS + 1) * DAY),
        ):
            for unit in generate.iter_units(cfg, day, stream):
                assert t0 <= unit[0].submit < t0 + DAY  # (a requeued job's final run is submitted later)
                for job in unit:
                    assert job.end < limit, (stream, job.job_id, job.end - t0)
                    if stream == "short":
                        assert job.end - job.submit <= generate.SHORT_LIFE_S


def test_jobs_submitted_after_now_do_not_exist_yet():
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=7)
    fields = generate.resolve_fields("JobID,Submit")
    data = rows(sacct_text(cfg, NOW_S - DAY, NOW_S + 5 * DAY, fields))
    now_text = generate.fmt_ts(NOW_S)
    assert data and max(r["Submit"] for r in data) <= now_text


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def _peak(jobs_per_day: int) -> tuple[int, int]:
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=1, jobs_per_day=jobs_per_day)
    fields = generate.resolve_fields("JobID,JobIDRaw,State,Start,End,AllocTRES,MaxRSS")
    generate.fmt_ts(NOW_S)  # warm the time-format tables outside the measurement
    tracemalloc.start()
    try:
        n = generate.write_sacct(_Sink(), [cfg], NOW_S - 5 * DAY, NOW_S - 4 * DAY, fields, allocations_only=True)
        return tracemalloc.get_traced_memory()[1], n
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_jobs(monkeypatch):
    # Both runs fill the output chunk buffer many times, so it weighs the same in both.
    monkeypatch.setattr(generate, "CHUNK_LINES", 256)
    small_peak, small_rows = _peak(1_000)
    big_peak, big_rows = _peak(10_000)
    assert big_rows > 8 * small_rows  # ~10x the jobs ...
    assert big_peak < 2 * small_peak + 512 * 1024, (small_peak, big_peak)  # ... not ~10x the memory


def _bytes(value: str) -> int:
    return int(value[:-1]) * 1024 ** (" KMGT".index(value[-1]))


def test_reqmem_is_the_job_total_and_no_step_uses_more(sixty_days):
    job = None
    for r in sixty_days:
        if "." not in r["JobID"]:
            job = r
            # Since Slurm 21.08 ReqMem is the whole job's request, the same as mem= in ReqTRES.
            assert f"mem={r['ReqMem']}," in r["ReqTRES"] + ",", r
        elif r["MaxRSS"]:
            assert r["JobID"].startswith(job["JobID"] + ".")
            assert _bytes(r["MaxRSS"]) <= _bytes(job["ReqMem"]), (job, r)


def test_the_project_parser_reads_every_generated_line(agent_fields):
    """Generator and parser agree: nothing generated is quarantined, every job row becomes a job."""
    from slurm_assets.sacct.parse import parse_sacct_text

    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=7, jobs_per_day=150)
    text = sacct_text(cfg, NOW_S - 3 * DAY, NOW_S, agent_fields, duplicates=True)
    parsed = parse_sacct_text(text.encode(), cluster="alpha", drop_id="0" * 16, day=NOW.date().isoformat())
    assert parsed.quarantine.num_rows == 0, parsed.quarantine.to_pylist()[:3]
    job_rows = [r for r in rows(text) if "." not in r["JobID"]]
    assert parsed.jobs.num_rows + parsed.unfinished.num_rows == len(job_rows)
    assert parsed.unfinished.num_rows > 0 and parsed.jobs.num_rows > 300
    gpu_hours = sum(v for v in parsed.jobs.column("gpu_hours").to_pylist() if v)
    assert gpu_hours > 0
