"""Usage: CPU- and GPU-hours over time stacked by a chosen dimension (top N + other), and share tables."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

f = filters.current()
ui.header("Usage", f, "from usage_daily: usage apportioned to the UTC days jobs ran")
c1, c2, c3 = st.columns(3)
dim = controls.selectbox(
    c1,
    "Stack by",
    data.USAGE_DIMS + ("state",),
    default="user",
    format_func=data.DIM_LABELS.get,
    key="usage_dim",
    url="stack",
)
metric = controls.selectbox(
    c2,
    "Metric",
    ("cpu_hours", "gpu_hours", "node_hours"),
    key="usage_metric",
    url="metric",
    format_func=lambda k: data.METRICS[k].label,
)
top_n = controls.number(c3, "Top N", min_value=1, max_value=50, default=8, step=1, key="usage_top_n", url="top")
m = data.METRICS[metric]
# usage_daily has no state: by state, usage is counted on the job's end day from jobs.
source = "jobs" if (dim == "state" or f.states) else "usage"
if source == "jobs":
    st.caption("By state (or with a state filter) the hours come from jobs and count on each job's end day.")

df = data.breakdown(f, source, metric, dim, grain=f.grain, top_n=int(top_n))
if df.empty or df["value"].fillna(0).abs().sum() == 0:
    ui.empty(f"{m.label} by {data.DIM_LABELS[dim].lower()}")
else:
    ui.time_chart(
        df.rename(columns={"key": dim, "value": metric}),
        y=metric,
        color=dim,
        color_label=data.DIM_LABELS[dim],
        title=f"{m.label} per {f.grain} by {data.DIM_LABELS[dim]}",
        y_label=m.title,
    )

st.subheader(f"Shares by {data.DIM_LABELS[dim].lower()}")
if dim in data.USAGE_DIMS and not f.states:
    shares = data.usage_shares(f, dim).rename(columns={"key": dim})
    ui.table(
        ui.with_links(shares, dim),
        f"Usage shares by {dim}",
        link_text=f"{dim} view",
        column_config={
            "cpu_hours": st.column_config.NumberColumn("CPU-hours", format="%.1f"),
            "cpu_share_pct": st.column_config.NumberColumn("CPU share (%)", format="%.2f"),
            "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.1f"),
            "gpu_share_pct": st.column_config.NumberColumn("GPU share (%)", format="%.2f"),
            "node_hours": st.column_config.NumberColumn("Node-hours", format="%.1f"),
            "jobs": st.column_config.NumberColumn("Jobs ended", format="%d"),
        },
    )
else:
    agg = data.breakdown(f, "jobs", metric, dim).rename(columns={"key": dim, "value": metric})
    if not agg.empty:
        agg["share_pct"] = agg[metric] * 100.0 / agg[metric].sum() if agg[metric].sum() else None
    ui.table(agg, f"Usage shares by {dim}")
