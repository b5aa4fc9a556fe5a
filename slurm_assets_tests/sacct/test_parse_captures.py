"""Protects parsing of REAL Slurm 22.05 captures (slurm_assets_tests/fixtures/): every job of the testbed mix
comes out once, in jobs or unfinished, with CPU/GPU-hours, RSS and CPU time equal to an independent
plain-Python reading of the same text."""

import re
from pathlib import Path

import pytest

from slurm_assets_tests.sacct.builders import FIXTURES, parse

CAPTURES = sorted(p.name for p in FIXTURES.glob("sacct_22.05_*.psv"))
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
ACTIVE = {"RUNNING", "PENDING", "SUSPENDED"}


def _records(path: Path) -> list[dict]:
    """Plain reading: split from the left; SubmitLine is the last field and takes any extra '|'."""
    lines = path.read_text().splitlines()
    names = lines[0].split("|")
    return [dict(zip(names, line.split("|", len(names) - 1), strict=True)) for line in lines[1:] if line]


def _mem(value: str) -> int | None:
    m = re.fullmatch(r"(\d+)([KMG]?)", value)
    return int(m.group(1)) * UNITS[m.group(2)] if m else None


def _cpu_seconds(value: str) -> float:
    parts = value.replace("-", ":").split(":")
    weights = [60, 1] if len(parts) == 2 else [3600, 60, 1] if len(parts) == 3 else [86400, 3600, 60, 1]
    return sum(float(p) * w for p, w in zip(parts, weights, strict=True))


def _gpus(tres: str) -> int:
    m = re.search(r"(?:^|,)gres/gpu=(\d+)", tres)
    return int(m.group(1)) if m else sum(int(n) for n in re.findall(r"gres/gpu:[^=,]+=(\d+)", tres))


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_matches_an_independent_reading(name):
    records = _records(FIXTURES / name)
    parsed = parse((FIXTURES / name).read_bytes(), day="2026-11-25")
    assert len(parsed.quarantine) == 0, parsed.quarantine.to_pylist()

    job_rows = [r for r in records if "." not in r["JobID"]]
    finished = [r for r in job_rows if r["State"].split()[0] not in ACTIVE]
    got = {(r["job_id"], r["submit_time"].strftime("%Y-%m-%dT%H:%M:%S")): r for r in parsed.jobs.to_pylist()}
    assert sorted(got) == sorted((r["JobID"], r["Submit"]) for r in finished)
    assert len(parsed.unfinished) == len(job_rows) - len(finished)

    for r in finished:
        job = got[(r["JobID"], r["Submit"])]
        elapsed = int(r["ElapsedRaw"])
        assert job["job_id_raw"] == int(r["JobIDRaw"])
        assert job["state"] == r["State"].split()[0]
        assert job["cpu_hours"] == pytest.approx(int(r["AllocCPUS"]) * elapsed / 3600)
        assert job["gpu_hours"] == pytest.approx(_gpus(r["AllocTRES"]) * elapsed / 3600)
        # Steps of this attempt: same raw id, started within the attempt (requeue shares the raw id).
        steps = [
            s for s in records if s["JobIDRaw"].startswith(r["JobIDRaw"] + ".") and r["Start"] <= s["Start"] <= r["End"]
        ]
        rss = [_mem(s["MaxRSS"]) for s in steps if _mem(s["MaxRSS"]) is not None]
        assert job["max_rss_bytes"] == (max(rss) if rss else None), r["JobID"]
        assert job["total_cpu_s"] == pytest.approx(_cpu_seconds(r["TotalCPU"])), r["JobID"]


def test_capture_specials():
    parsed = parse((FIXTURES / "sacct_22.05_alpha.psv").read_bytes(), day="2026-11-25")
    jobs = {}
    for r in parsed.jobs.to_pylist():
        jobs.setdefault(r["name"], []).append(r)
    assert jobs["wrap"][0]["state"] == "COMPLETED"  # SubmitLine 'echo a | cat': repaired, not quarantined
    assert [r["state"] for r in jobs["tb_requeue"]] == ["REQUEUED", "COMPLETED"]
    assert jobs["tb_cancel_running"][0]["state"] == "CANCELLED"  # "CANCELLED by 1002"
    assert jobs["tb_cancel_pending"][0]["start_time"] is None
    assert jobs["tb_gpu_any"][0]["gpu_types"] == "a100:1"  # untyped request, typed allocation
    assert (jobs["tb_gpu_2xa100"][0]["alloc_gpus"], jobs["tb_gpu_2xa100"][0]["gpu_types"]) == (2, "a100:2")
    assert {r["array_task_id"] for r in jobs["tb_array"]} == {1, 2, 3, 4, 5, 6}
    assert {r["array_job_id"] for r in jobs["tb_array"]} == {12}
    assert jobs["tb_mem_steps"][0]["max_rss_bytes"] > 80 * 1024**2  # the 80 MB step
    assert jobs["tb_timeout"][0]["timelimit_s"] == 60
    running = {r["name"]: r for r in parsed.unfinished.to_pylist()}
    assert running["tb_running"]["state"] == "RUNNING" and running["tb_running"]["end_time"] is None
    assert running["tb_pending"]["state"] == "PENDING" and running["tb_pending"]["node_list"] is None
