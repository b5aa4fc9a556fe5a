"""Protects the dashboard on an ``s3://`` data root (moto server): every page renders, the figures equal DuckDB
over the same Parquet objects, the reports are found and downloaded from the bucket, and a data root that
cannot be read (no such bucket, no credentials) says why on the page instead of a traceback."""

import datetime as dt

import pytest

from slurm_assets.reports import monthly
from slurm_assets_tests.streamlit_app.conftest import LAST_DAY
from slurm_assets_tests.streamlit_app.helpers import bounds, metrics, period_params
from slurm_assets_tests.streamlit_app.s3_warehouse import S3Warehouse, upload
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse
from slurm_assets_tests.streamlit_app.views.test_empty import PAGES
from slurm_assets_tests.streamlit_app.views.test_overview import expected

DAYS = 20
MONTH = "2026-03"


@pytest.fixture(scope="module")
def local_files(tmp_path_factory):
    """A small synthetic warehouse and its March reports, on local disk (uploaded per test)."""
    root = tmp_path_factory.mktemp("s3-dash")
    info = build_warehouse(root, last_day=LAST_DAY, days=DAYS)
    monthly.write_reports(root, MONTH, today=dt.date(2026, 4, 2))
    return root, info


@pytest.fixture
def s3_warehouse(local_files, s3_bucket) -> S3Warehouse:
    root, info = local_files
    upload(root, s3_bucket.url)
    return S3Warehouse(s3_bucket.url, info["first"], info["last"])


def test_every_page_renders_from_s3_and_equals_duckdb(s3_warehouse, open_app):
    wh = s3_warehouse
    p = period_params(wh, days=DAYS)
    at = open_app(wh, "overview", **p)
    now = expected(wh, *bounds(p))
    assert now.jobs > 0
    assert metrics(at) == {
        "Jobs": f"{now.jobs:,.0f}",
        "CPU-hours": f"{now.cpu:,.1f}",
        "GPU-hours": f"{now.gpu:,.1f}",
        "Active users": f"{now.users:,.0f}",
        "Active accounts": f"{now.accounts:,.0f}",
        "Mean wait (h)": f"{now.wait:,.2f}",
    }
    for page in [*PAGES, "reports"]:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        errors = [e.value for e in at.error if "could not be processed at all" not in e.value]  # a bad drop: data
        assert not errors, (page, errors)
        assert at.dataframe or at.metric, page
    shown = at.dataframe[0].value  # the Reports page: what the bucket holds
    assert set(shown["month"]) == {MONTH} and "(whole cluster)" in set(shown["account"])


def test_reports_are_listed_and_read_from_the_bucket(s3_warehouse, local_files):
    from streamlit_app.data.reports import available_reports, report_bytes
    from streamlit_app.data.scope import ADMIN_SCOPE, Scope

    root, _info = local_files
    reports = available_reports(ADMIN_SCOPE, s3_warehouse.root)
    local = available_reports(ADMIN_SCOPE, root)
    assert len(reports) == len(local) > 0
    assert all(r.startswith(s3_warehouse.root + "/reports/") for r in reports["pdf"])
    for remote_csv, local_csv in zip(reports["csv"], local["csv"], strict=True):
        assert report_bytes(remote_csv) == open(local_csv, "rb").read()
    pairs = (("alpha", "acc-b"),)
    coord = available_reports(Scope("coordinator", "u05", pairs), s3_warehouse.root)
    assert set(coord[["cluster", "account"]].itertuples(index=False, name=None)) == set(pairs)


def test_a_missing_bucket_is_named_on_the_page(s3_bucket, open_app):
    at = open_app(S3Warehouse(f"s3://{s3_bucket.name}-missing/data", None, None))
    assert [e.value for e in at.error] and "does not exist" in at.error[0].value, [e.value for e in at.error]
    assert f"{s3_bucket.name}-missing" in at.error[0].value


def test_missing_credentials_are_named_on_the_page(s3_bucket, open_app, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask for
    at = open_app(S3Warehouse(s3_bucket.url, None, None))
    text = " ".join(e.value for e in at.error)
    assert "AWS_ACCESS_KEY_ID" in text and "credentials" in text.lower(), text
