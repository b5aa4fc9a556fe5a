"""Explorer: any metric against any dimension (incl. size, GPU, wall-time and wait buckets), over time or total."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

f = filters.current()
ui.header("Explorer", f)
dims = ("none",) + data.USAGE_DIMS + ("state", "gpu_type") + tuple(data.BUCKETS)
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
metric = controls.selectbox(
    c1, "Metric", list(data.METRICS), format_func=lambda k: data.METRICS[k].title, key="ex_metric", url="metric"
)
dim = controls.selectbox(
    c2, "Dimension", dims, format_func=data.DIM_LABELS.get, default="cluster", key="ex_dim", url="dim"
)
view = controls.radio(
    c3,
    "View",
    ("series", "total"),
    key="ex_view",
    url="view",
    format_func={"series": "Time series", "total": "Aggregate"}.get,
)
top_n = controls.number(c4, "Top N", min_value=1, max_value=100, default=10, key="ex_top_n", url="top")
m = data.METRICS[metric]
if dim == "gpu_type" and "gpu" not in m.num:
    st.info(f"{m.label} has no GPU type: only GPU-hours are split by GPU type. Choose GPU-hours as the metric.")
    st.stop()
source = data.explorer_source(metric, dim, f)
st.caption(
    {
        "usage": "Source: usage_daily (apportioned to the days jobs ran)",
        "gpu": "Source: gpu_usage_daily (GPU-hours by GPU type, apportioned to the days jobs ran; no state filter)",
    }.get(source, "Source: jobs (jobs that ended in the period, counted on their end day)")
)
grain = f.grain if view == "series" else None
df = data.breakdown(f, source, metric, dim, grain=grain, top_n=int(top_n))
label = data.DIM_LABELS[dim]
if df.empty or df["value"].isna().all():
    ui.empty(f"{m.label} by {label.lower()}")
else:
    df = df.rename(columns={"key": dim, "value": metric})
    title = f"{m.label} by {label}" if dim != "none" else m.label
    if grain:
        additive = m.den is None
        ui.time_chart(
            df,
            y=metric,
            color=None if dim == "none" else dim,
            color_label=label,
            title=f"{title} per {f.grain}",
            y_label=m.title,
            kind="bar" if additive else "line",
        )
    else:
        ui.bar_chart(
            df, x=dim, y=metric, title=title, x_label=label, y_label=m.title, color_dim=dim if dim != "none" else None
        )
with st.expander("Definitions"):
    st.markdown(data.metrics.__doc__.split("shown on the pages too:", 1)[1])
