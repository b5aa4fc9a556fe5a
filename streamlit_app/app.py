"""SLURM usage dashboard: ``streamlit run streamlit_app/app.py`` (data from ``SLURM_USAGE_DATA_DIR``).

The entry point resolves the viewer (``auth``: login and scope; no data before it), draws the
shared sidebar filters and runs the selected page from ``views/``; pages only render, every
query lives in ``data`` and is limited to the viewer's scope there.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st

from slurm_assets.storage.fs import StorageError
from streamlit_app import auth, data, filters, freshness

PAGES = [
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/usage.py", "Usage", ":material/stacked_bar_chart:"),
    ("views/explorer.py", "Explorer", ":material/query_stats:"),
    ("views/utilization.py", "Utilization", ":material/speed:"),
    ("views/users_accounts.py", "Users & accounts", ":material/group:"),
    ("views/gpus.py", "GPUs", ":material/memory:"),
    ("views/queue.py", "Queue", ":material/hourglass_top:"),
    ("views/efficiency.py", "Efficiency", ":material/eco:"),
    ("views/jobs.py", "Jobs", ":material/table_rows:"),
    ("views/reports.py", "Reports", ":material/picture_as_pdf:"),
    ("views/data_status.py", "Data status", ":material/monitor_heart:"),
]

st.set_page_config(page_title="SLURM usage", page_icon=":material/dns:", layout="wide")
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0), url_path="root" if i == 0 else None)
    for i, (path, title, icon) in enumerate(PAGES)
]
# The Overview is served at the root and also at /overview (a link naming the page must not say "Page not
# found"; the root page reserves a pathname of its own, never served). st.navigation lists every page it
# gets, so the menu is drawn here, without the alias.
alias = st.Page(PAGES[0][0], title=PAGES[0][1], icon=PAGES[0][2], url_path="overview")
job = st.Page("views/job.py", title="Job", icon=":material/work:")  # reached from the Jobs table only
page = st.navigation(pages + [alias, job], position="hidden")
scope = auth.viewer()  # the login page (and a stop) for a browser that has not logged in: no menu, no data
try:
    data.current_version()  # lists the warehouse: an unreadable data root (bucket, keys, endpoint) stops here
except StorageError as err:
    st.error(f"The warehouse cannot be read: {err}", icon=":material/cloud_off:")
    st.stop()
for p in pages:
    st.sidebar.page_link(p)
auth.sidebar(scope)
filters.render_sidebar(scope)
freshness.notice()
page.run()
