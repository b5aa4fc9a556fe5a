"""Protects the dashboard on a warehouse the real pipeline wrote (demo sacct -> agent -> Dagster): every page
renders without error, the Overview KPIs equal direct SQL on those files, and the pipeline wrote one
job_summary file per jobs file equal to the summary of its jobs."""

import pyarrow.parquet as pq
import pytest

from slurm_assets.sacct.summary import job_summary
from slurm_assets.storage import paths

from slurm_assets_tests.streamlit_app.helpers import metrics
from slurm_assets_tests.streamlit_app.views.test_empty import PAGES


def test_every_page_renders(pipeline_warehouse, open_app):
    at = open_app(pipeline_warehouse, range="all")
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.dataframe or at.metric, page


@pytest.mark.parametrize("grain", ["day", "month"])
def test_overview_kpis_equal_sql(pipeline_warehouse, open_app, grain):
    wh = pipeline_warehouse
    lo, hi = wh.sql(
        "SELECT min(d), max(d) FROM (SELECT date AS d FROM usage_daily UNION ALL SELECT date FROM drops)"
    ).iloc[0]
    at = open_app(wh, "overview", range="all", grain=grain)
    row = wh.sql(
        """SELECT (SELECT count(*) FROM jobs WHERE end_date BETWEEN $1 AND $2) AS jobs,
                  (SELECT sum(cpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2) AS cpu,
                  (SELECT sum(gpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2) AS gpu""",
        [lo, hi],
    ).iloc[0]
    assert row.jobs > 0
    shown = metrics(at)
    assert shown["Jobs"] == f"{row.jobs:,.0f}"
    assert shown["CPU-hours"] in roundings(row.cpu) and shown["GPU-hours"] in roundings(row.gpu)


def roundings(value: float) -> set[str]:
    """How ``value`` is shown, allowing for float summation order only: two sums of the same doubles in
    another order differ in the last bits, which flips the rounding of a value at .x5 (seen: 23,129.45)."""
    eps = abs(value) * 1e-12
    return {f"{value - eps:,.1f}", f"{value:,.1f}", f"{value + eps:,.1f}"}


def test_pipeline_writes_job_summary_next_to_jobs(pipeline_warehouse):
    jobs_dir = paths.table_dir(pipeline_warehouse.root, "jobs")
    summary_dir = paths.table_dir(pipeline_warehouse.root, "job_summary")
    jobs_files = sorted(p.relative_to(jobs_dir) for p in jobs_dir.rglob("*.parquet"))
    assert jobs_files and jobs_files == sorted(p.relative_to(summary_dir) for p in summary_dir.rglob("*.parquet"))
    for rel in jobs_files:
        assert pq.read_table(summary_dir / rel).to_pylist() == job_summary(pq.read_table(jobs_dir / rel)).to_pylist()


def test_demo_associations_give_the_dashboard_its_roles(pipeline_warehouse):
    """`make demo`'s data path (stand-in sacctmgr -> agent drop -> pipeline) fills associations: every user who
    ran a job is associated with the account it charged, and a PI coordinates their account and its
    sub-accounts (the scope SQL of the dashboard)."""
    from slurm_assets.demo import catalog
    from streamlit_app.data.scope import COORDINATED_SQL

    wh = pipeline_warehouse
    missing = wh.sql("""SELECT DISTINCT j.cluster, j."user", j.account FROM jobs j
                        ANTI JOIN (SELECT * FROM associations WHERE kind = 'user') a
                        ON a.cluster = j.cluster AND a."user" = j."user" AND a.account = j.account""")
    assert wh.one("SELECT count(DISTINCT cluster) FROM associations") == 2 and missing.empty, missing
    coords = wh.sql("SELECT DISTINCT account, \"user\" FROM associations WHERE kind = 'coordinator'")
    assert set(coords.itertuples(index=False, name=None)) == set(catalog.COORDINATORS.items())
    pi = catalog.COORDINATORS["physics"]
    pairs = set(wh.sql(COORDINATED_SQL, [pi]).itertuples(index=False, name=None))
    assert pairs == {(c, a) for c in ("alpha", "beta") for a in ("physics", "astro")}
