"""Protects the sidebar's GPU-type filter: scoped options, kept in the URL, and every figure it applies to equal to
direct SQL (GPU-hours from gpu_usage_daily of the chosen types, job lists by each job's gpu_types)."""

import pytest
import streamlit as st

from slurm_assets_tests.streamlit_app.helpers import assert_frame_matches, bounds, find_frame, metrics, period_params
from streamlit_app import data

TYPE = "CASE gpu_type WHEN '' THEN '(untyped)' ELSE gpu_type END"
# A job's GPU types as the filter names them (the synthetic jobs have one type each, or untyped GPUs).
JOB_TYPE = "CASE WHEN alloc_gpus > 0 THEN coalesce(nullif(split_part(gpu_types, ':', 1), ''), '(untyped)') END"


def _gpu_sql(wh, p, types, group: str | None = None):
    cols = f"{group}, " if group else ""
    return wh.sql(
        f"SELECT {cols}sum(gpu_hours) AS gpu_hours FROM gpu_usage_daily WHERE date BETWEEN ? AND ?"
        f" AND list_contains(?, {TYPE}) {'GROUP BY 1' if group else ''}",
        bounds(p) + [types],
    )


def test_options_are_the_viewers_gpu_types(warehouse, monkeypatch):
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(warehouse.root))
    st.cache_data.clear()
    st.cache_resource.clear()
    assert data.filter_options(data.ADMIN_SCOPE)["gpu_type"] == ["(untyped)", "a100", "h100"]
    pairs = (("alpha", "acc-b"), ("alpha", "acc-c"), ("beta", "acc-b"), ("beta", "acc-c"))  # u05 coordinates
    mine = warehouse.sql(
        f"""SELECT DISTINCT {TYPE} AS t FROM gpu_usage_daily
                             WHERE "user" = 'u05' OR list_contains(?, cluster || '/' || account) ORDER BY 1""",
        [[f"{c}/{a}" for c, a in pairs]],
    )["t"].tolist()
    assert data.filter_options(data.Scope("coordinator", "u05", pairs))["gpu_type"] == mine
    gamma_only = data.Scope("coordinator", "zz", (("gamma", "acc-a"),))  # gamma's GPUs are all h100
    assert data.filter_options(gamma_only)["gpu_type"] == ["h100"]
    assert data.filter_options(data.NOBODY_SCOPE)["gpu_type"] == []


def test_overview_gpu_hours_of_the_chosen_type_from_the_url(warehouse, open_app):
    p = period_params(warehouse, grain="week")
    at = open_app(warehouse, "overview", **p, gpu_type="a100")
    assert at.multiselect(key="flt_gpu_type").value == ["a100"]
    assert at.query_params["gpu_type"] == "a100"  # stays in the URL
    a100 = _gpu_sql(warehouse, p, ["a100"]).iloc[0, 0]
    everything = warehouse.one("SELECT sum(gpu_hours) FROM usage_daily WHERE date BETWEEN ? AND ?", bounds(p))
    assert 0 < a100 < everything
    assert metrics(at)["GPU-hours"] == f"{a100:,.1f}"
    chart = find_frame(at, "period", "cluster", "gpu_hours")
    expected = _gpu_sql(warehouse, p, ["a100"], "cluster")
    assert_frame_matches(chart.groupby("cluster", as_index=False)["gpu_hours"].sum(), expected, ["cluster"])
    assert list(expected["cluster"]) == ["alpha"]  # only alpha has a100s
    assert any("GPU type a100" in c.value for c in at.caption)  # the page says what the filter covers


def test_gpus_page_and_explorer_follow_the_filter(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "gpus", **p, gpu_type=["h100", "(untyped)"])
    table = find_frame(at, "cluster", "partition", "gpu_type", "gpu_hours")
    expected = warehouse.sql(
        f"""SELECT cluster, partition, {TYPE} AS gpu_type, sum(gpu_hours) AS gpu_hours FROM gpu_usage_daily
            WHERE date BETWEEN ? AND ? AND gpu_type IN ('h100', '') GROUP BY ALL""",
        bounds(p),
    )
    assert_frame_matches(table, expected, ["cluster", "partition", "gpu_type"])

    at = open_app(warehouse, "explorer", **p, gpu_type="h100", metric="gpu_hours", dim="user", view="total", top="100")
    assert any("gpu_usage_daily" in c.value for c in at.caption)
    shown = find_frame(at, "user", "gpu_hours")
    assert_frame_matches(shown, _gpu_sql(warehouse, p, ["h100"], '"user"'), ["user"])


@pytest.mark.parametrize("page, entity", [("users_accounts", "user"), ("usage", "account")])
def test_rankings_and_shares_take_gpu_hours_of_the_type(warehouse, open_app, page, entity):
    p = period_params(warehouse)
    extra = {"rank": "gpu_hours", "top": "500"} if page == "users_accounts" else {"stack": entity}
    at = open_app(warehouse, page, **p, gpu_type="a100", **extra)
    shown = find_frame(at, entity, "cpu_hours", "gpu_hours")
    gpu = _gpu_sql(warehouse, p, ["a100"], f'"{entity}"').set_index(entity)["gpu_hours"]
    cpu = warehouse.sql(
        f'SELECT "{entity}", sum(cpu_hours) AS c FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1', bounds(p)
    ).set_index(entity)["c"]
    assert sorted(shown[entity]) == sorted(cpu.index)  # CPU-hours have no GPU type: every entity stays
    for row in shown.itertuples():
        assert row.gpu_hours == pytest.approx(gpu.get(getattr(row, entity), 0.0), rel=1e-9, abs=1e-9)
        assert row.cpu_hours == pytest.approx(cpu[getattr(row, entity)], rel=1e-9)
    if page == "users_accounts":  # ranked by the type's GPU-hours
        assert list(shown["gpu_hours"]) == sorted(shown["gpu_hours"], reverse=True)


@pytest.mark.parametrize("types", [["a100"], ["(untyped)"], ["a100", "h100"]])
def test_jobs_list_matches_each_jobs_gpu_types(warehouse, open_app, types):
    p = period_params(warehouse)
    at = open_app(warehouse, "jobs", **p, gpu_type=types)
    expected = warehouse.sql(
        f"""SELECT cluster, job_id_raw FROM jobs WHERE end_date BETWEEN ? AND ? AND list_contains(?, {JOB_TYPE})
            ORDER BY end_time DESC, cluster, job_id_raw, submit_time""",
        bounds(p) + [types],
    )
    assert len(expected) > 0
    assert any(f"{len(expected):,} jobs match" in c.value for c in at.caption)
    page = find_frame(at, "job_id_raw", "end_time")
    assert list(zip(page.cluster, page.job_id_raw)) == list(zip(expected.cluster, expected.job_id_raw))[:100]


def test_unknown_gpu_type_is_reported_not_applied(warehouse, open_app):
    at = open_app(warehouse, "overview", **period_params(warehouse), gpu_type="v100")
    assert at.multiselect(key="flt_gpu_type").value == []
    assert any("gpu\\_type=v100" in w.value for w in at.warning)
