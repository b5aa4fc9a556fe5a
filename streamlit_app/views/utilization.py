"""Utilization: used CPU- and GPU-hours against the capacity the agents reported, per cluster/partition."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

f = filters.current()
ui.header(
    "Utilization",
    f,
    "used = usage_daily (apportioned), available = capacity_daily (the agent's inventory: "
    "nodes x 24 h; other days: slurmdbd's reported CPU/GPU time, whole cluster)",
)
by = controls.radio(
    st,
    "Per",
    ("partition", "cluster"),
    horizontal=True,
    key="util_by",
    url="per",
    format_func=lambda k: {"partition": "Cluster / partition", "cluster": "Cluster"}[k],
)
if by == "cluster":
    st.caption("Cluster capacity is the sum over partitions: a node in several partitions counts once per partition.")
df = data.utilization(f, by)
if df.empty:
    ui.empty("utilization")
else:
    series = df.copy()
    if by == "partition":  # slurmdbd's capacity (days without an inventory) is the whole cluster: partition ""
        part_label = series["partition"].fillna("").replace("", "(whole cluster)")
        series["series"] = series["cluster"] + " / " + part_label
    else:
        series["series"] = series["cluster"]
    for kind, unit in (("cpu", "CPU"), ("gpu", "GPU")):
        part = series[series[f"{kind}_hours_available"].fillna(0) > 0]
        if part.empty:
            st.caption(f"No {unit} capacity reported for this selection.")
            continue
        ui.time_chart(
            part[["period", "series", f"{kind}_hours_used", f"{kind}_hours_available", f"{kind}_util_pct"]],
            y=f"{kind}_util_pct",
            color="series",
            color_label="Cluster / partition",
            kind="line",
            title=f"{unit} utilization per {f.grain} (used / available {unit}-hours, %)",
            y_label=f"{unit} utilization (%)",
            color_dim="cluster" if by == "cluster" else "series",
            known=None if by == "cluster" else sorted(series["series"].unique()),
        )
    st.subheader("Used vs available")
    ui.table(
        df,
        "Utilization table",
        column_config={
            "cpu_util_pct": st.column_config.NumberColumn("CPU utilization (%)", format="%.1f"),
            "gpu_util_pct": st.column_config.NumberColumn("GPU utilization (%)", format="%.1f"),
        },
    )
