"""Job: one job's record, times, efficiency (reached from a row of the Jobs table; not in the menu).

URL: ``job?job=<cluster>/<JobIDRaw>&day=<end day>`` (the day only narrows the
files read; not ``cluster=``, which is the sidebar's cluster filter). Steps are folded into their job by the pipeline (MaxRSS the largest
of the steps, TotalCPU their sum), so the warehouse has no per-step rows to show.
"""

import pandas as pd
import streamlit as st

from streamlit_app import data, filters, ui

cluster, _, job_id = st.query_params.get("job", "").partition("/")
day = st.query_params.get("day", "")
st.title(f"Job {job_id or '?'}" + (f" on {cluster}" if cluster else ""))
st.markdown(f"[Back to the jobs table]({filters.link('jobs')})")
if not cluster or not job_id:
    st.info("No job chosen: open a job from the Jobs page (its first column links here).")
    st.stop()
try:
    rows = data.job_record(filters.current(), cluster, job_id, day or None)
except ValueError as err:
    st.warning(f"This link does not name a valid job: {err}. Open the job from the Jobs page.")
    st.stop()
if rows.empty:
    st.info(
        f"No finished job {job_id} on {cluster} in the warehouse (still running, or not yet processed). "
        "The Queue page shows the latest running and pending snapshot."
    )
    st.stop()
if len(rows) > 1:
    st.caption(f"{len(rows)} records share this job id (requeued or resubmitted): the latest is shown first.")
for job in reversed(rows.to_dict(orient="records")):
    st.subheader(f"{job['name'] or '(no name)'} · {job['state']}")
    cols = st.columns(4)
    cols[0].metric("User / account", f"{job['user']} / {job['account']}")
    cols[1].metric("Partition / QoS", f"{job['partition']} / {job['qos']}")
    cols[2].metric(
        "CPUs x nodes",
        f"{ui.fmt_int(job['alloc_cpus'])} x {ui.fmt_int(job['nodes'])}",
        help=f"GPUs: {ui.fmt_int(job['alloc_gpus'])} {job['gpu_types'] or ''}",
    )
    cols[3].metric("Exit code", str(job["exit_code"] or "n/a"))
    times = pd.DataFrame(
        [
            {
                "submitted": job["submit_time"],
                "eligible": job["eligible_time"],
                "started": job["start_time"],
                "ended": job["end_time"],
            }
        ]
    )
    st.markdown("**Times (UTC)**")
    ui.dataframe(times)
    cols = st.columns(4)
    cols[0].metric("Wait (h)", ui.fmt_num(None if pd.isna(job["wait_s"]) else job["wait_s"] / 3600, 2))
    cols[1].metric(
        "Elapsed (h)",
        ui.fmt_num(None if pd.isna(job["elapsed_s"]) else job["elapsed_s"] / 3600, 2),
        help=f"Time limit: {ui.fmt_num(None if pd.isna(job['timelimit_s']) else job['timelimit_s'] / 3600, 2)} h",
    )
    cols[2].metric("CPU-hours", ui.fmt_num(job["cpu_hours"], 2))
    cols[3].metric("GPU-hours", ui.fmt_num(job["gpu_hours"], 2))
    st.markdown("**Efficiency**")
    cols = st.columns(3)
    pct = {k: None if pd.isna(job[k]) else job[k] * 100 for k in ("cpu_efficiency", "mem_efficiency")}
    cols[0].metric("CPU efficiency (%)", ui.fmt_num(pct["cpu_efficiency"], 1), help="TotalCPU / (CPUs x elapsed)")
    cols[1].metric("Memory efficiency (%)", ui.fmt_num(pct["mem_efficiency"], 1), help="MaxRSS / ReqMem")
    rss, req = job["max_rss_bytes"], job["req_mem_bytes"]
    cols[2].metric(
        "Max RSS / requested (GiB)",
        f"{ui.fmt_num(None if pd.isna(rss) else rss / 2**30, 2)} / "
        f"{ui.fmt_num(None if pd.isna(req) else req / 2**30, 2)}",
    )
    st.caption(
        "Steps: the pipeline folds each job's steps into the job (MaxRSS = largest step, TotalCPU = sum); "
        "per-step rows are not kept in the warehouse."
    )
    with st.expander("Full record"):
        ui.dataframe(pd.DataFrame([job]).T.reset_index().set_axis(["field", "value"], axis=1).astype(str))
