"""Protects the clusters file contract (docs/PIPELINE.md): what a valid ssh cluster needs, and that every
mistake is reported with the file, cluster and key instead of surfacing later as an SSH error."""

import pytest

from slurm_assets.pull.clusters import ClusterConfigError, load_clusters, parse_clusters

SSH = {"name": "alpha", "mode": "ssh", "host": "h", "user": "u", "key_path": "/k", "known_hosts": "/kh"}


def test_parses_modes_and_defaults():
    found = parse_clusters({"clusters": [SSH, {"name": "beta", "mode": "push"}]})
    assert [(c.name, c.mode) for c in found] == [("alpha", "ssh"), ("beta", "push")]
    assert found[0].port == 22 and found[0].allow_unknown_host_key is False and found[0].remote_python == "python3"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**SSH, "mode": "pull"}, "mode='pull'"),  # unknown mode
        ({k: v for k, v in SSH.items() if k != "known_hosts"}, "needs known_hosts"),  # host keys are mandatory
        ({**SSH, "name": "../etc"}, "invalid cluster name"),  # becomes a path component
        ({**SSH, "port": "22"}, "port='22'"),  # wrong type
        ({**SSH, "allow_unknown_host_key": "yes"}, "allow_unknown_host_key"),  # a string is not an explicit yes
        ({**SSH, "hostname": "h"}, "unknown keys"),  # typo
    ],
)
def test_rejects_bad_entries(entry, message):
    with pytest.raises(ClusterConfigError, match=message):
        parse_clusters({"clusters": [entry]}, "c.yaml")


def test_rejects_duplicates_and_non_mapping():
    with pytest.raises(ClusterConfigError, match="listed twice"):
        parse_clusters({"clusters": [SSH, SSH]})
    with pytest.raises(ClusterConfigError, match="'clusters:' list"):
        parse_clusters(["alpha"])


def test_load_from_file(tmp_path):
    assert load_clusters(None) == []
    path = tmp_path / "clusters.yaml"
    path.write_text("clusters:\n  - {name: beta, mode: drop}\n")
    assert load_clusters(path)[0].name == "beta"
    path.write_text("clusters: [\n")
    with pytest.raises(ClusterConfigError, match="not valid YAML"):
        load_clusters(path)
    with pytest.raises(ClusterConfigError, match="cannot read"):
        load_clusters(tmp_path / "missing.yaml")


def test_example_file_in_deploy_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "deploy" / "clusters.example.yaml"
    assert {c.mode for c in load_clusters(example)} == {"push", "drop", "ssh"}
