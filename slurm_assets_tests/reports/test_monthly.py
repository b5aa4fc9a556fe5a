"""Protects ``monthly_reports``: materialized by Dagster for a range of months from the daily tables; each
report's totals equal the daily tables (direct SQL); the PDF opens (poppler's pdftoppm/pdftotext) and
shows its chart; a month not covered to its end is marked partial."""

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from slurm_assets.defs.reports.assets import monthly_reports_asset
from slurm_assets.defs.resources import StorageResource
from slurm_assets.reports import monthly
from slurm_assets.reports.pdf import BAR_COLOR
from slurm_assets_tests.reports.conftest import check_reports


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing under CI=true: install Debian's poppler-utils (see .ci/run)")
        pytest.skip(f"{tool} is not installed (apt-get install poppler-utils)")
    return path


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_materialized_for_a_range_of_months_totals_equal_the_daily_tables(data_dir):
    storage = StorageResource(data_dir=str(data_dir))
    for month in ("2026-02-01", "2026-03-01"):  # what a backfill of the range launches: one run per month
        result = dg.materialize([monthly_reports_asset()], partition_key=month, resources={"storage": storage})
        assert result.success
    check_reports(data_dir, ("2026-02", "2026-03"))


def test_the_pdf_opens_and_shows_its_chart(data_dir, tmp_path):
    pdftoppm, pdftotext = _poppler("pdftoppm"), _poppler("pdftotext")
    monthly.write_reports(data_dir, "2026-03", today=dt.date(2026, 3, 20))  # the month is not over: partial
    pdf = monthly.report_dir(data_dir, "2026-03") / "alpha" / "account-acc-b.pdf"
    text = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "Usage of account acc-b on alpha, 2026-03" in text and "Partial month" in text
    assert "Top users" in text and "GPU-hours by GPU type" in text and "CPU efficiency" in text
    subprocess.run([pdftoppm, "-png", "-r", "60", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    image = Image.open(tmp_path / "page.png").convert("RGB")
    bar = tuple(int(BAR_COLOR.hexval()[i : i + 2], 16) for i in (2, 4, 6))
    bar_pixels = sum(1 for p in image.getdata() if all(abs(a - b) <= 8 for a, b in zip(p, bar)))
    assert bar_pixels > 500  # the month's bars are drawn (an empty chart has none)
    rows = _csv(pdf.with_suffix(".csv"))
    assert next(r for r in rows if r["section"] == "total")["name"] == "partial month"


def test_the_dashboard_offers_only_the_reports_a_viewer_may_see(data_dir):
    from streamlit_app.data.reports import available_reports
    from streamlit_app.data.scope import ADMIN_SCOPE, Scope

    monthly.write_reports(data_dir, "2026-02", today=dt.date(2026, 12, 1))
    everything = available_reports(ADMIN_SCOPE, data_dir)
    assert {(c, a) for c, a in everything[["cluster", "account"]].itertuples(index=False)} >= {
        ("alpha", None),
        ("alpha", "acc-b"),
        ("gamma", "acc-b"),
    }
    pairs = (("alpha", "acc-b"), ("alpha", "acc-c"))
    coord = available_reports(Scope("coordinator", "u05", pairs), data_dir)
    assert set(coord[["cluster", "account"]].itertuples(index=False, name=None)) == set(pairs)
    assert all(Path(p).exists() for p in coord["pdf"])
    assert available_reports(Scope("user", "u01"), data_dir).empty
    totals = available_reports(Scope("user", "u01", (), True), data_dir)
    assert not totals.empty and totals["account"].isna().all()  # cluster reports only
    assert available_reports(Scope("nobody", None, (), True), data_dir).empty
