"""Protects capacity from slurmdbd (issue 15 item 5): a drop's ``capacity`` section (the agent's sreport and
sacctmgr event output for the day) becomes the day's ``capacity_daily`` row with sreport's figures as printed;
where the agent's inventory also exists it wins and is cross-checked (a disagreement is a quarantine row)."""

import datetime as dt
import hashlib

import pytest

from slurm_assets.pipeline import day_step
from slurm_assets.pipeline.load import LoadedDrop
from slurm_assets.sacct.slurmdbd_capacity import capacity_from_slurmdbd, crosscheck
from slurm_assets_tests.agent.conftest import DATA, load_agent

AGENT = load_agent()
DAY = "2026-12-03"
WINDOW = (dt.datetime(2026, 12, 3, tzinfo=dt.UTC), dt.datetime(2026, 12, 4, tzinfo=dt.UTC))


def section() -> dict:
    """The section the agent builds from the real 22.05 sreport and sacctmgr captures."""

    def runner(argv, timeout):
        name = "sreport_utilization_22.05.txt" if "sreport" in argv[0] else "sacctmgr_event_22.05.txt"
        yield (DATA / name).read_bytes()

    config = AGENT.Config({})  # the defaults: sreport, sacctmgr
    return AGENT.collect_capacity(runner, config, "alpha", WINDOW)


def inventory() -> dict:
    text = (DATA / "scontrol_show_node_22.05.txt").read_text()
    return AGENT.parse_node_inventory(text, WINDOW[0])


def test_a_days_row_is_what_sreport_prints():
    (row,) = capacity_from_slurmdbd(section(), "alpha", DAY).to_pylist()
    assert row["source"] == "slurmdbd" and row["partition"] == "" and row["date"] == dt.date(2026, 12, 3)
    assert (row["cpu_seconds_allocated"], row["cpu_seconds_planned"], row["cpu_seconds_reported"]) == (
        7811,
        22829,
        30640,
    )
    assert (row["gpu_seconds_allocated"], row["gpu_seconds_idle"], row["gpu_seconds_reported"]) == (1922, 5738, 7660)
    assert row["cpu_hours_available"] == pytest.approx(30640 / 3600)
    assert row["gpu_hours_available"] == pytest.approx(7660 / 3600)
    # the cluster's registered TRES (event): cpu=16, gres/gpu=4 (a100:2, v100:2), mem=16000M, node=1
    assert (row["cpus"], row["gpus"], row["gpu_types"], row["nodes"]) == (16, 4, "a100:2,v100:2", 1)
    assert row["mem_bytes"] == 16000 * 2**20 and row["node_events"] == 0


@pytest.mark.parametrize("bad", [None, {}, {"utilization": {}}, {"utilization": {"cpu": {"reported": 0}}}])
def test_no_reported_time_no_row(bad):
    assert capacity_from_slurmdbd(bad, "alpha", DAY).num_rows == 0


def test_crosscheck_against_the_inventory():
    assert crosscheck(inventory(), section()) is None  # the testbed: 16 CPUs, 4 GPUs both ways
    smaller = inventory()
    smaller["nodes"][0]["cpus"] = 8
    message = crosscheck(smaller, section())
    assert "8 CPUs" in message and "cpu=16" in message
    assert crosscheck(None, section()) is None and crosscheck(inventory(), {"events": []}) is None


def loaded(manifest_extra: dict, drop_id: str) -> LoadedDrop:
    text = b"JobID|JobIDRaw|State|Submit|Start|End|AllocCPUS\n"
    manifest = {
        "collected_at": "2026-12-04T00:30:00Z",
        "sha256": hashlib.sha256(text).hexdigest(),
        "source": "drop",
        "rows": 0,
        "window_start": f"{DAY}T00:00:00Z",
        "window_end": "2026-12-04T00:00:00Z",
        "sacct_version": "22.05.8",
        "agent_version": "t",
        **manifest_extra,
    }
    return LoadedDrop("alpha", DAY, drop_id, manifest, text)


def test_day_capacity_prefers_the_inventory_and_quarantines_a_disagreement():
    backfilled = day_step.build_cluster_days([("alpha", DAY, [loaded({"capacity": section()}, "a")])])[0]
    assert backfilled["capacity_daily"]["source"].to_pylist() == ["slurmdbd"]
    both = day_step.build_cluster_days(
        [("alpha", DAY, [loaded({"capacity": section(), "inventory": inventory()}, "b")])]
    )[0]
    assert set(both["capacity_daily"]["source"].to_pylist()) == {"inventory"}
    assert both["quarantine"].num_rows == 0
    wrong = inventory()
    wrong["nodes"][0]["gpus"] = {"a100": 2}
    bad = day_step.build_cluster_days([("alpha", DAY, [loaded({"capacity": section(), "inventory": wrong}, "c")])])[0]
    (row,) = bad["quarantine"].to_pylist()
    assert row["reason"] == "capacity_mismatch" and "2 GPUs" in row["detail"] and "gres/gpu=4" in row["detail"]
