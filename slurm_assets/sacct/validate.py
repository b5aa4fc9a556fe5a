"""Typing and validation of sacct rows, as DuckDB SQL over the whole drop (one pass, no row loop).

``typed_sql`` turns the field strings of every row into typed values and a
``syntax_error`` column: NULL, or ``[reason, detail]`` for the first unreadable field
(``bad_job_id``, ``bad_time``, ``bad_number``, ``unknown_state``), and ``wrong_cluster``:
``cluster_mismatch`` when the row's ``Cluster`` is not the drop's (the parser puts
it before ``syntax_error``: another cluster's row is never filed here, whatever else it holds). ``job_checks_sql``
adds ``semantic_error`` for job rows that read well but cannot be right
(``missing_job_id_raw``, ``missing_submit_time``, ``missing_alloc_cpus``,
``negative_elapsed``, ``out_of_range``, ``end_before_start``, ``end_before_submit``,
``missing_end_time``); ``step_range_sql`` the same for step rows. ``out_of_range``:
a number outside the physical ranges of ``limits.py`` (the receiver's too) (AllocCPUS 10^20, gres/gpu=10^20,
a 100-year Elapsed), so no sum over the kept rows can overflow 64 bits. Both reasons
are stable codes; details name the field and the value. A validator reports, it never
raises: the parser quarantines.
"""

from slurm_assets.sacct import limits, tres, units
from slurm_assets.sacct.fields import ACTIVE_STATES, FINISHED_STATES, INPUT_FIELDS

# JobID as printed: job, array task or pending array range, het component, then an optional step.
JOBID_RE = r"^(\d+)(?:_(\d+|\[[^\]]*\]))?(?:\+(\d+))?(?:\.(.+))?$"
JOBIDRAW_RE = r"^(\d+)(?:\.(.+))?$"

# Text fields that go straight to the output (taken back by row id, never through SQL).
TEXT_FIELDS = ("JobName", "User", "Account", "Partition", "QOS", "ExitCode", "NodeList")
# Integer fields the parser does not use, checked only on repair candidates to rule out wrong splits.
CANDIDATE_INT_FIELDS = ("NTasks", "UID", "GID", "ReqCPUS", "ReqNodes", "Priority", "CPUTimeRAW", "ConsumedEnergyRaw")

# Fields checked for readability: field -> (kind, checked on step rows too).
_CHECKS = {
    "Submit": ("ts", False), "Eligible": ("ts", False), "Start": ("ts", True), "End": ("ts", True),
    "ElapsedRaw": ("int", False), "Elapsed": ("dur", False), "Timelimit": ("dur", False),
    "TimelimitRaw": ("int", False), "TotalCPU": ("dur", True), "NNodes": ("int", False),
    "AllocNodes": ("int", False), "AllocCPUS": ("int", False), "NCPUS": ("int", False),
    "ReqMem": ("mem", False), "MaxRSS": ("mem", True),
}  # fmt: skip
_KIND_WORDS = {
    "ts": "a time YYYY-MM-DDTHH:MM:SS (or Unknown/None)",
    "int": "an integer",
    "dur": "a duration [D-]HH:MM:SS or MM:SS.mmm",
    "mem": "a memory size like 1024K, 4000Mn or 1000Mc",
}


def sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def sql_fields(has) -> list[str]:
    """The input fields read through SQL (all but TEXT_FIELDS), present in the header."""
    return [f for f in (*INPUT_FIELDS, *CANDIDATE_INT_FIELDS) if f not in TEXT_FIELDS and has(f)]


def _present(col: str) -> str:
    """A value that is neither empty nor a sentinel."""
    return f"({col} IS NOT NULL AND {col} NOT IN ({sql_list(units.SENTINELS)}))"


def _syntax_checks(has) -> tuple[list[str], str]:
    """The ``WHEN ... THEN [reason, detail]`` cases of ``syntax_error`` (first match wins) and the
    ``wrong_cluster`` expression, for the fields the header has."""
    u = units
    present = _present
    syntax_error = []
    # Kept apart from syntax_error so that repairs of a long line still choose by readability (parse._choose).
    wrong_cluster = "CAST(NULL AS VARCHAR[])"
    if has("Cluster"):
        wrong_cluster = (
            f"CASE WHEN {present('c_cluster')} AND lower(trim(c_cluster)) <> lower(drop_cluster) THEN "
            "['cluster_mismatch', 'Cluster=' || c_cluster || ' is not this drop''s cluster ' || drop_cluster || "
            "': another cluster''s rows are never filed here; send them in a drop for that cluster'] END"
        )
    if has("JobID"):
        syntax_error.append(
            f"WHEN NOT regexp_matches(coalesce(c_jobid, ''), '{JOBID_RE}') THEN ['bad_job_id', "
            "'JobID=' || coalesce(c_jobid, '') || ' is not a sacct job id (5, 5_7, 5_[1-3], 123+0, 5.batch)']"
        )
    if has("JobIDRaw"):
        syntax_error.append(
            f"WHEN NOT regexp_matches(coalesce(c_jobidraw, ''), '{JOBIDRAW_RE}') THEN ['bad_job_id', "
            "'JobIDRaw=' || coalesce(c_jobidraw, '') || ' is not a raw job id (5 or 5.batch)']"
        )
    syntax_error.append(
        f"WHEN NOT is_step AND state NOT IN ({sql_list(FINISHED_STATES | ACTIVE_STATES)}) THEN ['unknown_state', "
        "'State=' || coalesce(c_state, '') || ' is not a Slurm job state']"
    )
    # Readability is tested on the text (a cheap full match), not on the typed column: a reference to a
    # typed column would repeat its whole expression in this CASE (DuckDB inlines the CTEs).
    unreadable = {
        "ts": lambda c: f"{u.sql_ts(c)} IS NULL",
        "int": lambda c: f"NOT regexp_matches({c}, '{u.INTEGER_RE}')",
        "dur": lambda c: f"(length({c}) > {u.MAX_NUMBER_LENGTH} OR NOT regexp_matches({c}, '{u.DURATION_RE}'))",
        "mem": lambda c: f"(length({c}) > {u.MAX_NUMBER_LENGTH} OR NOT regexp_matches({c}, '{u.MEMORY_RE}'))",
    }
    for field, (kind, steps_too) in _CHECKS.items():
        if not has(field):
            continue
        col = f"c_{field.lower()}"
        cond = f"{present(col)} AND {unreadable[kind](col)}"
        if field in ("Timelimit", "TimelimitRaw"):
            cond += f" AND {col} NOT IN ({sql_list(u.NO_LIMIT)})"
        if not steps_too:
            cond = f"NOT is_step AND {cond}"
        reason = "bad_time" if kind == "ts" else "bad_number"
        syntax_error.append(f"WHEN {cond} THEN ['{reason}', '{field}=' || {col} || ' is not {_KIND_WORDS[kind]}']")
    for field, (kind, _steps_too) in _CHECKS.items():
        if kind == "int" and has(field):  # past 18 digits: out of every range (and maybe of 64 bits)
            col = f"c_{field.lower()}"
            syntax_error.append(
                f"WHEN NOT is_step AND length({col}) > 18 AND regexp_matches({col}, '{u.INTEGER_RE}') "
                f"THEN ['out_of_range', '{field}=' || {col} || ' is outside the physical range']"
            )
    for field in CANDIDATE_INT_FIELDS:
        if has(field):
            col = f"c_{field.lower()}"
            syntax_error.append(
                f"WHEN repair_group IS NOT NULL AND {present(col)} AND NOT regexp_matches({col}, '{u.INTEGER_RE}') "
                f"THEN ['bad_number', '{field}=' || {col} || ' is not an integer']"
            )
    return syntax_error, wrong_cluster


def typed_sql(has) -> str:
    """SQL creating ``typed`` from ``src`` (columns row_id, drop_no, line_no, repair_group, prio, c_<field>); ``has(field)`` -> bool.

    ``drop_no`` numbers the drops of a batch and is passed through (job keys are per drop)."""
    u = units

    def v(field: str) -> str:
        return f"c_{field.lower()}" if has(field) else "CAST(NULL AS VARCHAR)"

    syntax_error, wrong_cluster = _syntax_checks(has)
    if has("JobIDRaw"):
        job_key = "split_part(c_jobidraw, '.', 1)"
        job_id_raw = f"TRY_CAST({job_key} AS BIGINT)"
    else:  # only a plain JobID is its own raw id; array/het components need JobIDRaw
        job_key = "split_part(c_jobid, '.', 1)"
        job_id_raw = f"CASE WHEN regexp_matches(c_jobid, '^\\d+(\\..*)?$') THEN TRY_CAST({job_key} AS BIGINT) END"
    id_col = "c_jobid" if has("JobID") else "c_jobidraw"

    def job_only(expr: str) -> str:
        return f"CASE WHEN NOT is_step THEN {expr} END"

    return f"""
    CREATE OR REPLACE TEMP TABLE typed AS
    WITH a AS (
        SELECT *,
            contains(coalesce({id_col}, ''), '.') AS is_step,
            upper(rtrim(split_part(coalesce({v("State")}, ''), ' ', 1), '+')) AS state
        FROM src
    ), p AS (
        SELECT *,
            {u.sql_duration_parts(v("TotalCPU"))} AS p_totalcpu,
            {u.sql_memory_parts(v("MaxRSS"))} AS p_maxrss,
            {u.sql_duration_parts(u.sql_tres_get(v("TRESUsageInTot"), "cpu"))} AS p_trescpu,
            {u.sql_memory_parts(u.sql_tres_get(v("TRESUsageInMax"), "mem"))} AS p_tresmem,
            {job_only(u.sql_duration_parts(v("Elapsed")))} AS p_elapsed,
            {job_only(u.sql_duration_parts(v("Timelimit")))} AS p_timelimit,
            {job_only(u.sql_memory_parts(v("ReqMem")))} AS p_reqmem
        FROM a
    ), t AS (
        SELECT *,
            {job_only(u.sql_ts(v("Submit")))} AS t_submit,
            {job_only(u.sql_ts(v("Eligible")))} AS t_eligible,
            {u.sql_ts(v("Start"))} AS t_start,
            {u.sql_ts(v("End"))} AS t_end,
            {job_only(u.sql_int(v("ElapsedRaw")))} AS t_elapsedraw,
            {u.sql_duration_seconds("p_elapsed")} AS t_elapsed,
            {u.sql_duration_seconds("p_timelimit")} AS t_timelimit,
            {job_only(u.sql_int(v("TimelimitRaw")))} AS t_timelimitraw,
            {u.sql_duration_seconds("p_totalcpu")} AS t_totalcpu,
            {job_only(u.sql_int(v("NNodes")))} AS t_nnodes,
            {job_only(u.sql_int(v("AllocNodes")))} AS t_allocnodes,
            {job_only(u.sql_int(v("AllocCPUS")))} AS t_alloccpus,
            {job_only(u.sql_int(v("NCPUS")))} AS t_ncpus,
            {_capped_bytes("p_reqmem")} AS t_reqmem,
            {u.sql_memory_scope("p_reqmem")} AS t_reqmem_scope,
            {_capped_bytes("p_maxrss")} AS t_maxrss,
            {u.sql_duration_seconds("p_trescpu")} AS t_trescpu,
            {_capped_bytes("p_tresmem")} AS t_tresmem
        FROM p
    )
    SELECT row_id, drop_no, line_no, repair_group, prio, is_step, state,
        t_submit, t_eligible, t_start, t_end, t_elapsedraw, t_elapsed, t_timelimit, t_timelimitraw,
        t_totalcpu, t_nnodes, t_allocnodes, t_alloccpus, t_ncpus, t_reqmem, t_reqmem_scope, t_maxrss,
        t_trescpu, t_tresmem,
        {job_only(f"regexp_extract(coalesce({v('JobID')}, ''), '{JOBID_RE}', ['job', 'task', 'het', 'step'])")}
            AS idp,
        {job_only(tres.sql_gpu_parts(v("AllocTRES"), v("AllocGRES")))} AS gp,
        CASE {" ".join(syntax_error)} END AS syntax_error,
        {wrong_cluster} AS wrong_cluster,
        hash(content) AS content_hash,
        {job_key} AS job_key,
        {job_id_raw} AS job_id_raw
    FROM t
    """


# TotalCPU of one job: all its CPUs busy for the longest duration.
CPU_TIME_S_MAX = limits.JOB_CPUS_MAX * limits.DURATION_S_MAX


def _capped_bytes(parts: str) -> str:
    """Bytes of a memory size; -1 past limits.JOB_MEM_BYTES_MAX (sizes are never negative: -1 means out of range)."""
    n = f"(TRY_CAST({parts}.n AS DOUBLE) * pow(1024, strpos(' KMGTPE', upper({parts}.u)) - 1))"
    return (
        f"CASE WHEN {parts}.n <> '' THEN CASE WHEN {n} <= {limits.JOB_MEM_BYTES_MAX} "
        f"THEN CAST(round({n}) AS BIGINT) ELSE -1 END END"
    )


def _over(expr: str, limit: int, what: str) -> str:
    return f"WHEN {expr} > {limit} THEN ['out_of_range', '{what} ' || CAST({expr} AS VARCHAR) || ' > {limit}']"


def step_range_sql() -> str:
    """``[reason, detail]`` or NULL for a readable step row of ``chosen`` whose numbers are out of range."""
    return f"""CASE
        WHEN t_maxrss < 0 OR t_tresmem < 0 THEN ['out_of_range',
            'MaxRSS (or TRESUsageInMax mem) is over {limits.JOB_MEM_BYTES_MAX} bytes']
        {_over("t_totalcpu", CPU_TIME_S_MAX, "TotalCPU (s)")}
        {_over("t_trescpu", CPU_TIME_S_MAX, "TRESUsageInTot cpu (s)")}
    END"""


def _job_range_checks() -> str:
    """The ``out_of_range`` WHENs of ``job_checks_sql`` (job rows; ``j`` columns)."""
    lim = limits
    req_mem = (
        "t_reqmem * CASE t_reqmem_scope WHEN 'n' THEN CAST(greatest(coalesce(nodes_n, 1), 1) AS DOUBLE) "
        "WHEN 'c' THEN CAST(coalesce(cpus_n, 1) AS DOUBLE) ELSE 1.0 END"
    )
    wait = "date_diff('second', coalesce(t_eligible, t_submit), t_start)"
    return "\n".join(
        [
            "WHEN cpus_n < 0 OR nodes_n < 0 THEN ['out_of_range', 'AllocCPUS ' || coalesce(CAST(cpus_n AS VARCHAR), '')"
            " || ' or NNodes ' || coalesce(CAST(nodes_n AS VARCHAR), '') || ' is negative']",
            _over("cpus_n", lim.JOB_CPUS_MAX, "AllocCPUS/NCPUS"),
            _over("nodes_n", lim.NODES_MAX, "NNodes/AllocNodes"),
            _over("elapsed_s", lim.DURATION_S_MAX, "elapsed (s)"),
            _over("coalesce(t_timelimit, t_timelimitraw * 60.0)", lim.DURATION_S_MAX, "Timelimit (s)"),
            _over(wait, lim.DURATION_S_MAX, "wait (s)"),
            _over(tres.sql_gpu_total("gp"), lim.JOB_GPUS_MAX, "GPUs (AllocTRES gres/gpu)"),
            "WHEN t_reqmem < 0 OR t_maxrss < 0 OR t_tresmem < 0 THEN ['out_of_range', "
            f"'ReqMem, MaxRSS or TRESUsageInMax mem is over {lim.JOB_MEM_BYTES_MAX} bytes']",
            _over(req_mem, lim.JOB_MEM_BYTES_MAX, "ReqMem x nodes or CPUs (bytes)"),
            _over("t_totalcpu", CPU_TIME_S_MAX, "TotalCPU (s)"),
            _over("t_trescpu", CPU_TIME_S_MAX, "TRESUsageInTot cpu (s)"),
        ]
    )


def job_checks_sql() -> str:
    """SQL creating ``job_rows`` (readable job rows of ``chosen``, derived durations, ``semantic_error``).

    One job key twice in a drop: identical rows (by every read field) are one row; rows that differ are
    all ``conflicting_job_rows``.
    """
    return f"""
    CREATE OR REPLACE TEMP TABLE job_rows AS
    WITH j AS (
        SELECT *,
            coalesce(t_elapsedraw, TRY_CAST(t_elapsed AS BIGINT),
                     CASE WHEN t_start IS NOT NULL AND t_end IS NOT NULL
                          THEN date_diff('second', t_start, t_end) END) AS elapsed_s,
            TRY_CAST(coalesce(t_timelimit, t_timelimitraw * 60.0) AS BIGINT) AS timelimit_s,
            coalesce(t_nnodes, t_allocnodes) AS nodes_n,
            coalesce(t_alloccpus, t_ncpus) AS cpus_n
        FROM chosen
        WHERE NOT is_step AND syntax_error IS NULL
    )
    , s AS (
    SELECT *,
        CASE
            WHEN job_id_raw IS NULL AND regexp_matches(job_key, '^[0-9]+$') THEN ['bad_job_id',
                'job id ' || job_key || ' does not fit in 64 bits']
            WHEN job_id_raw IS NULL THEN ['missing_job_id_raw', 'JobID ' || job_key ||
                ': array and het jobs need JobIDRaw to be keyed; upgrade the agent so that sacct --format has it']
            WHEN t_submit IS NULL THEN ['missing_submit_time',
                'Submit is empty or Unknown: a job row needs its submit time (part of the job key)']
            WHEN cpus_n IS NULL THEN ['missing_alloc_cpus', 'AllocCPUS/NCPUS empty: CPU-hours cannot be computed']
            WHEN elapsed_s < 0 THEN ['negative_elapsed', 'elapsed ' || elapsed_s || ' s < 0']
            {_job_range_checks()}
            WHEN t_end < t_start THEN ['end_before_start', 'End ' || t_end || ' < Start ' || t_start]
            WHEN t_end < t_submit THEN ['end_before_submit', 'End ' || t_end || ' < Submit ' || t_submit]
            WHEN state IN ({sql_list(FINISHED_STATES)}) AND t_end IS NULL THEN ['missing_end_time',
                'State ' || state || ' is final but End is Unknown']
        END AS sem0
    FROM j
    ), k AS (
    -- One job key twice in one drop: identical lines are one row; different content (two clusters' rows
    -- without a Cluster column, two collections concatenated) is a conflict, every version quarantined.
    SELECT *,
        count(*) FILTER (WHERE sem0 IS NULL) OVER w AS key_rows,
        min(content_hash) FILTER (WHERE sem0 IS NULL) OVER w <> max(content_hash) FILTER (WHERE sem0 IS NULL) OVER w
            AS conflict,
        row_number() OVER (PARTITION BY drop_no, job_id_raw, t_submit, content_hash, sem0 IS NULL ORDER BY row_id) AS copy_no
    FROM s
    WINDOW w AS (PARTITION BY drop_no, job_id_raw, t_submit)
    )
    SELECT * EXCLUDE (sem0, key_rows, conflict, copy_no),
        CASE WHEN sem0 IS NOT NULL THEN sem0
             WHEN conflict THEN ['conflicting_job_rows', 'JobIDRaw ' || job_id_raw || ' Submit ' || t_submit || ': '
                || key_rows || ' rows of this drop have this job key with different content; every version is '
                || 'quarantined, none is chosen: give each cluster its own drop (with the Cluster field) and '
                || 'one collection per drop']
        END AS semantic_error
    FROM k
    WHERE sem0 IS NOT NULL OR conflict OR copy_no = 1
    """
