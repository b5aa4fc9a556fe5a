"""Protects the Queue page: mean and long waits, distributions, state rates and the live snapshot equal direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    period_params,
)


def test_waits_states_and_distributions(warehouse, open_app):
    p = period_params(warehouse, grain="week")
    at = open_app(warehouse, "queue", **p)
    waits = find_frame(at, "period", "partition", "mean_wait_h", "waited_1h_pct")
    expected = warehouse.sql(
        """SELECT date_trunc('week', end_date) AS period, partition, count(*) AS jobs,
                  avg(wait_s) / 3600 AS mean_wait_h, count(*) FILTER (WHERE wait_s >= 3600) * 100.0 / count(*)
                      AS waited_1h_pct
           FROM jobs WHERE end_date BETWEEN ? AND ? AND wait_s IS NOT NULL GROUP BY ALL""",
        bounds(p),
    )
    assert expected["waited_1h_pct"].between(1, 99).any()  # the test data has short and long waits
    assert_frame_matches(waits, expected, ["period", "partition"])

    states = find_frame(at, "period", "state", "share_pct")
    expected = warehouse.sql(
        """SELECT date_trunc('week', end_date) AS period, state, count(*) AS jobs FROM jobs
           WHERE end_date BETWEEN ? AND ? GROUP BY ALL""",
        bounds(p),
    )
    assert_frame_matches(states, expected, ["period", "state"])
    for _, per in states.groupby("period"):
        assert abs(per["share_pct"].sum() - 100) < 1e-9

    total = warehouse.one("SELECT count(*) FROM jobs WHERE end_date BETWEEN ? AND ?", bounds(p))
    for dim in ("wait_time", "job_size", "node_count", "gpu_count", "wall_time"):
        assert find_frame(at, dim, "jobs")["jobs"].sum() == total
    gpus = find_frame(at, "gpu_count", "jobs").set_index("gpu_count")["jobs"]
    assert gpus["0"] == warehouse.one(
        "SELECT count(*) FROM jobs WHERE end_date BETWEEN ? AND ? AND alloc_gpus = 0", bounds(p)
    )


def test_running_snapshot(warehouse, open_app):
    at = open_app(warehouse, "queue", **period_params(warehouse))
    now = find_frame(at, "cluster", "state", "jobs", "cpus")
    expected = warehouse.sql(
        "SELECT cluster, state, count(*) AS jobs, sum(alloc_cpus) AS cpus FROM running_jobs GROUP BY ALL"
    )
    assert_frame_matches(now, expected, ["cluster", "state"])
