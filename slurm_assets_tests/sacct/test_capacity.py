"""Protects capacity_from_inventory: per-partition hardware from the agent's inventory, hours per day."""

import datetime as dt

from slurm_assets.sacct.capacity import capacity_from_inventory
from slurm_assets.sacct.fields import CAPACITY_DAILY_SCHEMA

INVENTORY = {
    "collected_at": "2024-05-01T00:05:00Z",
    "nodes": [
        # the testbed node: in two partitions, typed GPUs
        {
            "node": "vm",
            "partitions": ["cpu", "gpu"],
            "cpus": 16,
            "mem_bytes": 16777216000,
            "gpus": {"a100": 2, "v100": 2},
            "state": "IDLE",
        },
        {"node": "cn1", "partitions": ["cpu"], "cpus": 64, "mem_bytes": 1000, "gpus": {}, "state": "DOWN"},
        # untyped GPUs use the type ""
        {"node": "gn1", "partitions": ["gpu"], "cpus": 8, "mem_bytes": 10, "gpus": {"": 4}, "state": "MIXED"},
        # malformed entries are skipped or count as 0
        "garbage",
        {"node": "x", "partitions": None},
        {"node": "y", "partitions": ["cpu"], "cpus": "many"},
    ],
}


def test_capacity_per_partition():
    out = capacity_from_inventory(INVENTORY, "alpha", "2024-05-01")
    assert out.schema == CAPACITY_DAILY_SCHEMA
    rows = {r["partition"]: r for r in out.to_pylist()}
    # slurmdbd's columns (sacct/slurmdbd_capacity.py) stay empty on inventory rows
    extra = {k: rows["cpu"].pop(k) for k in list(rows["cpu"]) if "_seconds_" in k or k in ("source", "node_events")}
    assert extra.pop("source") == "inventory" and set(extra.values()) == {None}
    assert rows["cpu"] == {
        "cluster": "alpha",
        "date": dt.date(2024, 5, 1),
        "partition": "cpu",
        "nodes": 3,
        "cpus": 80,
        "mem_bytes": 16777217000,
        "gpus": 4,
        "gpu_types": "a100:2,v100:2",
        "cpu_hours_available": 80 * 24.0,
        "gpu_hours_available": 4 * 24.0,
    }
    assert rows["gpu"]["gpus"] == 8 and rows["gpu"]["gpu_types"] == ":4,a100:2,v100:2"
    assert rows["gpu"]["cpus"] == 24 and rows["gpu"]["nodes"] == 2


def test_no_inventory_gives_no_rows():
    for inventory in (None, {}, {"nodes": "x"}, {"nodes": []}):
        assert len(capacity_from_inventory(inventory, "alpha", "2024-05-01")) == 0
