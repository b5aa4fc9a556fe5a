"""Protects the GPUs page: GPU jobs' share and GPU-hours by type and partition equal direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    metrics,
    period_params,
)


def test_gpu_job_share_and_tables(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "gpus", **p)
    row = warehouse.sql(
        """SELECT count(*) FILTER (WHERE alloc_gpus > 0) AS gpu_jobs,
                  100.0 * count(*) FILTER (WHERE alloc_gpus > 0) / count(*) AS pct,
                  sum(cpu_hours) FILTER (WHERE alloc_gpus > 0) AS cpu
           FROM jobs WHERE end_date BETWEEN ? AND ?""",
        bounds(p),
    ).iloc[0]
    shown = metrics(at)
    assert shown["GPU jobs"] == f"{row.gpu_jobs:,.0f}"
    assert shown["Share of jobs (%)"] == f"{row.pct:,.1f}"
    assert shown["GPU jobs' CPU-hours"] == f"{row.cpu:,.1f}"
    table = find_frame(at, "cluster", "partition", "gpu_type", "gpu_hours")
    expected = warehouse.sql(
        """SELECT cluster, partition, CASE gpu_type WHEN '' THEN '(untyped)' ELSE gpu_type END AS gpu_type,
                  sum(gpu_hours) AS gpu_hours FROM gpu_usage_daily
           WHERE date BETWEEN ? AND ? GROUP BY ALL""",
        bounds(p),
    )
    assert_frame_matches(table, expected, ["cluster", "partition", "gpu_type"])
    by_type = find_frame(at, "period", "gpu_type", "gpu_hours")
    assert abs(by_type["gpu_hours"].sum() - expected["gpu_hours"].sum()) < 1e-6
