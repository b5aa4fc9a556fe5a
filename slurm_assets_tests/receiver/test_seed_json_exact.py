"""Protects the seed agent's JSON against the sacct text of the same jobs (issue 15 item 2): on the real testbed
capture, JSON as the seed system's agent builds it (JobID, State, Submit/Start/End, CPUHours, GPUHours,
AllocCPUS, AllocGPUS, AllocNodes; no JobIDRaw, AllocTRES or Elapsed) gives the same jobs, CPU-hours and
GPU-hours as the text, array tasks included; a job sent as JSON and later as sacct text counts once."""

import datetime as dt
import hashlib

import pyarrow.compute as pc
import pytest

from slurm_assets.pipeline import day_step
from slurm_assets.pipeline.load import LoadedDrop
from slurm_assets.receiver.seed_json import parse_seed_body
from slurm_assets.sacct.parse import parse_sacct_text
from slurm_assets_tests.sacct.builders import FIXTURES

CAPTURE = (FIXTURES / "sacct_22.05_alpha.psv").read_bytes()  # real Slurm 22.05, testbed job mix
DAY = "2026-11-25"


def seconds(elapsed: str) -> int:
    days, _, clock = elapsed.rpartition("-")
    h, m, s = (int(float(x)) for x in clock.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def tres_count(tres: str, prefix: str) -> int:
    """The last ``prefix...=N`` of AllocTRES (the seed agent keeps the last matching key)."""
    found = 0
    for item in filter(None, tres.split(",")):
        key, _, value = item.partition("=")
        if key.startswith(prefix) and "gpumem" not in key:
            found = int(value)
    return found


def seed_agent_jobs(capture: bytes, steps: bool) -> list[dict]:
    """The capture as the seed system's agent sends it (its exporter's fields, finished jobs only, Submit with
    a space); ``steps`` keeps step rows too (the seed agent drops rows without User/Partition)."""
    lines = capture.decode().splitlines()
    header = lines[0].split("|")
    jobs = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("|")))  # job 7's extra '|' is in SubmitLine, the last field
        state = row["State"].split(" by ")[0]
        if state in ("RUNNING", "PENDING", "Unknown") or (not steps and not row["User"]):
            continue
        hours = seconds(row["Elapsed"]) / 3600
        cpus, gpus = tres_count(row["AllocTRES"], "cpu"), tres_count(row["AllocTRES"], "gres/gpu")
        jobs.append(
            {
                "JobID": row["JobID"],
                "User": row["User"] or "unknown",
                "Account": row["Account"],
                "Partition": row["Partition"] or "unknown",
                "State": state,
                "QOS": row["QOS"] or None,
                "Submit": row["Submit"].replace("T", " "),
                "Start": row["Start"],
                "End": row["End"],
                "CPUHours": hours * cpus,
                "GPUHours": hours * gpus,
                "AllocCPUS": cpus,
                "AllocGPUS": gpus,
                "AllocNodes": 1,
                "NodeList": row["NodeList"],
            }
        )
    return jobs


def parsed_json(jobs: list[dict]):
    (part,) = parse_seed_body({"hostname": "alpha", "jobs": jobs}).days
    return parse_sacct_text(part.text, cluster="alpha", drop_id="json", day=part.day)


def totals(jobs) -> tuple:
    return (
        len(jobs),
        round(pc.sum(jobs["cpu_hours"]).as_py(), 9),
        round(pc.sum(jobs["gpu_hours"]).as_py(), 9),
        sorted(zip(jobs["job_id"].to_pylist(), jobs["submit_time"].to_pylist(), strict=True)),
    )


@pytest.mark.parametrize("steps", [False, True])
def test_seed_json_gives_the_numbers_of_the_sacct_text(steps):
    text = parse_sacct_text(CAPTURE, cluster="alpha", drop_id="text", day=DAY).jobs
    from_json = parsed_json(seed_agent_jobs(CAPTURE, steps))
    assert len(from_json.quarantine) == 0, from_json.quarantine.to_pylist()[:3]
    # job 7's line has a '|' in SubmitLine: the text parser repairs it, the JSON never had the field
    assert totals(from_json.jobs) == totals(text)
    assert pc.sum(text["gpu_hours"]).as_py() > 0  # typed and untyped GPUs in the mix
    arrays = from_json.jobs.filter(pc.is_valid(from_json.jobs["array_task_id"]))
    assert sorted(arrays["job_id"].to_pylist()) == [f"12_{i}" for i in range(1, 7)]


def test_gpu_hours_without_alloc_gpus_come_from_gpu_hours():
    jobs = [j for j in seed_agent_jobs(CAPTURE, False) if j["JobID"] == "15"]  # 2 x a100
    del jobs[0]["AllocGPUS"]
    got = parsed_json(jobs).jobs
    assert got["alloc_gpus"].to_pylist() == [2] and got["gpu_hours"][0].as_py() == pytest.approx(jobs[0]["GPUHours"])


def loaded(source: str, text: bytes, collected_at: str) -> LoadedDrop:
    manifest = {
        "collected_at": collected_at,
        "sha256": hashlib.sha256(text).hexdigest(),
        "source": source,
        "rows": 1,
        "window_start": f"{DAY}T00:00:00Z",
        "window_end": "2026-11-26T00:00:00Z",
        "sacct_version": "22.05.8",
        "agent_version": "test",
    }
    return LoadedDrop("alpha", DAY, f"{source}-{collected_at[11:13]}", manifest, text)


@pytest.mark.parametrize("json_first", [True, False])
def test_a_job_sent_as_json_and_as_sacct_text_counts_once(json_first):
    (part,) = parse_seed_body({"hostname": "alpha", "jobs": seed_agent_jobs(CAPTURE, False)}).days
    stamps = ["2026-11-25T20:00:00Z", "2026-11-26T01:00:00Z"]
    json_at, text_at = stamps if json_first else stamps[::-1]
    both = day_step.build_cluster_days(
        [("alpha", DAY, [loaded("json", part.text, json_at), loaded("drop", CAPTURE, text_at)])]
    )[0]["jobs"]
    text_only = day_step.build_cluster_days([("alpha", DAY, [loaded("drop", CAPTURE, text_at)])])[0]["jobs"]
    assert both.to_pylist() == text_only.to_pylist()  # once each, with the text's values (MaxRSS, raw ids)
    assert 12 in both["job_id_raw"].to_pylist() and max(both["job_id_raw"].to_pylist()) < 2**32
    json_only = day_step.build_cluster_days([("alpha", DAY, [loaded("json", part.text, json_at)])])[0]["jobs"]
    assert totals(json_only) == totals(text_only)


def test_seed_json_times_become_utc_sacct_times():
    (part,) = parse_seed_body(
        {
            "hostname": "a",
            "jobs": [
                {
                    "JobID": "22_5",
                    "Submit": "2024-05-01 10:00:00",
                    "Start": "2024-05-01T12:00:00+02:00",
                    "End": "2024-05-01T11:00:00Z",
                    "AllocCPUS": 2,
                    "AllocGPUS": 1,
                }
            ],
        }
    ).days
    header, row = part.text.decode().splitlines()
    cells = dict(zip(header.split("|"), row.split("|")))
    assert cells["Submit"] == "2024-05-01T10:00:00" and cells["Start"] == "2024-05-01T10:00:00"
    assert cells["JobIDRaw"] == str(22 * 2**32 + 5) and cells["AllocTRES"] == "cpu=2,gres/gpu=1"
    assert dt.date.fromisoformat(part.day) == dt.date(2024, 5, 1)
