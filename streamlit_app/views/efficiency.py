"""Efficiency: CPU and memory efficiency by user and account, wasted CPU-hours, the worst offenders."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

DEFINITIONS = """
* **CPU efficiency** = TotalCPU / (allocated CPUs x elapsed), summed over the jobs whose TotalCPU is known
  (sacct `TotalCPU`, `AllocCPUS`, `Elapsed`); 100 % means every allocated core was busy the whole time.
* **Memory efficiency** = MaxRSS / requested memory (sacct `MaxRSS` max over steps, `ReqMem` for the job),
  summed over jobs with both known.
* **Wasted CPU-hours** = max(allocated CPUs x elapsed - TotalCPU, 0) / 3600 per job: CPU time reserved but idle.
* Group values are ratios of sums (big jobs weigh more), not means of per-job ratios.
"""

LABELS = {
    "wasted_cpu_hours": "Wasted CPU-hours",
    "cpu_efficiency_pct": "CPU efficiency (%)",
    "mem_efficiency_pct": "Memory efficiency (%)",
}

f = filters.current()
ui.header("Efficiency", f, "jobs that ended in the period")
with st.expander("Definitions", expanded=False):
    st.markdown(DEFINITIONS)
s = data.efficiency_summary(f)
if not s["jobs"]:
    ui.empty("efficiency")
else:
    cols = st.columns(4)
    cols[0].metric("CPU efficiency (%)", ui.fmt_num(s["cpu_efficiency_pct"], 1))
    cols[1].metric("Memory efficiency (%)", ui.fmt_num(s["mem_efficiency_pct"], 1))
    cols[2].metric("Wasted CPU-hours", ui.fmt_num(s["wasted_cpu_hours"], 1))
    cols[3].metric("Jobs with CPU data", ui.fmt_num(s["jobs_with_cpu_data"], 0), help=f"of {s['jobs']:,} jobs")
    c1, c2 = st.columns(2)
    min_jobs = controls.number(
        c1, "Minimum jobs per user/account", min_value=1, default=5, key="eff_min_jobs", url="min_jobs"
    )
    order = controls.selectbox(
        c2,
        "Worst by",
        ("wasted_cpu_hours", "cpu_efficiency_pct", "mem_efficiency_pct"),
        key="eff_order",
        url="worst",
        format_func=lambda k: {
            "wasted_cpu_hours": "Most wasted CPU-hours",
            "cpu_efficiency_pct": "Lowest CPU efficiency",
            "mem_efficiency_pct": "Lowest memory efficiency",
        }[k],
    )
    config = {
        "cpu_hours": st.column_config.NumberColumn("CPU-hours", format="%.1f"),
        "used_cpu_hours": st.column_config.NumberColumn("Used CPU-hours", format="%.1f"),
        "cpu_efficiency_pct": st.column_config.NumberColumn("CPU efficiency (%)", format="%.1f"),
        "mem_efficiency_pct": st.column_config.NumberColumn("Memory efficiency (%)", format="%.1f"),
        "wasted_cpu_hours": st.column_config.NumberColumn("Wasted CPU-hours", format="%.1f"),
    }
    for entity, title in (("user", "Users"), ("account", "Accounts")):
        st.subheader(f"{title}: worst offenders")
        df = data.efficiency_by(f, entity, min_jobs=int(min_jobs), order=order)
        if ui.table(
            ui.with_links(df, entity),
            f"Efficiency by {entity}",
            link_text=f"{entity} view",
            empty_what=f"{title.lower()} with at least {min_jobs} jobs",
            column_config=config,
        ):
            label = LABELS[order]
            ui.bar_chart(
                df.head(20),
                x=entity,
                y=order,
                title=f"{title}: {label} (top 20)",
                x_label=entity.capitalize(),
                y_label=label,
                color_dim=entity,
            )
    st.subheader("Jobs with the most wasted CPU-hours")
    ui.table(data.wasteful_jobs(f), "Most wasteful jobs", column_config=config)
