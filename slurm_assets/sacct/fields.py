"""Column contracts of every table (DESIGN.md "Tables"; the catalogue of tables is ``catalog.py``): names carry
units, types are Arrow types.

Timestamps are UTC (``timestamp[us, tz=UTC]``), durations in seconds, memory in
bytes. Each Parquet file holds all of its columns (cluster and date included):
the hive-style folders are for layout and pruning, not the only copy of a value.
"""

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

JOBS_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("job_id", pa.string()),  # JobID as printed: 123, 5_7, 59+1
        ("job_id_raw", pa.int64()),  # JobIDRaw
        ("array_job_id", pa.int64()),
        ("array_task_id", pa.int64()),
        ("het_job_id", pa.int64()),
        ("het_job_offset", pa.int32()),
        ("name", pa.string()),
        ("user", pa.string()),
        ("account", pa.string()),
        ("partition", pa.string()),
        ("qos", pa.string()),
        ("state", pa.string()),  # normalized: "CANCELLED by 0" -> CANCELLED
        ("exit_code", pa.string()),
        ("submit_time", TS),
        ("eligible_time", TS),
        ("start_time", TS),
        ("end_time", TS),
        ("end_date", pa.date32()),  # UTC day of end_time: the Dagster partition
        ("elapsed_s", pa.int64()),
        ("timelimit_s", pa.int64()),  # NULL for UNLIMITED / Partition_Limit
        ("wait_s", pa.int64()),  # start - eligible (or submit)
        ("nodes", pa.int32()),
        ("node_list", pa.string()),
        ("alloc_cpus", pa.int32()),
        ("req_mem_bytes", pa.int64()),  # whole job, per-node/per-cpu requests multiplied out
        ("alloc_gpus", pa.int32()),
        ("gpu_types", pa.string()),  # "a100:2,v100:1"; "" for untyped or no GPUs
        ("max_rss_bytes", pa.int64()),  # max over steps
        ("total_cpu_s", pa.float64()),
        ("cpu_hours", pa.float64()),  # alloc_cpus * elapsed_s / 3600
        ("gpu_hours", pa.float64()),  # alloc_gpus * elapsed_s / 3600
        ("node_hours", pa.float64()),  # nodes * elapsed_s / 3600
        ("cpu_efficiency", pa.float64()),  # total_cpu_s / (alloc_cpus * elapsed_s); NULL if 0
        ("mem_efficiency", pa.float64()),  # max_rss_bytes / req_mem_bytes; NULL if 0 or unknown
    ]
)

# Latest snapshot of RUNNING/PENDING (and other not-yet-finished) jobs per cluster.
RUNNING_JOBS_SCHEMA = pa.schema(list(JOBS_SCHEMA) + [pa.field("snapshot_time", TS)])

USAGE_DAILY_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),  # the UTC day the usage happened in (apportioned)
        ("user", pa.string()),
        ("account", pa.string()),
        ("partition", pa.string()),
        ("qos", pa.string()),
        ("cpu_hours", pa.float64()),
        ("gpu_hours", pa.float64()),
        ("node_hours", pa.float64()),
        ("jobs_ended", pa.int64()),  # jobs whose end_date is this day
    ]
)

# GPU-hours by GPU type, same grain as usage_daily plus gpu_type ("" = untyped).
GPU_USAGE_DAILY_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),
        ("user", pa.string()),
        ("account", pa.string()),
        ("partition", pa.string()),
        ("qos", pa.string()),
        ("gpu_type", pa.string()),
        ("gpu_hours", pa.float64()),
    ]
)

CAPACITY_DAILY_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),
        ("partition", pa.string()),
        ("nodes", pa.int32()),
        ("cpus", pa.int64()),
        ("mem_bytes", pa.int64()),
        ("gpus", pa.int64()),
        ("gpu_types", pa.string()),  # "a100:2,v100:2"
        ("cpu_hours_available", pa.float64()),  # inventory: cpus * 24; slurmdbd: reported CPU-seconds / 3600
        ("gpu_hours_available", pa.float64()),
        ("source", pa.string()),  # "inventory" (the agent's scontrol snapshot) or "slurmdbd" (sreport, events)
        # slurmdbd only (sreport -t seconds cluster utilization of the day; NULL for inventory rows):
        *(
            (f"{tres}_seconds_{part}", pa.int64())
            for tres in ("cpu", "gpu")
            for part in ("allocated", "down", "planned_down", "idle", "planned", "reported")
        ),
        ("node_events", pa.int32()),  # slurmdbd node events (down, drain...) overlapping the day
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),  # partition day of the drop
        ("drop_id", pa.string()),
        ("line_no", pa.int64()),  # 1-based line in the drop text (header = 1)
        ("reason", pa.string()),  # stable code, e.g. "bad_field_count"
        ("detail", pa.string()),  # human message: what and how to fix
        ("raw_line", pa.string()),
    ]
)

# Catalogue of drops seen per partition, for freshness and gap views.
DROPS_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),
        ("drop_id", pa.string()),
        ("sha256", pa.string()),
        ("source", pa.string()),
        ("window_start", TS),
        ("window_end", TS),
        ("collected_at", TS),
        ("rows", pa.int64()),
        ("sacct_version", pa.string()),
        ("agent_version", pa.string()),
    ]
)

# Per end day: jobs and the sums of every job-level dashboard figure, by the page dimensions and fixed
# buckets (sacct/summary.py: bucket codes, definitions). Written with ``jobs``, one file per (cluster, day).
JOB_SUMMARY_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),  # the jobs' end day (= the jobs partition)
        ("user", pa.string()),
        ("account", pa.string()),
        ("partition", pa.string()),
        ("qos", pa.string()),
        ("state", pa.string()),
        ("size_bucket", pa.int8()),  # alloc_cpus: 0 = 1, 1 = 2-4, 2 = 5-16, 3 = 17-64, 4 = 65-256, 5 = 257+
        ("nodes_bucket", pa.int8()),  # nodes: 1, 2, 3-4, 5-16, 17+
        ("gpus_bucket", pa.int8()),  # alloc_gpus: 0, 1, 2, 3-4, 5-8, 9+
        ("wall_bucket", pa.int8()),  # elapsed: < 10 min, < 1 h, < 6 h, < 24 h, < 3 days, >= 3 days
        ("wait_bucket", pa.int8()),  # wait: < 1 min, < 10 min, < 1 h, < 6 h, < 24 h, >= 1 day; NULL = no wait_s
        ("jobs", pa.int64()),
        ("cpu_hours", pa.float64()),
        ("gpu_hours", pa.float64()),
        ("node_hours", pa.float64()),
        ("alloc_cpus_sum", pa.int64()),
        ("wait_s_sum", pa.int64()),  # over jobs with a wait (started): those with a wait_bucket
        ("cpu_known_jobs", pa.int64()),  # jobs with TotalCPU known and alloc_cpus x elapsed > 0
        ("cpu_used_s", pa.float64()),  # TotalCPU over those jobs
        ("cpu_alloc_s", pa.int64()),  # alloc_cpus x elapsed over those jobs
        ("cpu_used_other_s", pa.float64()),  # TotalCPU of the other jobs where known (NULL if none)
        ("mem_used_bytes", pa.int64()),  # MaxRSS over jobs with MaxRSS known and ReqMem > 0
        ("mem_req_bytes", pa.int64()),  # ReqMem over those jobs
        ("wasted_cpu_hours", pa.float64()),  # max(alloc_cpus x elapsed - TotalCPU, 0) / 3600 where TotalCPU known
        ("max_wasted_cpu_hours", pa.float64()),  # the largest single job's (for the most wasteful jobs list)
    ]
)

# Daily snapshot of Slurm's associations and coordinators per cluster (sacct/associations.py): the dashboard's roles.
ASSOCIATIONS_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("date", pa.date32()),  # the day of the drops that carried the snapshot
        ("kind", pa.string()),  # account (with its parent), user (association), coordinator
        ("account", pa.string()),
        ("parent", pa.string()),  # account rows: the parent account (NULL for root)
        ("user", pa.string()),  # user and coordinator rows
        ("collected_at", TS),  # when sacctmgr ran
    ]
)

# --- sacct input fields (the drop text's header names) ------------------------------------------
# Header-driven parsing: names are matched case-insensitively, in any order; fields not listed
# here are ignored, listed fields missing from the header are NULL.

# Each entry: one or more alternative header names; the drop is unusable without one of them.
REQUIRED_FIELD_GROUPS: tuple[tuple[str, ...], ...] = (
    ("JobIDRaw", "JobID"),
    ("State",),
    ("Submit",),
    ("Start",),
    ("End",),
    ("AllocCPUS", "NCPUS"),
)

# Free text that sacct -P prints without escaping '|' (a `--wrap 'a | b'` job has one extra
# field in SubmitLine; `--constraint 'a|b'` is valid Slurm); only these may absorb the extra
# fields of a too-long line. When several repairs read equally well (they differ in free text
# only), the field listed first wins.
FREE_TEXT_FIELDS: tuple[str, ...] = (
    "SubmitLine",
    "Constraints",
    "JobName",
    "Comment",
    "AdminComment",
    "SystemComment",
    "WorkDir",
)

# Every input field the parser reads, by kind (what the value looks like in sacct output).
INPUT_FIELDS: dict[str, str] = {
    "JobID": "jobid",  # 5, 5_7, 5_[1-3%2], 123+0, 5.batch, 5_7.0, 123+0.extern
    "JobIDRaw": "jobid",  # 5, 5.batch
    "JobName": "text",
    "User": "text",
    "Account": "text",
    "Partition": "text",
    "QOS": "text",
    "State": "state",  # "CANCELLED by 1000" on job rows
    "ExitCode": "text",
    "NodeList": "text",  # hostlist ranges kept as printed; "None assigned" -> NULL
    "Submit": "time",  # YYYY-MM-DDTHH:MM:SS, UTC (the agent runs sacct with TZ=UTC)
    "Eligible": "time",
    "Start": "time",
    "End": "time",
    "Elapsed": "duration",  # [D-]HH:MM:SS
    "ElapsedRaw": "int",  # seconds
    "Timelimit": "duration",  # also UNLIMITED, Partition_Limit
    "TimelimitRaw": "int",  # minutes
    "TotalCPU": "duration",  # MM:SS.mmm, HH:MM:SS, D-HH:MM:SS
    "NNodes": "int",
    "AllocNodes": "int",
    "AllocCPUS": "int",
    "NCPUS": "int",
    "ReqMem": "mem",  # 256M, 1G, older Slurm 4000Mn (per node) / 1000Mc (per CPU)
    "MaxRSS": "mem",  # 12376K, or bytes with --noconvert
    "AllocTRES": "tres",  # billing=4,cpu=4,gres/gpu:a100=2,gres/gpu=2,mem=2G,node=1
    "AllocGRES": "gres",  # Slurm <= 20.x: gpu:2, gpu:tesla:2(IDX:0-1)
    "TRESUsageInTot": "tres",  # cpu=00:01:02,...: CPU time where TotalCPU is 0 (newer Slurm)
    "TRESUsageInMax": "tres",  # mem=12376K,...: max RSS where MaxRSS is empty
    "Cluster": "text",  # must be the drop's cluster (any case) or empty, else the row is cluster_mismatch
}

# Job states (first word of State) after which a job never runs again. REQUEUED and RESIZING
# rows are earlier segments of a job that ran and used resources: they are finished rows.
FINISHED_STATES: frozenset[str] = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REQUEUED",
        "RESIZING",
        "REVOKED",
    }
)
# States of jobs that are queued or still running (the running_jobs snapshot).
ACTIVE_STATES: frozenset[str] = frozenset(
    {
        "PENDING",
        "RUNNING",
        "SUSPENDED",
        "REQUEUING",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "CONFIGURING",
        "COMPLETING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SPECIAL_EXIT",
        "RESV_DEL_HOLD",
        "POWER_UP_NODE",
        "UPDATE_DB",
        "LAUNCH_FAILED",
    }
)


@dataclass(frozen=True)
class ParsedDrop:
    """One drop's text parsed: finished jobs, not-yet-finished jobs, quarantined lines.

    ``jobs`` and ``unfinished`` follow JOBS_SCHEMA (steps folded into their job);
    ``quarantine`` follows QUARANTINE_SCHEMA.
    """

    jobs: pa.Table
    unfinished: pa.Table
    quarantine: pa.Table
