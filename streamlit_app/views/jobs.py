"""Jobs: a searchable, paginated table of the individual jobs that ended in the period, all columns."""

import math
import urllib.parse

import streamlit as st

from streamlit_app import audit, controls, data, filters, ui

f = filters.current()
ui.header("Jobs", f, "jobs that ended in the period")
c1, c2, c3 = st.columns([3, 1, 1])
search = controls.text(c1, "Search job id, name, user, account, partition or node list", key="jobs_search", url="q")
sort = controls.selectbox(
    c2,
    "Sort by",
    list(data.SORTS),
    key="jobs_sort",
    url="sort",
    format_func=lambda k: {
        "end_time": "End time",
        "cpu_hours": "CPU-hours",
        "wait_s": "Wait",
        "submit_time": "Submit time",
    }[k],
)
page_size = controls.selectbox(c3, "Rows per page", (50, 100, 500), default=100, key="jobs_page_size", url="rows")
total = data.jobs_count(f, search)
if total == 0:
    ui.empty("jobs" + (f" matching '{search}'" if search else ""))
else:
    pages = max(math.ceil(total / page_size), 1)
    page = controls.number(
        st, f"Page (of {pages:,})", min_value=1, max_value=pages, default=1, key="jobs_page", url="p"
    )
    st.caption(f"{total:,} jobs match; showing {(page - 1) * page_size + 1:,} to {min(page * page_size, total):,}.")
    rows = data.jobs_page(f, search, page=int(page), page_size=int(page_size), sort=sort)
    rows.insert(
        0,
        ui.LINK,
        [  # each row opens its job page
            f"./job?{urllib.parse.urlencode({'job': f'{c}/{j}', 'day': str(d)[:10]}, safe='/')}"
            for c, j, d in zip(rows["cluster"], rows["job_id_raw"], rows["end_date"])
        ],
    )
    ui.table(rows, "Jobs page", link_text="job page")
    st.download_button(  # every matching job, written in batches when clicked (not only the page above)
        f"Download all {total:,} matching jobs (CSV)",
        lambda: data.jobs_csv(f, search, sort),
        file_name=f"jobs-all-{f.start.isoformat()}_{f.end.isoformat()}.csv",
        mime="text/csv",
        key="jobs-all-csv",
        on_click=audit.export,
        args=("all matching jobs", total),
    )
