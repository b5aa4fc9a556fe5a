"""Protects ``landing_pull``: a no-op materialization (with a note) when no cluster is in ssh mode, and on the
testbed a partition range pulled over SSH lands one drop per day like any other drop."""

import dagster as dg
import pytest

from slurm_assets.defs.landing.assets import landing_pull_asset
from slurm_assets.defs.resources import SshPullResource, StorageResource
from slurm_assets.storage import landing

RANGE = {"dagster/asset_partition_range_start": "2024-05-01", "dagster/asset_partition_range_end": "2024-05-02"}


def test_no_ssh_clusters_is_a_noop(tmp_path):
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text("clusters:\n  - {name: beta, mode: push}\n")
    result = dg.materialize(
        [landing_pull_asset()],
        tags=RANGE,
        resources={
            "storage": StorageResource(data_dir=str(tmp_path)),
            "ssh": SshPullResource(clusters_file=str(clusters)),
        },
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["ssh_clusters"].value == 0 and "no ssh-mode clusters" in meta["note"].value
    assert landing.list_drops(tmp_path) == []


@pytest.mark.slurm_live
def test_pull_range_over_ssh(slurm_testbed, tmp_path):
    tb = slurm_testbed
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        "clusters:\n"
        f"  - {{name: {tb.cluster}, mode: ssh, host: '{tb.ssh_host}', port: {tb.ssh_port}, user: {tb.ssh_user},\n"
        f"     key_path: '{tb.ssh_key_path}', known_hosts: '{tb.known_hosts_path}', command_timeout_s: 120}}\n"
    )
    day = tb.start.date().isoformat()
    result = dg.materialize(
        [landing_pull_asset()],
        tags={"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
        resources={
            "storage": StorageResource(data_dir=str(tmp_path / "data")),
            "ssh": SshPullResource(clusters_file=str(clusters)),
        },
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["by_cluster"].value[tb.cluster]["drops"] == 1
    (ref,) = landing.list_drops(tmp_path / "data")
    assert (ref.cluster, ref.day) == (tb.cluster, day)
