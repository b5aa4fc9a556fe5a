"""Protects issue 18 item 1 (pipeline side): no cluster's drops can stop or alter another cluster's tables.

Drops that reach the landing zone without the receiver's checks (``agent --output-dir``, SSH, older receivers)
are written straight into it, each kind of poison the issue found: an inventory overflowing 64-bit sums, wrong
types, non-ISO times, a malformed manifest, a manifest naming another cluster, absurd sacct numbers. Then
``process`` must exit 0, write the other clusters' tables byte for byte as without the poison, quarantine each
bad drop whole with the field named (a failed asset check says so), not retry it on the next run, and process
a corrected copy (same drop id) once it is sent, through the receiver's store or a file copy.
"""

import json
import shutil

import pyarrow.parquet as pq
import pytest

from slurm_assets.__main__ import EXIT_OK, main
from slurm_assets.storage import landing, paths
from slurm_assets_tests.drops import HEADER, make_drop, sacct_text, write_landed

DAYS = ("2024-05-01", "2024-05-02")


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def day_drop(cluster: str, day: str, text: bytes | None = None, **overrides):
    window = {
        "day": day,
        "window_start": f"{day}T00:00:00Z",
        "window_end": f"{day[:8]}{int(day[8:]) + 1:02d}T00:00:00Z",
        "collected_at": f"{day[:8]}{int(day[8:]) + 1:02d}T02:00:00Z",
    }
    return make_drop(
        sacct_text(4, day=day, tag=cluster) if text is None else text, cluster=cluster, **{**window, **overrides}
    )


def inventory(**node):
    return {
        "collected_at": "2024-05-02T02:00:00Z",
        "nodes": [
            {"node": "n1", "partitions": ["cpu"], "cpus": 8, "mem_bytes": 2**34, "gpus": {}, "state": "IDLE", **node}
        ],
    }


def land_good(data_dir):
    for cluster in ("alpha", "beta"):
        for day in DAYS:
            landing.store_drop(data_dir, *day_drop(cluster, day, inventory=inventory()))


def absurd_text(day: str) -> bytes:
    good = f"|u|acct|cpu|COMPLETED|{day}T01:00:00|{day}T01:00:05|{day}T02:00:05|01:00:00"
    lines = [
        HEADER,
        f"1|1{good}|100000000000000000000|cpu=4",
        f"2|2{good}|4|cpu=4,gres/gpu=100000000000000000000",
        f"3|3{good}|4|cpu=4,node=1",
    ]
    return ("\n".join(lines) + "\n").encode()


# (what, cluster, day, manifest overrides or raw manifest bytes, what the quarantine detail must name)
POISON = [
    (
        "overflowing inventory",
        "evil",
        DAYS[0],
        {
            "inventory": {
                "collected_at": "2024-05-02T02:00:00Z",
                "nodes": [
                    {"node": f"n{i}", "partitions": ["cpu"], "cpus": 2**53, "mem_bytes": 1, "gpus": {}, "state": "IDLE"}
                    for i in range(1100)
                ],
            }
        },
        "inventory.nodes[0].cpus",
    ),
    (
        "inventory types",
        "evil",
        DAYS[1],
        {"inventory": {"collected_at": "2024-05-02T02:00:00Z", "nodes": 5}},
        "inventory.nodes",
    ),
    ("node cpus many", "evil2", DAYS[0], {"inventory": inventory(cpus="many")}, "inventory.nodes[0].cpus"),
    (
        "inventory time",
        "evil2",
        DAYS[1],
        {"inventory": {**inventory(), "collected_at": "noon"}},
        "inventory.collected_at",
    ),
    ("non-ISO collected_at", "evil3", DAYS[0], {"collected_at": "yesterday"}, "collected_at"),
    ("malformed JSON", "evil3", DAYS[1], b'{"format": "slurm-usage-drop/1", "cluster": ', "not JSON"),
    ("another cluster's name", "evil4", DAYS[0], {"cluster": "alpha"}, "folder"),
]


def land_poison(data_dir):
    for _what, cluster, day, overrides, _field in POISON:
        manifest, gz = day_drop(cluster, day, sacct_text(2, day=day, tag=cluster))
        if isinstance(overrides, bytes):
            write_landed(data_dir, manifest, gz, raw_manifest=overrides)
        else:
            path, _ = landing.drop_paths(data_dir, cluster, day, landing.drop_id_for(manifest["sha256"]))
            write_landed(data_dir, {**manifest, **overrides}, gz)
            if overrides.get("cluster", cluster) != cluster:  # the manifest names another cluster than its folder
                target = paths.landing_day_dir(data_dir, overrides["cluster"], day)
                for f in target.glob(f"{landing.drop_id_for(manifest['sha256'])}.*"):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(f, path.parent / f.name)
    write_landed(data_dir, *day_drop("evil5", DAYS[1], absurd_text(DAYS[1])))


def table_files(data_dir, clusters=("alpha", "beta")) -> dict[str, bytes]:
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for table in ("jobs", "usage_daily", "gpu_usage_daily", "capacity_daily", "job_summary", "drops")
        for cluster in clusters
        for p in sorted((data_dir / "warehouse" / table / f"cluster={cluster}").glob("*/*.parquet"))
    }


def quarantine(data_dir) -> list[dict]:
    rows = []
    for p in sorted((data_dir / "warehouse" / "quarantine").glob("*/*/*.parquet")):
        rows += pq.read_table(p).to_pylist()
    return rows


def test_poisoned_drops_are_quarantined_whole_and_never_touch_other_clusters(tmp_path, capsys):
    reference = tmp_path / "reference"
    land_good(reference)
    assert main(["process", "--data-dir", str(reference), "--workers", "1"]) == EXIT_OK

    data = tmp_path / "data"
    land_good(data)
    land_poison(data)
    capsys.readouterr()
    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "check no_drop_quarantined_whole on quarantine FAILED" in out
    assert table_files(data) == table_files(reference)  # exactly as without the poison

    rows = quarantine(data)
    whole = {(r["cluster"], str(r["date"])): r for r in rows if r["line_no"] == 0}
    for what, cluster, day, _overrides, field in POISON:
        row = whole.get((cluster, day))
        assert row is not None and row["reason"] == "bad_manifest", what
        assert field in row["detail"], (what, row["detail"])
    lines = sorted((r["line_no"], r["reason"]) for r in rows if r["cluster"] == "evil5")
    assert lines == [(2, "out_of_range"), (3, "out_of_range")]
    con_jobs = pq.read_table(paths.partition_file(data, "jobs", "evil5", DAYS[1])).column("job_id_raw").to_pylist()
    assert con_jobs == [3]

    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    assert "0 days to process in 0 run(s)" in capsys.readouterr().out  # not retried forever


def test_a_corrected_copy_of_a_quarantined_drop_is_processed_once(tmp_path, capsys):
    data = tmp_path / "data"
    land_good(data)
    manifest, gz = day_drop("evil3", DAYS[0], sacct_text(2, day=DAYS[0], tag="e"))
    write_landed(data, {**manifest, "collected_at": "yesterday"}, gz)
    manifest2, gz2 = day_drop("evil3", DAYS[1], sacct_text(3, day=DAYS[1], tag="e"))
    write_landed(data, manifest2, gz2, raw_manifest=b"{oops")
    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    assert (
        not paths.partition_file(data, "jobs", "evil3", DAYS[0]).exists()
        or pq.read_table(paths.partition_file(data, "jobs", "evil3", DAYS[0])).num_rows == 0
    )
    capsys.readouterr()

    # Through the receiver's store (same text, so the same drop id): the unusable manifest is replaced.
    drop_id, duplicate = landing.store_drop(data, manifest, gz)
    assert not duplicate
    assert landing.store_drop(data, manifest, gz) == (drop_id, True)  # the corrected copy is a duplicate now
    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 days to process" in out
    assert pq.read_table(paths.partition_file(data, "jobs", "evil3", DAYS[0])).num_rows == 2
    assert not [r for r in quarantine(data) if (r["cluster"], str(r["date"])) == ("evil3", DAYS[0])]

    # Through a file copy (agent --output-dir): the manifest file is overwritten in place.
    write_landed(data, manifest2, gz2)
    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    assert "1 days to process" in capsys.readouterr().out
    assert pq.read_table(paths.partition_file(data, "jobs", "evil3", DAYS[1])).num_rows == 3
    assert not [r for r in quarantine(data) if r["cluster"] == "evil3"]

    assert main(["process", "--data-dir", str(data), "--workers", "1"]) == EXIT_OK
    assert "0 days to process in 0 run(s)" in capsys.readouterr().out
    assert json.loads((data / "state" / "quarantined_drops.json").read_text()) == {"drops": {}}
