"""Fixtures for the Dagster definition tests: a small two-cluster history landed as drops."""

import pytest

from slurm_assets_tests.defs.history import Job, at, land, render_window

# alpha: job 1 within 05-01; job 2 runs 05-01 22:00 -> 05-02 02:00 (two days, ends 05-02);
# job 3 ends 05-02 with GPUs; job 4 is still running at the last collection.
HISTORY = {
    "alpha": [
        Job(
            1,
            "alice",
            "physics",
            "cpu",
            at("2024-05-01T08:00:00"),
            at("2024-05-01T09:00:00"),
            at("2024-05-01T11:00:00"),
            cpus=4,
        ),
        Job(
            2,
            "bob",
            "chem",
            "cpu",
            at("2024-05-01T21:00:00"),
            at("2024-05-01T22:00:00"),
            at("2024-05-02T02:00:00"),
            cpus=8,
            state="FAILED",
        ),
        Job(
            3,
            "alice",
            "physics",
            "gpu",
            at("2024-05-02T10:00:00"),
            at("2024-05-02T10:30:00"),
            at("2024-05-02T12:30:00"),
            cpus=2,
            gpus=2,
        ),
        Job(
            4,
            "carol",
            "bio",
            "cpu",
            at("2024-05-02T20:00:00"),
            at("2024-05-02T21:00:00"),
            at("2024-05-09T00:00:00"),
            cpus=1,
        ),
    ],
    "beta": [
        Job(
            70,
            "dave",
            "astro",
            "cpu",
            at("2024-05-01T00:30:00"),
            at("2024-05-01T01:00:00"),
            at("2024-05-01T04:00:00"),
            cpus=16,
            state="CANCELLED",
        ),
    ],
}
COLLECTED = at("2024-05-03T00:30:00")


@pytest.fixture
def landed(tmp_path):
    """DATA_DIR with one drop per cluster x day for 2024-05-01..02, collected on 05-03 00:30 UTC."""
    for cluster, jobs in HISTORY.items():
        for day in ("2024-05-01", "2024-05-02"):
            land(tmp_path, cluster, day, render_window(jobs, day, COLLECTED), COLLECTED)
    return tmp_path
