"""Users and accounts: the top consumers by CPU-hours, GPU-hours or jobs, with their efficiency."""

import streamlit as st

from streamlit_app import controls, data, filters, ui

f = filters.current()
ui.header("Users & accounts", f, "hours and jobs from usage_daily; efficiency from the jobs that ended")
c1, c2 = st.columns(2)
order = controls.selectbox(
    c1,
    "Rank by",
    ("cpu_hours", "gpu_hours", "jobs"),
    key="ua_order",
    url="rank",
    format_func=lambda k: data.METRICS[k].label,
)
limit = controls.number(c2, "Show top", min_value=5, max_value=500, default=25, step=5, key="ua_limit", url="top")
config = {
    "cpu_hours": st.column_config.NumberColumn("CPU-hours", format="%.1f"),
    "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.1f"),
    "jobs": st.column_config.NumberColumn("Jobs ended", format="%d"),
    "cpu_efficiency_pct": st.column_config.NumberColumn("CPU efficiency (%)", format="%.1f"),
    "mem_efficiency_pct": st.column_config.NumberColumn("Memory efficiency (%)", format="%.1f"),
}
for entity, title in (("user", "Top users"), ("account", "Top accounts")):
    st.subheader(title)
    df = data.top_entities(f, entity, order, int(limit))
    if df.empty:
        ui.empty(title.lower())
        continue
    ui.bar_chart(
        df,
        x=entity,
        y=order,
        title=f"{title} by {data.METRICS[order].label}",
        x_label=entity.capitalize(),
        y_label=data.METRICS[order].title,
        color_dim=entity,
    )
    ui.table(ui.with_links(df, entity), f"{title} table", column_config=config, link_text=f"{entity} view")
