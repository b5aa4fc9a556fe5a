"""Protects the receiver's whole-manifest check (issue 18 item 1): a key bound to one cluster cannot
store a manifest whose inventory or timestamps would break a later ``process`` for every cluster.

Each poisoned manifest the issue found stored with 200 now answers 422 naming the field's path;
a well-formed inventory at the physical limits is still stored; nothing of a refused drop lands.
"""

import pytest
from fastapi.testclient import TestClient

from slurm_assets.receiver.app import create_app
from slurm_assets.sacct import limits
from slurm_assets.settings import ReceiverSettings
from slurm_assets.storage import landing, manifest_check, paths
from slurm_assets_tests.receiver.conftest import drop_body, make_drop, native_headers

THROWAWAY_KEY = "throwaway-cluster-key-0123"
OTHER_KEY = "production-cluster-key-4567"
NODE = {
    "node": "vm",
    "partitions": ["cpu", "gpu"],
    "cpus": 16,
    "mem_bytes": 16 * 2**30,
    "gpus": {"a100": 2, "": 1},
    "state": "IDLE",
}


def inventory(nodes: list | int, collected_at: str = "2024-05-02T00:30:00Z") -> dict:
    return {"collected_at": collected_at, "nodes": nodes}


@pytest.fixture
def client(tmp_path):
    settings = ReceiverSettings(api_keys=f"{THROWAWAY_KEY}:junk,{OTHER_KEY}:alpha", data_dir=tmp_path / "data")
    return TestClient(create_app(settings))


POISON = [
    # (what, manifest overrides, path named in the answer)
    (
        "1100 nodes x cpus 2^53",
        {"inventory": inventory([{**NODE, "node": f"n{i}", "cpus": 2**53} for i in range(1100)])},
        "inventory.nodes[0].cpus",
    ),
    ("cpus as text", {"inventory": inventory([NODE, {**NODE, "cpus": "many"}])}, "inventory.nodes[1].cpus"),
    ("cpus as bool", {"inventory": inventory([{**NODE, "cpus": True}])}, "inventory.nodes[0].cpus"),
    ("nodes a number", {"inventory": inventory(5)}, "inventory.nodes"),
    ("inventory a list", {"inventory": [NODE]}, "inventory"),
    ("inventory time not ISO", {"inventory": inventory([NODE], "yesterday")}, "inventory.collected_at"),
    ("inventory without time", {"inventory": {"nodes": [NODE]}}, "inventory.collected_at"),
    ("collected_at malformed", {"collected_at": "2024-05-02 02:00"}, "collected_at"),
    ("collected_at impossible", {"collected_at": "2024-02-30T00:00:00Z"}, "collected_at"),
    ("window_end before start", {"window_end": "2024-04-30T00:00:00Z"}, "window_end"),
    ("memory 2^62", {"inventory": inventory([{**NODE, "mem_bytes": 2**62}])}, "inventory.nodes[0].mem_bytes"),
    ("GPUs 10^20", {"inventory": inventory([{**NODE, "gpus": {"a100": 10**20}}])}, "inventory.nodes[0].gpus.a100"),
    ("GPUs negative", {"inventory": inventory([{**NODE, "gpus": {"": -4}}])}, 'inventory.nodes[0].gpus.""'),
    (
        "GPU total",
        {"inventory": inventory([{**NODE, "gpus": {f"t{i}": 1000 for i in range(3)}}])},
        "inventory.nodes[0].gpus",
    ),
    ("node not an object", {"inventory": inventory([NODE, "garbage"])}, "inventory.nodes[1]"),
    (
        "node without cpus",
        {"inventory": inventory([{k: v for k, v in NODE.items() if k != "cpus"}])},
        "inventory.nodes[0].cpus",
    ),
    (
        "partition not text",
        {"inventory": inventory([{**NODE, "partitions": ["cpu", 7]}])},
        "inventory.nodes[0].partitions[1]",
    ),
    ("field with a bar", {"fields": ["JobID", "a|b"]}, "fields[1]"),
    ("rows 2^62", {"rows": 2**62}, "rows"),
    ("sacct_version megabytes", {"sacct_version": "x" * 100_000}, "sacct_version"),
]


@pytest.mark.parametrize("what, overrides, path", POISON, ids=[p[0] for p in POISON])
def test_a_poisoned_manifest_is_422_naming_the_field(client, tmp_path, what, overrides, path):
    manifest, gz = make_drop(cluster="junk", **overrides)
    response = client.post("/api/data/ingest", content=drop_body(manifest, gz), headers=native_headers(THROWAWAY_KEY))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"manifest field {path}: " in detail, detail
    assert landing.list_drops(tmp_path / "data") == []


def test_an_inventory_at_the_physical_limits_is_stored_and_other_clusters_are_unaffected(client, tmp_path):
    big = {
        **NODE,
        "cpus": limits.CPUS_PER_NODE_MAX,
        "mem_bytes": limits.MEM_BYTES_PER_NODE_MAX,
        "gpus": {"h100": limits.GPUS_PER_NODE_MAX},
        "partitions": [],
    }
    manifest, gz = make_drop(cluster="junk", inventory=inventory([NODE, big]))
    ok = client.post("/api/data/ingest", content=drop_body(manifest, gz), headers=native_headers(THROWAWAY_KEY))
    assert ok.status_code == 200, ok.text
    poisoned, gz2 = make_drop(cluster="junk", day="2024-05-02", inventory=inventory([{**NODE, "cpus": "many"}]))
    assert (
        client.post(
            "/api/data/ingest", content=drop_body(poisoned, gz2), headers=native_headers(THROWAWAY_KEY)
        ).status_code
        == 422
    )
    other, gz3 = make_drop(cluster="alpha", day="2024-05-02")
    assert (
        client.post("/api/data/ingest", content=drop_body(other, gz3), headers=native_headers(OTHER_KEY)).status_code
        == 200
    )
    stored = [(d.cluster, d.day) for d in landing.list_drops(tmp_path / "data")]
    assert stored == [("alpha", "2024-05-02"), ("junk", "2024-05-01")]


@pytest.mark.parametrize("day", ["2026-W10-2", "2026-061", "20260302", "2026-3-2 ", "+2026-03-2"])
def test_a_day_that_is_not_yyyy_mm_dd_is_422_and_never_listed(client, tmp_path, day):
    manifest, gz = make_drop(cluster="junk", day=day)
    response = client.post("/api/data/ingest", content=drop_body(manifest, gz), headers=native_headers(THROWAWAY_KEY))
    assert response.status_code == 422 and f"invalid day {day!r}" in response.json()["detail"]
    with pytest.raises(paths.InvalidNameError):
        paths.check_day(day)
    # A folder with such a name (copied in by hand, an older receiver) is never listed as a day.
    folder = tmp_path / "data" / "landing" / "junk" / day
    folder.mkdir(parents=True)
    (folder / f"{'0' * 16}{landing.MANIFEST_SUFFIX}").write_text("{}")
    (folder / f"{'0' * 16}{landing.DATA_SUFFIX}").write_bytes(gz)
    assert landing.list_drops(tmp_path / "data") == []


def test_check_reports_the_first_bad_field_with_its_limit():
    with pytest.raises(manifest_check.ManifestFieldError) as err:
        manifest_check.check_inventory(inventory([NODE, {**NODE, "cpus": limits.CPUS_PER_NODE_MAX + 1}]))
    assert err.value.path == "inventory.nodes[1].cpus"
    assert str(limits.CPUS_PER_NODE_MAX) in str(err.value) and "limits.py" in str(err.value)
    with pytest.raises(manifest_check.ManifestFieldError, match=r"^inventory.nodes: 100001 entries, over 100000"):
        manifest_check.check_inventory(inventory([NODE] * (limits.NODES_MAX + 1)))
