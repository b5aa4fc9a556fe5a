"""Queue: mean wait and share of long waits over time by partition, job size and duration distributions, state rates."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

f = filters.current()
ui.header("Queue", f, "jobs that ended in the period; wait = start - eligible")

now = data.running_now(f)
if not now.empty:
    st.subheader("Now (latest snapshot)")
    ui.table(now, "Running and pending now")

waits = data.wait_stats(f, by_partition=True)
if waits.empty:
    ui.empty("wait times")
else:
    stat = controls.radio(
        st,
        "Wait",
        ("mean_wait_h", "waited_1h_pct"),
        horizontal=True,
        key="q_wait",
        url="wait",
        format_func={"mean_wait_h": "Mean (hours)", "waited_1h_pct": "Jobs that waited >= 1 h (%)"}.get,
    )
    label = {"mean_wait_h": "Mean wait (hours)", "waited_1h_pct": "Jobs that waited >= 1 h (%)"}[stat]
    ui.time_chart(
        waits,
        y=stat,
        color="partition",
        color_label="Partition",
        kind="line",
        title=f"{label} per {f.grain} by partition (jobs that started)",
        y_label=label,
    )
    st.caption("Exact figures from the per-day job summary; the wait distribution is below.")

st.subheader("Distributions")
c1, c2 = st.columns(2)
for col, dim in zip((c1, c2, c1, c2, c1), ("wait_time", "job_size", "node_count", "gpu_count", "wall_time")):
    with col:
        dist = data.breakdown(f, "jobs", "jobs", dim).rename(columns={"key": dim, "value": "jobs"})
        label = data.DIM_LABELS[dim]
        if dist.empty:
            ui.empty(label.lower())
        else:
            ui.bar_chart(dist, x=dim, y="jobs", title=f"Jobs by {label.lower()}", x_label=label, y_label="Jobs")

st.subheader("States over time")
states = data.state_rates(f)
if states.empty:
    ui.empty("job states")
else:
    ui.time_chart(
        states,
        y="share_pct",
        color="state",
        color_label="State",
        kind="bar",
        title=f"Job states per {f.grain} (% of jobs that ended)",
        y_label="Share of jobs (%)",
    )
