"""Protects the job page: a job's record, times and efficiency equal its row in jobs; bad links explain."""

from slurm_assets_tests.streamlit_app.helpers import metrics


def test_job_page_shows_the_record(warehouse, open_app):
    job = warehouse.sql("SELECT * FROM jobs WHERE cpu_efficiency IS NOT NULL ORDER BY end_time DESC LIMIT 1").iloc[0]
    at = open_app(warehouse, "job", job=f"{job.cluster}/{job.job_id_raw}", day=str(job.end_date)[:10])
    assert at.title[0].value == f"Job {job.job_id_raw} on {job.cluster}"
    shown = metrics(at)
    assert shown["CPU efficiency (%)"] == f"{job.cpu_efficiency * 100:,.1f}"
    assert shown["CPU-hours"] == f"{job.cpu_hours:,.2f}"
    assert shown["User / account"] == f"{job.user} / {job.account}"
    # without the day, the same job is found by a scan
    again = open_app(warehouse, "job", job=f"{job.cluster}/{job.job_id_raw}")
    assert metrics(again) == shown


def test_bad_or_unknown_job_links_explain(warehouse, open_app):
    at = open_app(warehouse, "job", job="../etc/1", day="2026-03-01")
    assert "does not name a valid job" in at.warning[0].value
    at = open_app(warehouse, "job", job="alpha/999999999")
    assert "No finished job" in at.info[0].value
    at = open_app(warehouse, "job")
    assert "No job chosen" in at.info[0].value


def test_a_job_link_shows_nothing_outside_the_viewers_scope(warehouse, monkeypatch):
    """A user who edits a job link to another user's job finds nothing (the scope is in the SQL)."""
    import datetime as dt

    from streamlit_app import data
    from streamlit_app.data.scope import ADMIN_SCOPE, Scope

    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(warehouse.root))
    job = warehouse.sql('SELECT cluster, job_id_raw, "user", end_date FROM jobs LIMIT 1').iloc[0]
    day = str(job.end_date)[:10]
    f = data.Filters(start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31), scope=ADMIN_SCOPE)
    assert len(data.job_record(f, job.cluster, str(job.job_id_raw), day)) >= 1
    other = Scope("user", user="not-" + job.user)
    assert data.job_record(f.__class__(**{**f.__dict__, "scope": other}), job.cluster, str(job.job_id_raw), day).empty
    owner = Scope("user", user=job.user)
    assert (
        len(data.job_record(f.__class__(**{**f.__dict__, "scope": owner}), job.cluster, str(job.job_id_raw), day)) >= 1
    )
