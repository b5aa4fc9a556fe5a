"""Overview: the period's KPIs against the previous period of equal length, and usage over time."""

import streamlit as st

from streamlit_app import data, filters, ui

f = filters.current()
ui.header("Overview", f, "CPU/GPU-hours apportioned to the days jobs ran; jobs and waits by job end day")
now, before = data.kpis(f), data.kpis(f.previous())

if not now["jobs"] and not now["cpu_hours"] and not now["active_users"]:
    ui.empty("this period")
else:
    cols = st.columns(6)
    ui.kpi(cols[0], "Jobs", now["jobs"], before["jobs"], decimals=0, help="Jobs that ended in the period.")
    ui.kpi(cols[1], "CPU-hours", now["cpu_hours"], before["cpu_hours"], help="Allocated CPUs x elapsed / 3600.")
    ui.kpi(cols[2], "GPU-hours", now["gpu_hours"], before["gpu_hours"], help="Allocated GPUs x elapsed / 3600.")
    ui.kpi(
        cols[3],
        "Active users",
        now["active_users"],
        before["active_users"],
        decimals=0,
        help="Users with usage or a finished job in the period.",
    )
    ui.kpi(cols[4], "Active accounts", now["active_accounts"], before["active_accounts"], decimals=0)
    ui.kpi(
        cols[5],
        "Mean wait (h)",
        now["mean_wait_h"],
        before["mean_wait_h"],
        decimals=2,
        inverse=True,
        help="Mean of start - eligible over jobs that ended in the period and had started.",
    )
    site = None if f.scope.is_admin else data.site_kpis(f)  # cluster-wide, where the site allows it
    if site:
        st.caption(
            f"Cluster-wide in this period (all users): {ui.fmt_int(site['jobs'])} jobs, "
            f"{ui.fmt_num(site['cpu_hours'])} CPU-hours, {ui.fmt_num(site['gpu_hours'])} GPU-hours."
        )
    if f.states:
        st.caption("The state filter applies to jobs and waits only: usage_daily has no state column.")
    for metric in ("cpu_hours", "gpu_hours"):
        m = data.METRICS[metric]
        df = data.breakdown(f, "usage", metric, "cluster", grain=f.grain)
        if df["value"].fillna(0).abs().sum() == 0:
            continue
        ui.time_chart(
            df.rename(columns={"key": "cluster", "value": metric}),
            y=metric,
            color="cluster",
            color_label="Cluster",
            title=f"{m.label} per {f.grain} by cluster",
            y_label=m.title,
        )
