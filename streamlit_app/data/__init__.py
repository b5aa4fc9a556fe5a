"""Every query of the dashboard (pages render only): ``from streamlit_app import data``.

``core`` holds the connection, cache and filter SQL; ``metrics`` the metric x
dimension queries; ``jobs`` the job-level ones; ``status`` data freshness;
``scope``/``access`` who may see which rows (every query applies ``Filters.scope``).
"""

from streamlit_app.data.core import (  # noqa: F401
    GRAINS,
    NONE_LABEL,
    OTHER,
    Filters,
    data_dir,
    current_version,
    data_version,
    date_bounds,
    filter_options,
    query,
    scalar_row,
    where,
)
from streamlit_app.data.access import site_kpis, viewer_scope  # noqa: F401
from streamlit_app.data.jobs import (  # noqa: F401
    SORTS,
    efficiency_by,
    efficiency_summary,
    job_record,
    jobs_count,
    jobs_csv,
    jobs_page,
    running_now,
    state_rates,
    wait_stats,
    wasteful_jobs,
)
from streamlit_app.data.metrics import (  # noqa: F401
    BUCKETS,
    DIM_LABELS,
    METRICS,
    SOURCES,
    USAGE_DIMS,
    breakdown,
    explorer_source,
    gpu_by_partition,
    gpu_job_share,
    kpis,
    top_entities,
    usage_shares,
    utilization,
)
from streamlit_app.data.reports import available_reports, report_bytes  # noqa: F401
from streamlit_app.data.scope import ADMIN_SCOPE, NOBODY_SCOPE, Scope  # noqa: F401
from streamlit_app.data.status import (  # noqa: F401
    cluster_status,
    gaps,
    quarantine_rows,
    quarantine_summary,
    quarantined_drops,
)
