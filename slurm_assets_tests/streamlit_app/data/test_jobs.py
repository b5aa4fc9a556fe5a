"""Protects the job lists read through job_summary's maxima: every sort, page and filter lists exactly the jobs
direct SQL over all ``jobs`` lists, while reading only the files that can hold them."""

import dataclasses

import pytest

from streamlit_app import data
from streamlit_app.data import jobs as jobs_data

FILTERS = {
    "all": {},
    "user": {"users": ("u03",)},
    "state": {"states": ("FAILED", "TIMEOUT")},
    "cluster+qos": {"clusters": ("beta",), "qos": ("high",)},
}
ORDER = {
    "end_time": "end_time DESC NULLS LAST",
    "cpu_hours": "cpu_hours DESC NULLS LAST",
    "wait_s": "wait_s DESC NULLS LAST",
    "submit_time": "submit_time DESC NULLS LAST",
}


def _filters(wh, **kw) -> data.Filters:
    return dataclasses.replace(data.Filters(start=wh.first, end=wh.last, scope=data.ADMIN_SCOPE), **kw)


def _cond(f: data.Filters) -> tuple[str, list]:
    conds, params = ["end_date BETWEEN ? AND ?"], [f.start, f.end]
    for col, values in (("cluster", f.clusters), ('"user"', f.users), ("qos", f.qos), ("state", f.states)):
        if values:
            conds.append(f"list_contains(?, {col})")
            params.append(list(values))
    return " AND ".join(conds), params


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("sort", list(data.SORTS))
def test_pages_equal_direct_sql(app_data, name, sort):
    f = _filters(app_data, **FILTERS[name])
    cond, params = _cond(f)
    total = app_data.one(f"SELECT count(*) FROM jobs WHERE {cond}", params)
    assert data.jobs_count(f) == total > 0
    for page, size in ((1, 50), (3, 20), (total // 20 + 1, 20)):
        got = data.jobs_page(f, page=page, page_size=size, sort=sort)
        want = app_data.sql(
            f"SELECT cluster, job_id_raw FROM jobs WHERE {cond} ORDER BY {ORDER[sort]}, cluster,"
            f" job_id_raw, submit_time LIMIT {size} OFFSET {(page - 1) * size}",
            params,
        )
        assert list(zip(got.cluster, got.job_id_raw)) == list(zip(want.cluster, want.job_id_raw)), (page, size)


@pytest.mark.parametrize("name", FILTERS)
def test_most_wasteful_jobs_equal_direct_sql(app_data, name):
    f = _filters(app_data, **FILTERS[name])
    cond, params = _cond(f)
    got = data.wasteful_jobs(f)
    want = app_data.sql(
        f"""SELECT cluster, job_id FROM jobs WHERE {cond} AND total_cpu_s IS NOT NULL
                            ORDER BY {jobs_data.WASTED_CPU_HOURS} DESC, cluster, job_id_raw LIMIT 25""",
        params,
    )
    assert len(want) > 0 and list(zip(got.cluster, got.job_id)) == list(zip(want.cluster, want.job_id))


def test_first_page_reads_only_the_days_that_hold_it(app_data):
    f = _filters(app_data)
    source = jobs_data._jobs_for_top(f, "end_time", 100)
    files = source.count("part-0.parquet")
    assert 0 < files < (app_data.last - app_data.first).days  # a few of the 3 x 60 files, newest days first
    assert jobs_data._jobs_for_top(f, "end_time", 10**9) == "jobs"  # more rows asked than exist: every file
