"""Protects capacity history against the real testbed's slurmdbd (issue 15 item 5): the agent's drop for a day
without an inventory snapshot (as every backfilled day) carries what ``sreport`` prints for that window, and
after ``process`` the day's ``capacity_daily`` row holds exactly those figures; the Utilization page then shows
capacity for that day (the whole cluster's row)."""

import datetime as dt
import json
import subprocess

import pytest

from slurm_assets.__main__ import main as slurm_assets_main
from slurm_assets.storage import landing, warehouse
from slurm_assets_tests.agent.conftest import load_agent
from slurm_assets_tests.streamlit_app.conftest import Warehouse, open_app  # noqa: F401 (fixture)
from slurm_assets_tests.streamlit_app.helpers import find_frame

pytestmark = pytest.mark.slurm_live


def sreport(agent, cluster: str, start: str, end: str) -> dict:
    """What sreport prints for the window now (run like the agent: TZ=UTC, TRES-seconds, cpu and GPUs)."""
    out = subprocess.run(
        [
            "sreport",
            "-P",
            "-t",
            "seconds",
            "cluster",
            "utilization",
            f"clusters={cluster}",
            f"start={start}",
            f"end={end}",
            "--tres=cpu,gres/gpu",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    return agent.parse_sreport_utilization(out.stdout)


def roll_current_hour() -> None:
    """Have slurmdbd roll up the hour now running (it rolls up on its own only once an hour is over, so a testbed
    started less than an hour ago has no figures yet); the agent and sreport then read the same rolled-up rows."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hour, following = (t.strftime("%Y-%m-%dT%H:%M:%S") for t in (now, now + dt.timedelta(hours=1)))
    subprocess.run(
        ["sacctmgr", "-i", "roll", hour, following],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )


def collect(agent, cluster: str, day: str, landing_dir, config) -> dict:
    """Run the agent for ``day`` (drop mode, no inventory); return the drop's manifest."""
    code = agent.main(
        [
            "--config",
            str(config),
            "--output-dir",
            str(landing_dir),
            "--cluster",
            cluster,
            "--start-date",
            day,
            "--end-date",
            day,
        ]
    )
    assert code == 0
    (path,) = sorted(landing_dir.glob(f"{cluster}/{day}/*.manifest.json"))
    return json.loads(path.read_text())


def test_backfilled_day_capacity_equals_sreport(slurm_testbed, tmp_path, monkeypatch, open_app):  # noqa: F811
    agent = load_agent()
    cluster, day = slurm_testbed.cluster, slurm_testbed.start.date().isoformat()
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"collect_inventory": False, "collect_associations": False}))
    data = tmp_path / "data"
    for _attempt in range(3):  # slurmdbd rolls usage up every hour: retry if a rollup fell between the two calls
        roll_current_hour()
        manifest = collect(agent, cluster, day, data / "landing", config)
        cap = manifest["capacity"]
        printed = sreport(agent, cluster, cap["window_start"][:-1], cap["window_end"][:-1])
        if cap["utilization"] == printed:
            break
        for path in (data / "landing").rglob("*"):
            if path.is_file():
                path.unlink()
    assert cap["utilization"] == printed and printed["cpu"]["reported"] > 0
    assert manifest["inventory"] is None and any(e["event"] == "Cluster" for e in cap["events"])
    assert [r.day for r in landing.list_drops(data)] == [day]

    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", day)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert slurm_assets_main(["process", "--data-dir", str(data)]) == 0
    con = warehouse.connect_readonly(data)
    row = con.execute("SELECT * FROM capacity_daily").df().to_dict("records")
    assert len(row) == 1 and row[0]["source"] == "slurmdbd"
    for tres, name in (("cpu", "cpu"), ("gres/gpu", "gpu")):
        for part, seconds in printed[tres].items():
            assert row[0][f"{name}_seconds_{part}"] == seconds, (tres, part)
    assert row[0]["cpu_hours_available"] == pytest.approx(printed["cpu"]["reported"] / 3600)

    # the Utilization page: a day without inventory still has capacity (the whole cluster's row)
    the_day = dt.date.fromisoformat(day)
    at = open_app(Warehouse(data, the_day, the_day), "utilization", range="custom", start=day, end=day)
    shown = find_frame(at, "period", "cluster", "partition", "cpu_hours_available")
    whole = shown[shown["partition"] == ""]
    assert len(whole) == 1 and whole["cpu_hours_available"].iloc[0] == pytest.approx(row[0]["cpu_hours_available"])
    used = con.execute("SELECT sum(cpu_hours) FROM usage_daily WHERE date = ?", [the_day]).fetchone()[0] or 0
    assert whole["cpu_hours_used"].iloc[0] == pytest.approx(used)
