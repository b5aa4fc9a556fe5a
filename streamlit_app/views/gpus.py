"""GPUs: GPU-hours by GPU type and partition over time, and the share of GPU jobs."""

import streamlit as st

from streamlit_app import data, filters, ui

f = filters.current()
ui.header("GPUs", f, "GPU-hours from gpu_usage_daily (apportioned); GPU jobs from the jobs that ended")
share = data.gpu_job_share(f)
cols = st.columns(4)
cols[0].metric("GPU jobs", ui.fmt_num(share["gpu_jobs"], 0), help="Jobs with at least one GPU allocated.")
cols[1].metric("Share of jobs (%)", ui.fmt_num(share["gpu_jobs_pct"], 1))
cols[2].metric("GPU jobs' CPU-hours", ui.fmt_num(share["gpu_jobs_cpu_hours"], 1))
cols[3].metric("Share of CPU-hours (%)", ui.fmt_num(share["gpu_jobs_cpu_pct"], 1))

by_type = data.breakdown(f, "gpu", "gpu_hours", "gpu_type", grain=f.grain)
if by_type.empty:
    ui.empty("GPU-hours")
else:
    ui.time_chart(
        by_type.rename(columns={"key": "gpu_type", "value": "gpu_hours"}),
        y="gpu_hours",
        color="gpu_type",
        color_label="GPU type",
        title=f"GPU-hours per {f.grain} by GPU type",
        y_label="GPU-hours",
    )
    by_part = data.breakdown(f, "gpu", "gpu_hours", "partition", grain=f.grain)
    ui.time_chart(
        by_part.rename(columns={"key": "partition", "value": "gpu_hours"}),
        y="gpu_hours",
        color="partition",
        color_label="Partition",
        title=f"GPU-hours per {f.grain} by partition",
        y_label="GPU-hours",
    )
    st.subheader("GPU-hours by partition and GPU type")
    ui.table(
        data.gpu_by_partition(f),
        "GPU-hours by partition and type",
        column_config={
            "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.1f"),
            "share_pct": st.column_config.NumberColumn("Share (%)", format="%.2f"),
        },
    )
