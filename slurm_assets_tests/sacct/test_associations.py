"""Protects the dashboard's source of roles: sacctmgr's associations and coordinators -> ``associations``.

The agent collects them once per run (real sacctmgr of the testbed) and ships them in
recent drops; the pipeline writes a daily snapshot per cluster. Older drops (format /1,
no section) still process; a drop cannot give roles on another cluster.
"""

import datetime as dt
import subprocess

import pyarrow.parquet as pq
import pytest

from slurm_assets.sacct.associations import associations_from_section
from slurm_assets.storage import landing, paths
from slurm_assets_tests.pipeline.test_daily import process_day
from slurm_assets_tests.agent.conftest import load_agent
from slurm_assets_tests.drops import make_drop, sacct_text

SECTION = {
    "collected_at": "2024-05-01T03:00:00Z",
    "associations": [
        {"account": "root", "parent": "", "user": ""},
        {"account": "physics", "parent": "root", "user": ""},
        {"account": "theory", "parent": "physics", "user": ""},
        {"account": "physics", "parent": "", "user": "alice"},
        {"account": "physics", "parent": "", "user": "alice"},  # duplicate: once
        "not an object",
        {"parent": "root"},
        {"account": 7},
        {"account": "x", "user": ["bad"]},
    ],
    "coordinators": [{"account": "physics", "user": "bob"}, {"account": "theory"}, None],
}


def _rows(table) -> list[tuple]:
    return [(r["kind"], r["account"], r["parent"], r["user"]) for r in table.to_pylist()]


def test_section_to_rows_skips_malformed_entries():
    table = associations_from_section(SECTION, "alpha", "2024-05-01")
    assert _rows(table) == [
        ("account", "physics", "root", None),
        ("account", "root", None, None),
        ("account", "theory", "physics", None),
        ("account", "x", None, None),
        ("user", "physics", None, "alice"),
        ("coordinator", "physics", None, "bob"),
    ]
    assert set(table["cluster"].to_pylist()) == {"alpha"}
    assert table["collected_at"][0].as_py() == dt.datetime(2024, 5, 1, 3, tzinfo=dt.UTC)
    for bad in (None, [], "x", {"associations": "no"}):
        assert associations_from_section(bad, "alpha", "2024-05-01").num_rows == 0


def _store(data_dir, text=None, **overrides):
    manifest, gz = make_drop(text, **overrides)
    landing.store_drop(data_dir, manifest, gz)


def test_pipeline_writes_the_latest_snapshot_and_old_drops_still_process(tmp_path):
    # An old agent's drop (format /1, no associations key) for beta; two /2 drops for alpha.
    manifest, gz = make_drop(format="slurm-usage-drop/1", cluster="beta")
    del manifest["inventory"]
    landing.store_drop(tmp_path, manifest, gz)
    clean = {
        k: [r for r in v if isinstance(r, dict) and all(isinstance(x, str) for x in r.values())]
        for k, v in SECTION.items()
        if k != "collected_at"
    } | {"collected_at": SECTION["collected_at"]}
    _store(tmp_path, associations=dict(clean, coordinators=[]), collected_at="2024-05-02T01:00:00Z")
    _store(tmp_path, sacct_text(tag="b"), associations=clean, collected_at="2024-05-02T02:00:00Z")
    built = process_day(tmp_path, "2024-05-01")
    assert built["beta"]["jobs"].num_rows == 3 and built["beta"]["associations"].num_rows == 0
    table = pq.read_table(paths.partition_file(tmp_path, "associations", "alpha", "2024-05-01"))
    assert ("coordinator", "physics", None, "bob") in _rows(table)  # the latest collection's snapshot


def test_a_bad_section_is_refused_with_a_message():
    manifest, _ = make_drop(associations={"collected_at": "2024-05-01T03:00:00Z", "associations": [{"account": 1}]})
    with pytest.raises(landing.DropFormatError, match=r"associations\.associations\[0\]\.account: int is not a string"):
        landing.validate_manifest(manifest)
    manifest, _ = make_drop(associations=["x"])
    with pytest.raises(landing.DropFormatError, match="associations: list is not an object"):
        landing.validate_manifest(manifest)
    manifest, _ = make_drop(format="slurm-usage-drop/9")
    with pytest.raises(landing.DropFormatError, match="slurm-usage-drop/1, slurm-usage-drop/2"):
        landing.validate_manifest(manifest)


def _sacctmgr(*args: str) -> str:
    return subprocess.run(["sacctmgr", *args], check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.mark.slurm_live
def test_testbed_associations_reach_the_table(slurm_testbed, tmp_path):
    """The real sacctmgr -> agent drop -> pipeline; a coordinator added for the test is removed again."""
    cluster, today = slurm_testbed.cluster, dt.datetime.now(dt.UTC).date().isoformat()
    _sacctmgr("-i", "add", "coordinator", "account=bio", "names=bob")
    try:
        code = load_agent().main(
            [
                "--no-config",
                "--output-dir",
                str(tmp_path / "landing"),
                "--cluster",
                cluster,
                "--start-date",
                today,
                "--end-date",
                today,
            ]
        )
    finally:
        _sacctmgr("-i", "remove", "coordinator", "account=bio", "names=bob")
    assert code == 0
    process_day(tmp_path, today)
    rows = set(_rows(pq.read_table(paths.partition_file(tmp_path, "associations", cluster, today))))
    # Independently: sacctmgr's own listing of the cluster's associations.
    expected = set()
    for line in _sacctmgr(
        "-P", "-n", "show", "associations", f"cluster={cluster}", "format=Account,ParentName,User"
    ).splitlines():
        account, parent, user = line.split("|")
        expected.add(("user", account, None, user) if user else ("account", account, parent or None, None))
    assert expected and rows - {r for r in rows if r[0] == "coordinator"} == expected
    assert ("coordinator", "bio", None, "bob") in rows
    assert ("user", "physics", None, "alice") in rows  # the testbed's users (start-cluster.sh)
