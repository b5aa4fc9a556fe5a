"""Protects the Data status page: freshness, gaps, quarantine counts and the Dagster link."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    find_frame,
    metrics,
    period_params,
)


def test_status_gaps_and_quarantine(warehouse, open_app, monkeypatch):
    monkeypatch.setenv("DAGSTER_UI_URL", "http://dagster.example:3000")
    p = period_params(warehouse)
    at = open_app(warehouse, "data_status", **p)
    status = find_frame(at, "cluster", "last_day_materialized", "missing_days", "quarantined_rows")
    expected = warehouse.sql(
        """SELECT d.cluster, max(date) AS last_day_materialized, count(DISTINCT date) AS days_materialized,
                  coalesce(q.n, 0) AS quarantined_rows
           FROM drops d LEFT JOIN (SELECT cluster, count(*) AS n FROM quarantine GROUP BY 1) q USING (cluster)
           GROUP BY d.cluster, q.n"""
    )
    assert_frame_matches(status, expected, ["cluster"])
    assert dict(zip(status.cluster, status.missing_days)) == {"alpha": 0, "beta": 2, "gamma": 1}
    gaps = find_frame(at, "cluster", "gap_start", "gap_end", "days")
    assert list(zip(gaps.cluster, gaps.days)) == [("beta", 2), ("gamma", 1)]
    assert metrics(at)["beta: last day materialized"] == str(warehouse.last)
    summary = find_frame(at, "cluster", "reason", "rows")
    assert summary["rows"].sum() == warehouse.one(
        "SELECT count(*) FROM quarantine WHERE date BETWEEN ? AND ?", [p["start"], p["end"]]
    )
    assert any("http://dagster.example:3000" in m.value for m in at.markdown)
    whole = find_frame(at, "cluster", "date", "drop_id", "reason", "detail")  # issue 18: quarantined whole
    assert list(zip(whole.cluster, whole.drop_id, whole.reason)) == [("beta", "beadfeedbeadfeed", "bad_manifest")]
    assert "collected_at" in whole.detail[0]
    assert any("could not be processed at all" in e.value for e in at.error)


def test_each_clusters_age_and_stale_flag_follow_the_setting(warehouse, open_app, monkeypatch):
    """The synthetic drops are months old: stale under the default threshold, fresh under a huge one."""
    import datetime as dt

    at = open_app(warehouse, "data_status")
    status = find_frame(at, "cluster", "age_h", "fresh")
    last = warehouse.sql("SELECT cluster, max(collected_at) AS t FROM drops GROUP BY 1").set_index("cluster")["t"]
    for row in status.itertuples():
        age = (dt.datetime.now(dt.UTC) - last[row.cluster].to_pydatetime()).total_seconds() / 3600
        assert abs(row.age_h - age) < 1 and row.fresh == "stale"
    assert "Stale" in at.warning[0].value and "alpha" in at.warning[0].value
    assert any(":red-badge[stale]" in m.value for m in at.markdown)

    monkeypatch.setenv("SLURM_USAGE_STALE_AFTER_H", str(10 * 365 * 24))
    at = open_app(warehouse, "data_status")
    assert set(find_frame(at, "cluster", "fresh")["fresh"]) == {"fresh"}
    assert not [e for e in at.warning if "Stale" in e.value]
