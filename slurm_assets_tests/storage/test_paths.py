"""Protects the landing/warehouse layout: nothing from a request becomes a path unchecked."""

import pytest

from slurm_assets.storage import paths


@pytest.mark.parametrize(
    "name",
    [
        "alpha",  # plain
        "beta-2",  # dash and digit
        "hpc.example_org",  # dot and underscore
        "a" * 64,  # longest allowed
    ],
)
def test_good_cluster_names_pass(name):
    assert paths.check_cluster_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",  # empty
        "../x",  # traversal
        "a/b",  # separator
        "a..b",  # dot-dot inside
        ".hidden",  # leading dot
        "a" * 65,  # too long
        "a" * 300,  # far too long
        "clu ster",  # space
        "alpha\x00",  # NUL
        "ålpha",  # non-ASCII letter
    ],
)
def test_bad_cluster_names_are_refused_with_a_hint(name):
    with pytest.raises(paths.InvalidNameError, match="letters, digits"):
        paths.check_cluster_name(name)


@pytest.mark.parametrize("day", ["2024-13-01", "2024-02-30", "24-01-01", "2024-01-01/..", "", "2024-1-1"])
def test_bad_days_are_refused(day):
    with pytest.raises(paths.InvalidNameError, match="YYYY-MM-DD"):
        paths.check_day(day)


def test_partition_file_layout(tmp_path):
    got = paths.partition_file(tmp_path, "jobs", "alpha", "2024-05-01")
    assert got == tmp_path / "warehouse" / "jobs" / "cluster=alpha" / "date=2024-05-01" / "part-0.parquet"
