"""Protects issue 8 "Agent: clock skew and DST days (UTC throughout)": the real agent, run in a process
whose local time zone has DST transitions (Europe/Amsterdam, America/New_York), cuts exactly 24-hour
UTC windows on the transition days, and the drops it writes equal those of an agent running in UTC.
"""

import json
import subprocess

import pytest

from slurm_assets_tests.reliability.conftest import make_agent

# (local zone, its two DST transition days in 2024)
ZONES = {"Europe/Amsterdam": ("2024-03-31", "2024-10-27"), "America/New_York": ("2024-03-10", "2024-11-03")}


@pytest.mark.parametrize(
    "tz",
    [
        pytest.param("Europe/Amsterdam", id="eu"),
        pytest.param("America/New_York", id="us", marks=pytest.mark.reliability_soak),
    ],
)
def test_dst_days_are_24_hour_utc_windows_in_any_local_zone(tz, tmp_path, demo_slurm_bin, figures):
    agent = make_agent(tmp_path / "agent", "alpha", demo_slurm_bin, "http://127.0.0.1:9", "unused", jobs_per_day=30)
    results = {}
    for zone in ("UTC", tz):
        out = tmp_path / zone.replace("/", "_")
        for day in ZONES[tz]:
            env = dict(agent.env(), TZ=zone)
            done = subprocess.run(
                agent.command("--output-dir", str(out), "--start-date", day, "--end-date", day),
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr.decode()[-2000:]
        results[zone] = {
            m["day"]: (m["window_start"], m["window_end"], m["sha256"])
            for m in (json.loads(p.read_text()) for p in out.glob("alpha/*/*.manifest.json"))
        }
    windows_ok = all(
        start == f"{day}T00:00:00Z" and end[:10] > day and end.endswith("T00:00:00Z")
        for day, (start, end, _sha) in results[tz].items()
    )
    same = results[tz] == results["UTC"]
    figures.record(
        f"Agent: DST transition days with TZ={tz}",
        f"days {', '.join(ZONES[tz])}",
        f"windows are UTC midnight to midnight: {windows_ok}; drops identical to TZ=UTC: {same}",
        lost=0 if same else None,
        duplicates=None,
    )
    assert sorted(results[tz]) == sorted(ZONES[tz])
    assert windows_ok and same
