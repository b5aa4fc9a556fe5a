"""Explorer: any metric against any dimension (incl. size, GPU, wall-time and wait buckets), over time or total."""

import streamlit as st

from streamlit_app import data, filters, ui

f = filters.current()
ui.header("Explorer", f)
dims = ("none",) + data.USAGE_DIMS + ("state",) + tuple(data.BUCKETS)
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
metric = c1.selectbox("Metric", list(data.METRICS), format_func=lambda k: data.METRICS[k].title,
                      key="ex_metric")
dim = c2.selectbox("Dimension", dims, format_func=data.DIM_LABELS.get, index=1, key="ex_dim")
view = c3.radio("View", ("Time series", "Aggregate"), key="ex_view")
top_n = c4.number_input("Top N", min_value=1, max_value=100, value=10, key="ex_top_n")
m = data.METRICS[metric]
source = data.explorer_source(metric, dim, f)
st.caption(
    "Source: usage_daily (apportioned to the days jobs ran)" if source == "usage"
    else "Source: jobs (jobs that ended in the period, counted on their end day)"
)
grain = f.grain if view == "Time series" else None
df = data.breakdown(f, source, metric, dim, grain=grain, top_n=int(top_n))
label = data.DIM_LABELS[dim]
if df.empty or df["value"].isna().all():
    ui.empty(f"{m.label} by {label.lower()}")
else:
    df = df.rename(columns={"key": dim, "value": metric})
    title = f"{m.label} by {label}" if dim != "none" else m.label
    if grain:
        additive = m.den is None
        ui.time_chart(df, y=metric, color=None if dim == "none" else dim, color_label=label,
                      title=f"{title} per {f.grain}", y_label=m.title, kind="bar" if additive else "line")
    else:
        ui.bar_chart(df, x=dim, y=metric, title=title, x_label=label, y_label=m.title,
                     color_dim=dim if dim != "none" else None)
with st.expander("Definitions"):
    st.markdown(data.metrics.__doc__.split("shown on the pages too:", 1)[1])
