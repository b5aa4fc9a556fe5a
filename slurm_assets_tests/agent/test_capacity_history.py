"""Protects the agent's capacity history (issue 15 item 5): for every day it extracts, slurmdbd's cluster
utilization (``sreport -P -t seconds cluster utilization``, cpu and gres/gpu TRES) and the events of
``sacctmgr show event`` go into the drop's ``capacity`` section (format /2, optional); a failing sreport costs one
warning and the drops go out without it. The server accepts the section (manifest check)."""

import io

from slurm_assets.storage import landing
from slurm_assets_tests.agent.conftest import DATA
from slurm_assets_tests.agent.test_exporter import NOW, run_main

UTIL = {
    "cpu": {"allocated": 7811, "down": 0, "planned_down": 0, "idle": 0, "planned": 22829, "reported": 30640},
    "gres/gpu": {"allocated": 1922, "down": 0, "planned_down": 0, "idle": 5738, "planned": 0, "reported": 7660},
}


def test_sreport_from_a_real_capture(agent):
    assert agent.parse_sreport_utilization((DATA / "sreport_utilization_22.05.txt").read_text()) == UTIL
    # headerless or empty output: nothing, never an exception; another version's column names
    assert agent.parse_sreport_utilization("") == {}
    older = "Cluster|Allocated|Down|PLND Down|Idle|Reserved|Reported\nalpha|1|2|3|4|5|15\n"
    assert agent.parse_sreport_utilization(older) == {
        "cpu": {"allocated": 1, "down": 2, "planned_down": 3, "idle": 4, "planned": 5, "reported": 15}
    }


def test_every_drop_carries_its_days_capacity(agent, fake_slurm):
    code, stream = run_main(agent, ["--no-config", "--stdout", "--start-date", "2024-04-28"], now=lambda: NOW)
    assert code == 0
    drops = [m for m, _ in landing.iter_drop_stream(io.BytesIO(stream))]
    assert len(drops) == 6 and all(m["format"] == "slurm-usage-drop/2" for m in drops)
    for manifest in drops:
        landing.validate_manifest(manifest)  # the server's whole-manifest check accepts the section
        cap = manifest["capacity"]
        assert (cap["window_start"], cap["window_end"]) == (manifest["window_start"], manifest["window_end"])
        assert cap["utilization"] == UTIL
        (event,) = cap["events"]
        assert event["event"] == "Cluster" and event["tres"].startswith("cpu=16,") and "fs/disk" not in event["tres"]
    calls = [c for c in fake_slurm.calls() if "-S" in c]
    assert len(calls) == 6  # sreport/sacctmgr are not sacct calls


def test_a_failing_sreport_is_one_warning_and_drops_go_out_without_capacity(agent, fake_slurm, monkeypatch, capfd):
    monkeypatch.setenv("FAKE_SREPORT_FAIL", "sreport: error: slurmdbd: Connection refused")
    code, stream = run_main(agent, ["--no-config", "--stdout", "--start-date", "2024-04-28"], now=lambda: NOW)
    assert code == 0
    drops = [m for m, _ in landing.iter_drop_stream(io.BytesIO(stream))]
    assert len(drops) == 6 and all(m["capacity"] is None for m in drops)
    warnings = [line for line in capfd.readouterr().err.splitlines() if "capacity history" in line]
    assert len(warnings) == 1 and "Connection refused" in warnings[0]


def test_collect_capacity_history_can_be_turned_off(agent, fake_slurm, tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"collect_capacity_history": false}')
    code, stream = run_main(agent, ["--config", str(config), "--stdout", "--start-date", "2024-05-02"], now=lambda: NOW)
    assert code == 0
    assert all(m["capacity"] is None for m, _ in landing.iter_drop_stream(io.BytesIO(stream)))
