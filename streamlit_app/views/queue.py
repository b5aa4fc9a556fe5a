"""Queue: wait percentiles over time by partition, job size and duration distributions, state rates."""

import streamlit as st

from streamlit_app import data, filters, ui

f = filters.current()
ui.header("Queue", f, "jobs that ended in the period; wait = start - eligible")

now = data.running_now(f)
if not now.empty:
    st.subheader("Now (latest snapshot)")
    ui.table(now, "Running and pending now")

waits = data.wait_percentiles(f, by_partition=True)
if waits.empty:
    ui.empty("wait times")
else:
    pct = st.radio("Percentile", ("wait_p50_h", "wait_p90_h", "wait_p99_h"), horizontal=True, key="q_pct",
                   format_func=lambda k: k.split("_")[1].upper())
    ui.time_chart(waits, y=pct, color="partition", color_label="Partition", kind="line",
                  title=f"Wait {pct.split('_')[1].upper()} per {f.grain} by partition (hours)", y_label="Wait (hours)")

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
    ui.time_chart(states, y="share_pct", color="state", color_label="State", kind="bar",
                  title=f"Job states per {f.grain} (% of jobs that ended)", y_label="Share of jobs (%)")
