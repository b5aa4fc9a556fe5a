"""Reports: the monthly CSV and PDF reports (Dagster asset ``monthly_reports``) the viewer may download."""

import streamlit as st

from streamlit_app import audit, controls, data, filters, ui

f = filters.current()
st.title("Monthly reports")
st.caption(
    "Per cluster and per account, from the daily tables (materialize `monthly_reports` in Dagster); "
    "a month not covered to its end is marked partial in the report."
)
reports = data.available_reports(f.scope)
if reports.empty:
    st.info(
        "No report you may see yet. Admins materialize the asset monthly_reports for the months wanted; "
        "coordinators see their accounts' reports."
    )
else:
    shown = reports.assign(account=reports["account"].fillna("(whole cluster)"))
    ui.table(shown[["month", "cluster", "account"]], "Monthly reports")  # the list, with its CSV
    rows = list(shown[["month", "cluster", "account"]].itertuples(index=False))
    labels = {"/".join(r): " · ".join(r) for r in rows}  # URL value "2026-03/alpha/acc-b" -> shown label
    chosen = controls.selectbox(st, "Report", list(labels), format_func=labels.get, key="rep_pick", url="report")
    pick = list(labels).index(chosen)
    row = reports.iloc[pick]
    for kind, mime in (("pdf", "application/pdf"), ("csv", "text/csv")):
        stem = row[kind].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        st.download_button(
            f"Download {kind.upper()}",
            data.report_bytes(row[kind]),
            file_name=f"{row['month']}-{row['cluster']}-{stem}.{kind}",
            mime=mime,
            key=f"report-{kind}",
            on_click=audit.export,
            args=(f"report {labels[chosen]} ({kind})", 1),
        )
