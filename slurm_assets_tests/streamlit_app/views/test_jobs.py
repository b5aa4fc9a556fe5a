"""Protects the Jobs page: search, count and pagination over all columns agree with direct SQL."""

from slurm_assets.sacct.fields import JOBS_SCHEMA
from slurm_assets_tests.streamlit_app.helpers import bounds, find_frame, period_params


def test_first_page_and_paging(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "jobs", **p)
    total = warehouse.one("SELECT count(*) FROM jobs WHERE end_date BETWEEN ? AND ?", bounds(p))
    assert any(f"{total:,} jobs match" in c.value for c in at.caption)
    page = find_frame(at, "job_id_raw", "end_time")
    assert list(page.columns) == ["view"] + JOBS_SCHEMA.names  # the first column links to the job page
    expected = warehouse.sql(
        "SELECT cluster, job_id_raw FROM jobs WHERE end_date BETWEEN ? AND ?"
        " ORDER BY end_time DESC, cluster, job_id_raw, submit_time LIMIT 100 OFFSET 100",
        bounds(p),
    )
    at.number_input(key="jobs_page").set_value(2).run()
    page2 = find_frame(at, "job_id_raw", "end_time")
    assert list(zip(page2.cluster, page2.job_id_raw)) == list(zip(expected.cluster, expected.job_id_raw))


def test_search(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "jobs", **p)
    at.text_input(key="jobs_search").input("U03").run()
    n = warehouse.one(
        """SELECT count(*) FROM jobs WHERE end_date BETWEEN ? AND ? AND (contains(lower(job_id), 'u03')
           OR contains(lower(name), 'u03') OR "user" = 'u03' OR contains(account, 'u03')
           OR contains(partition, 'u03') OR contains(coalesce(node_list, ''), 'u03'))""",
        bounds(p),
    )
    assert n > 0
    assert any(f"{n:,} jobs match" in c.value for c in at.caption)
    assert set(find_frame(at, "user", "job_id")["user"]) == {"u03"}
    at.text_input(key="jobs_search").input("no-such-job").run()
    assert any("No data for jobs matching 'no-such-job'" in i.value for i in at.info)
