"""Data status: per cluster the last drop, the last day materialized, gaps in the daily series, quarantine."""

import datetime as dt

import streamlit as st

from slurm_assets import settings
from streamlit_app import data, filters, freshness, ui

f = filters.current()
ui.header("Data status", f, "cluster filter applies; gaps and freshness cover all days")
url = settings.dagster_ui_url()
st.markdown(f"Pipeline runs, backfills and asset checks: [open the Dagster UI]({url}) (`{url}`).")
st.caption(f"Warehouse: `{data.data_dir()}`")

status = data.cluster_status(f)
if status.empty:
    st.info(
        "No materialized data yet: no cluster has drops, usage or quarantined rows in the warehouse. "
        "Run the pipeline (`python -m slurm_assets process` or a Dagster backfill) after drops arrive."
    )
else:
    limit = settings.stale_after_h()
    status = freshness.with_age(status, dt.datetime.now(dt.UTC), limit)
    stale = status[status["fresh"] == "stale"]["cluster"].tolist()
    if stale:
        st.warning(
            f"Stale (no drop for more than {limit:g} h, `SLURM_USAGE_STALE_AFTER_H`): {', '.join(stale)}. "
            "Check the agent's timer on those clusters and the receiver's log."
        )
    shown = status.head(6)  # one tile per cluster for small sites; the table below has them all
    cols = st.columns(len(shown))
    for col, row in zip(cols, shown.to_dict(orient="records")):
        col.metric(
            f"{row['cluster']}: last day materialized",
            str(row["last_day_materialized"] or "none")[:10],
            help=f"Last drop collected at {row['last_drop_collected_at']}",
        )
        col.markdown(freshness.badge(row, limit))
    ui.table(
        ui.with_links(status, "cluster"),
        "Cluster status",
        link_text="cluster view",
        column_config={
            "fresh": st.column_config.TextColumn("Freshness"),
            "age_h": st.column_config.NumberColumn(
                "Age (h)", format="%,.1f", help="Hours since the cluster's last drop was collected"
            ),
        },
    )
    st.subheader("Gaps in the daily series")
    gaps = data.gaps(f)
    if gaps.empty:
        st.success("No gaps: every cluster has drops for every day between its first and last day.")
    else:
        ui.table(gaps, "Gaps")
whole = data.quarantined_drops(f)
if not whole.empty:  # none of their jobs are counted anywhere: say so before the line counts
    st.subheader("Drops quarantined whole")
    st.error(
        f"{len(whole)} drop(s) in this period could not be processed at all; their jobs are missing until "
        "the cluster sends a corrected copy (it is then processed on the next run)."
    )
    ui.table(whole, "Drops quarantined whole")
st.subheader("Quarantined rows")
summary = data.quarantine_summary(f)
if summary.empty:
    st.success("No quarantined rows in this period.")
else:
    ui.table(summary, "Quarantine summary")
    with st.expander("Latest quarantined rows"):
        ui.table(data.quarantine_rows(f), "Quarantined rows")
