"""``sacct --parsable2`` text -> typed, validated job rows (DESIGN.md "Tables": ``jobs``).

Header-driven: the first non-empty line names the fields, in any order; unknown
fields are ignored and known optional ones missing from the header are NULL.
The whole drop runs through pyarrow (line and field splitting) and one DuckDB
connection (typing, validation, step folding); Python only loops over lines
that have the wrong number of fields, to build their repair candidates.

What happens to each line:

* job rows (``5``, ``5_7``, ``5_[1-3%2]``, ``123+0``) become one row each, keyed by
  (cluster, JobIDRaw, Submit); finished ones (End known and a final state, see
  ``fields.FINISHED_STATES``; REQUEUED attempts included) go to ``jobs``, queued and
  running ones to ``unfinished``;
* step rows (``5.batch``, ``5_7.0``, ``123+0.extern``, ``5.interactive``) fold into
  their job (JobIDRaw ``<raw>.<step>``): max RSS over steps, CPU time summed over
  steps where the job row has none; a step whose job row is not in the text is
  ignored (its job row is in another drop or quarantined);
* a line that fails validation goes to ``quarantine`` with a stable reason code,
  a detail naming the field and value, the raw line and its 1-based line number;
* a text whose header lacks a required field is quarantined whole
  (reason ``unusable_header``), one row per line.
"""

import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.sacct import tres, units
from slurm_assets.sacct.fields import (
    ACTIVE_STATES,
    FINISHED_STATES,
    FREE_TEXT_FIELDS,
    INPUT_FIELDS,
    JOBS_SCHEMA,
    QUARANTINE_SCHEMA,
    REQUIRED_FIELD_GROUPS,
    ParsedDrop,
)

# JobID as printed: job, array task or pending array range, het component, then an optional step.
JOBID_RE = r"^(\d{1,18})(?:_(\d{1,18}|\[[^\]]*\]))?(?:\+(\d{1,9}))?(?:\.(.+))?$"
JOBIDRAW_RE = r"^(\d{1,18})(?:\.(.+))?$"
# A repair never tries more than this many free-text candidates per line.
_MAX_EXTRA_LINES = 20


def parse_sacct_text(text: bytes, *, cluster: str, drop_id: str, day: str) -> ParsedDrop:
    """Parse one drop's sacct text; never raises on bad content (bad lines are quarantined).

    ``day`` (YYYY-MM-DD) is the drop's landing day, written to quarantine rows.
    Non-UTF-8 bytes are replaced (U+FFFD) and parsing goes on.
    """
    lines = _split_lines(text)
    nonempty = pc.greater(pc.binary_length(lines), 0)
    header_idx = pc.index(nonempty, True).as_py()
    if header_idx < 0:
        return _empty(cluster, day, drop_id)
    header = lines[header_idx].as_py()
    names = [n.strip().lstrip("\ufeff").strip() for n in header.split("|")]
    position = {}
    for i, name in enumerate(names):
        position.setdefault(name.lower(), i)

    line_no = pa.array(range(1, len(lines) + 1), pa.int64())
    data_mask = pc.and_(nonempty, pc.greater(line_no, header_idx + 1))
    data_mask = pc.and_(data_mask, pc.not_equal(lines, header))
    data = pa.table({"line_no": line_no, "raw": lines}).filter(data_mask)

    problem = _header_problem(names, position)
    if problem is not None:
        return _whole_drop_quarantined(data, header_idx + 1, header, problem, cluster, day, drop_id)

    con = units.connect()
    try:
        return _parse_rows(con, data, names, position, cluster=cluster, drop_id=drop_id, day=day)
    finally:
        con.close()


def _split_lines(text: bytes) -> pa.Array:
    """Bytes -> array of lines (``\\r\\n`` tolerated), decoding with replacement."""
    if isinstance(text, str):
        decoded = text
    else:
        decoded = bytes(text).decode("utf-8", errors="replace")
    if "\x00" in decoded:  # NUL never occurs in sacct output; keep it out of SQL strings
        decoded = decoded.replace("\x00", "\ufffd")
    lines = pc.split_pattern(pa.array([decoded], pa.large_string()), "\n").flatten()
    return pc.utf8_rtrim(lines, characters="\r")


def _header_problem(names: list[str], position: dict[str, int]) -> str | None:
    known = {f.lower() for f in INPUT_FIELDS}
    if not any(n.lower() in known for n in names):
        return (
            f"the first line is not a sacct header (no known field name among {len(names)} fields); "
            "the agent must run sacct --parsable2 with its header line (not --noheader)"
        )
    for group in REQUIRED_FIELD_GROUPS:
        if not any(g.lower() in position for g in group):
            wanted = " or ".join(group)
            return (
                f"header lacks {wanted} ({len(names)} fields: {'|'.join(names)[:300]}); "
                "upgrade the agent so that its sacct --format includes it"
            )
    return None


def _parse_rows(con, data: pa.Table, names, position, *, cluster, drop_id, day) -> ParsedDrop:
    n = len(names)
    lists = pc.split_pattern(data.column("raw"), "|").combine_chunks()
    counts = pc.list_value_length(lists)
    good = pc.equal(counts, n)
    good_lists = lists.filter(good)
    wanted = [f for f in (*INPUT_FIELDS, *_CANDIDATE_INT_FIELDS) if f.lower() in position]
    cols = {
        "line_no": data.column("line_no").filter(good),
        "grp": pa.nulls(len(good_lists), pa.int64()),
        "prio": pa.nulls(len(good_lists), pa.int64()),
    }
    for f in wanted:
        # Unused integer fields are only checked on repair candidates (NULL here).
        cols[f"c_{f.lower()}"] = (
            pa.nulls(len(good_lists), pa.large_string())
            if f in _CANDIDATE_INT_FIELDS and f not in INPUT_FIELDS
            else pc.list_element(good_lists, position[f.lower()])
        )
    rows = pa.table(cols)
    raws = data.filter(good)
    bad = pa.table({"line_no": data.column("line_no"), "raw": data.column("raw"), "n": counts}).filter(
        pc.invert(good)
    )
    candidates, groups = _repair_candidates(bad.to_pylist(), names, position)
    if candidates:
        cand = {
            "line_no": pa.array([c[0] for c in candidates], pa.int64()),
            "grp": pa.array([c[1] for c in candidates], pa.int64()),
            "prio": pa.array([c[2] for c in candidates], pa.int64()),
        }
        for f in wanted:
            cand[f"c_{f.lower()}"] = pa.array([c[4][position[f.lower()]] for c in candidates], pa.large_string())
        rows = pa.concat_tables([rows, pa.table(cand, schema=rows.schema)])
        raws = pa.concat_tables(
            [raws, pa.table({"line_no": cand["line_no"], "raw": pa.array([c[3] for c in candidates], pa.large_string())})]
        )
    rows = rows.append_column("rid", pa.array(range(len(rows)), pa.int64()))
    raws = raws.append_column("rid", pa.array(range(len(raws)), pa.int64()))
    con.register("src", rows)
    con.register("raws", raws)
    con.execute(_typed_sql(position))
    con.execute(_choose_sql(bool(candidates)))
    con.execute(_jobs_sql())
    resolved = set()
    if candidates:
        resolved = set(con.execute("SELECT grp FROM resolved").to_arrow_table().column("grp").to_pylist())
    quarantine = [
        con.execute(
            "WITH q AS (SELECT rid, syn[1] AS reason, syn[2] AS detail FROM chosen WHERE syn IS NOT NULL "
            "UNION ALL SELECT rid, sem[1], sem[2] FROM job_rows WHERE sem IS NOT NULL) "
            "SELECT raws.line_no, q.reason, q.detail, raws.raw AS raw_line FROM q JOIN raws USING (rid)"
        ).to_arrow_table()
    ]
    quarantine.append(_unrepaired(groups, resolved, n))
    jobs = con.execute("SELECT * FROM final WHERE finished ORDER BY line_no").to_arrow_table()
    unfinished = con.execute("SELECT * FROM final WHERE NOT finished ORDER BY line_no").to_arrow_table()
    return ParsedDrop(
        jobs=_to_jobs(jobs, cluster),
        unfinished=_to_jobs(unfinished, cluster),
        quarantine=_to_quarantine(
            pa.concat_tables([q.cast(quarantine[1].schema) for q in quarantine]), cluster, day, drop_id
        ),
    )


def _repair_candidates(bad: list[dict], names: list[str], position: dict[str, int]):
    """Candidate field lists for lines with the wrong field count (a loop over malformed lines only).

    Too many fields: one candidate per free-text field in the header that could
    hold the extra ``|`` (sacct -P does not escape it). Too few: consecutive short
    lines are joined with ``\\n`` (a JobName or SubmitLine with a newline) while
    they stay within the field count. Returns (candidates, groups): candidate rows
    (line_no, group, raw, fields) and per group the original (line_no, raw, n_fields) lines.
    """
    n = len(names)
    free = [(prio, position[f.lower()]) for prio, f in enumerate(FREE_TEXT_FIELDS) if f.lower() in position]
    candidates: list[tuple] = []
    groups: dict[int, tuple[list[tuple], bool]] = {}
    i = 0
    while i < len(bad):
        members = [bad[i]]
        total = bad[i]["n"]
        # A newline inside JobName/SubmitLine splits one record into consecutive short lines.
        while (
            total < n
            and len(members) < _MAX_EXTRA_LINES
            and i + len(members) < len(bad)
            and bad[i + len(members)]["n"] < n
            and bad[i + len(members)]["line_no"] == members[-1]["line_no"] + 1
        ):
            total += bad[i + len(members)]["n"] - 1
            members.append(bad[i + len(members)])
        group = len(groups)
        raw = "\n".join(m["raw"] for m in members)
        parts = raw.split("|") if total >= n else []
        before = len(candidates)
        if len(parts) == n:
            candidates.append((members[0]["line_no"], group, 0, raw, parts))
        elif len(parts) > n and len(parts) < 4 * n + 1000:
            extra = len(parts) - n
            for prio, k in free:
                fields = parts[:k] + ["|".join(parts[k : k + extra + 1])] + parts[k + extra + 1 :]
                candidates.append((members[0]["line_no"], group, prio, raw, fields))
        groups[group] = ([(m["line_no"], m["raw"], m["n"]) for m in members], len(candidates) > before)
        i += len(members)
    return candidates, groups


def _unrepaired(groups: dict[int, tuple[list[tuple], bool]], resolved: set, n: int) -> pa.Table:
    """Quarantine rows (bad_field_count) for every original line of a group that no candidate repaired."""
    out = []
    for group, (members, _) in groups.items():
        if group not in resolved:
            for line_no, raw, count in members:
                out.append(
                    {
                        "line_no": line_no,
                        "reason": "bad_field_count",
                        "detail": (
                            f"line has {count} fields, the header has {n}; sacct -P does not escape '|' and no "
                            "single free-text field (JobName, SubmitLine, WorkDir, Comment) could hold the extra "
                            "ones with the other fields valid: fix or re-collect this job"
                        ),
                        "raw_line": raw,
                    }
                )
    return pa.Table.from_pylist(
        out,
        schema=pa.schema(
            [("line_no", pa.int64()), ("reason", pa.string()), ("detail", pa.string()), ("raw_line", pa.large_string())]
        ),
    )


def _col(position: dict[str, int], name: str) -> str:
    i = position.get(name.lower())
    if i is None:
        return "CAST(NULL AS VARCHAR)"
    if INPUT_FIELDS[name] in ("text", "state", "jobid"):
        return f"trim(c_{name.lower()})"
    return units.sql_value(f"c_{name.lower()}")


def _sql_list(values) -> str:
    return ", ".join("'" + v + "'" for v in sorted(values))


# Fields checked for readability: field -> (kind, checked on step rows too).
_CHECKS = {
    "Submit": ("ts", False), "Eligible": ("ts", False), "Start": ("ts", True), "End": ("ts", True),
    "ElapsedRaw": ("int", False), "Elapsed": ("dur", False), "Timelimit": ("dur", False),
    "TimelimitRaw": ("int", False), "TotalCPU": ("dur", True), "NNodes": ("int", False),
    "AllocNodes": ("int", False), "AllocCPUS": ("int", False), "NCPUS": ("int", False),
    "ReqMem": ("mem", False), "MaxRSS": ("mem", True),
}
# Integer fields the parser does not use, checked only on repair candidates to rule out wrong splits.
_CANDIDATE_INT_FIELDS = ("NTasks", "UID", "GID", "ReqCPUS", "ReqNodes", "Priority", "CPUTimeRAW", "ConsumedEnergyRaw")
_KIND_WORDS = {
    "ts": "a time YYYY-MM-DDTHH:MM:SS (or Unknown/None)",
    "int": "an integer",
    "dur": "a duration [D-]HH:MM:SS or MM:SS.mmm",
    "mem": "a memory size like 1024K, 4000Mn or 1000Mc",
}


def _typed_sql(position: dict[str, int]) -> str:
    """SQL: every row typed once (``t_*`` columns), ``syn`` = [reason, detail] for its first unreadable field."""
    c = {name: _col(position, name) for name in INPUT_FIELDS}
    has_raw = "jobidraw" in position
    has_id = "jobid" in position
    known_states = _sql_list(FINISHED_STATES | ACTIVE_STATES)
    u = units
    syn_cases = []
    if has_id:
        syn_cases.append(
            f"WHEN NOT regexp_matches(coalesce(v_jobid, ''), '{JOBID_RE}') THEN ['bad_job_id', "
            "'JobID=' || coalesce(v_jobid, '(empty)') || ' is not a sacct job id (5, 5_7, 5_[1-3], 123+0, 5.batch)']"
        )
    if has_raw:
        syn_cases.append(
            f"WHEN NOT regexp_matches(coalesce(v_jobidraw, ''), '{JOBIDRAW_RE}') THEN ['bad_job_id', "
            "'JobIDRaw=' || coalesce(v_jobidraw, '(empty)') || ' is not a raw job id (5 or 5.batch)']"
        )
    syn_cases.append(
        f"WHEN NOT is_step AND state NOT IN ({known_states}) THEN ['unknown_state', "
        "'State=' || coalesce(v_state, '(empty)') || ' is not a Slurm job state']"
    )
    for field, (kind, steps_too) in _CHECKS.items():
        if field.lower() not in position:
            continue
        v, t = f"v_{field.lower()}", f"t_{field.lower()}"
        cond = f"{v} IS NOT NULL AND {t} IS NULL"
        if field in ("Timelimit", "TimelimitRaw"):
            cond += f" AND NOT {u.sql_no_limit(v)}"
        if not steps_too:
            cond = f"NOT is_step AND {cond}"
        reason = "bad_time" if kind == "ts" else "bad_number"
        syn_cases.append(f"WHEN {cond} THEN ['{reason}', '{field}=' || {v} || ' is not {_KIND_WORDS[kind]}']")
    # Candidates of a repaired line must also have readable numbers in fields the parser does not use.
    for field in _CANDIDATE_INT_FIELDS:
        if field.lower() in position:
            val = units.sql_value(f"c_{field.lower()}")
            syn_cases.append(
                f"WHEN grp IS NOT NULL AND {val} IS NOT NULL AND {units.sql_int(val)} IS NULL "
                f"THEN ['bad_number', '{field} is not an integer']"
            )
    id_expr = "v_jobid" if has_id else "v_jobidraw"
    if has_raw:
        job_key = "split_part(v_jobidraw, '.', 1)"
        job_id_raw = f"TRY_CAST({job_key} AS BIGINT)"
    else:  # only a plain JobID is its own raw id; array/het components need JobIDRaw
        job_key = "split_part(v_jobid, '.', 1)"
        job_id_raw = f"CASE WHEN regexp_matches(v_jobid, '^\\d+(\\..*)?$') THEN TRY_CAST({job_key} AS BIGINT) END"
    selects = ",\n        ".join(f"{expr} AS v_{name.lower()}" for name, expr in c.items())
    extra = [f"c_{f.lower()}" for f in _CANDIDATE_INT_FIELDS if f.lower() in position and f not in INPUT_FIELDS]
    selects += "".join(f", {x}" for x in extra)
    job_only = "CASE WHEN NOT is_step THEN {} END"
    return f"""
    CREATE OR REPLACE TEMP TABLE typed AS
    WITH v AS (
        SELECT rid, line_no, grp, prio,
        {selects}
        FROM src
    ), a AS MATERIALIZED (
        SELECT *,
            contains(coalesce({id_expr}, ''), '.') AS is_step,
            upper(rtrim(split_part(coalesce(v_state, ''), ' ', 1), '+')) AS state
        FROM v
    ), p AS MATERIALIZED (
        SELECT *,
            {u.sql_duration_parts('v_totalcpu')} AS p_totalcpu,
            {u.sql_memory_parts('v_maxrss')} AS p_maxrss,
            {u.sql_duration_parts(u.sql_tres_get('v_tresusageintot', 'cpu'))} AS p_trescpu,
            {u.sql_memory_parts(u.sql_tres_get('v_tresusageinmax', 'mem'))} AS p_tresmem,
            {job_only.format(u.sql_duration_parts('v_elapsed'))} AS p_elapsed,
            {job_only.format(u.sql_duration_parts('v_timelimit'))} AS p_timelimit,
            {job_only.format(u.sql_memory_parts('v_reqmem'))} AS p_reqmem
        FROM a
    ), t AS (
        SELECT *,
            {job_only.format(u.sql_ts('v_submit'))} AS t_submit,
            {job_only.format(u.sql_ts('v_eligible'))} AS t_eligible,
            {u.sql_ts('v_start')} AS t_start,
            {u.sql_ts('v_end')} AS t_end,
            {job_only.format(u.sql_int('v_elapsedraw'))} AS t_elapsedraw,
            {u.sql_duration_seconds('p_elapsed')} AS t_elapsed,
            {u.sql_duration_seconds('p_timelimit')} AS t_timelimit,
            {job_only.format(u.sql_int('v_timelimitraw'))} AS t_timelimitraw,
            {u.sql_duration_seconds('p_totalcpu')} AS t_totalcpu,
            {job_only.format(u.sql_int('v_nnodes'))} AS t_nnodes,
            {job_only.format(u.sql_int('v_allocnodes'))} AS t_allocnodes,
            {job_only.format(u.sql_int('v_alloccpus'))} AS t_alloccpus,
            {job_only.format(u.sql_int('v_ncpus'))} AS t_ncpus,
            {u.sql_memory_bytes('p_reqmem')} AS t_reqmem,
            {u.sql_memory_scope('p_reqmem')} AS t_reqmem_scope,
            {u.sql_memory_bytes('p_maxrss')} AS t_maxrss,
            {u.sql_duration_seconds('p_trescpu')} AS t_trescpu,
            {u.sql_memory_bytes('p_tresmem')} AS t_tresmem
        FROM p
    )
    SELECT * EXCLUDE ({"".join(x + ", " for x in extra)}p_totalcpu, p_maxrss, p_trescpu, p_tresmem, p_elapsed, p_timelimit, p_reqmem),
        CASE {' '.join(syn_cases)} END AS syn,
        {job_key} AS job_key,
        {job_id_raw} AS job_id_raw,
        coalesce(v_jobid, v_jobidraw) AS job_id_text
    FROM t
    """


def _choose_sql(with_candidates: bool) -> str:
    """SQL: ``chosen`` = every row, except that a repaired line keeps only one readable candidate.

    A line whose readable candidates differ only in free text (JobName, ...) takes the
    candidate of the preferred field (lowest ``prio``); otherwise it stays unresolved.
    """
    if not with_candidates:
        return "CREATE OR REPLACE TEMP VIEW chosen AS SELECT * FROM typed"
    used = [f"v_{n.lower()}" for n in INPUT_FIELDS if n not in FREE_TEXT_FIELDS]
    return f"""
    CREATE OR REPLACE TEMP TABLE resolved AS
    SELECT grp, arg_min(rid, prio) AS rid FROM typed
    WHERE grp IS NOT NULL AND syn IS NULL
    GROUP BY grp
    HAVING count(DISTINCT hash([{', '.join(used)}])) = 1;

    CREATE OR REPLACE TEMP VIEW chosen AS
    SELECT * FROM typed WHERE grp IS NULL
    UNION ALL
    SELECT * FROM typed WHERE rid IN (SELECT rid FROM resolved)
    """


def _jobs_sql() -> str:
    """SQL: job rows with ``sem`` errors (``job_rows``), steps folded in, derived columns (``final``)."""
    finished_states = _sql_list(FINISHED_STATES)
    return f"""
    CREATE OR REPLACE TEMP TABLE job_rows AS
    WITH j AS (
        SELECT *,
            t_submit AS submit_time,
            t_eligible AS eligible_time,
            t_start AS start_time,
            t_end AS end_time,
            coalesce(t_elapsedraw, CAST(t_elapsed AS BIGINT),
                     CASE WHEN t_start IS NOT NULL AND t_end IS NOT NULL
                          THEN date_diff('second', t_start, t_end) END) AS elapsed_s,
            TRY_CAST(coalesce(t_timelimit, t_timelimitraw * 60.0) AS BIGINT) AS timelimit_s,
            coalesce(t_nnodes, t_allocnodes) AS nodes_n,
            coalesce(t_alloccpus, t_ncpus) AS cpus_n
        FROM chosen
        WHERE NOT is_step AND syn IS NULL
    )
    SELECT *,
        CASE
            WHEN job_id_raw IS NULL THEN ['missing_job_id_raw', 'JobID=' || coalesce(v_jobid, '') ||
                ' needs JobIDRaw to be keyed (array and het jobs); upgrade the agent so that sacct --format has JobIDRaw']
            WHEN submit_time IS NULL THEN ['missing_submit_time',
                'Submit=' || coalesce(v_submit, '(empty)') || ': a job row needs its submit time (part of the job key)']
            WHEN cpus_n IS NULL THEN ['missing_alloc_cpus', 'AllocCPUS/NCPUS empty: CPU-hours cannot be computed']
            WHEN elapsed_s < 0 THEN ['negative_elapsed', 'elapsed ' || elapsed_s || ' s < 0 (Elapsed=' ||
                coalesce(v_elapsed, '') || ', ElapsedRaw=' || coalesce(v_elapsedraw, '') || ')']
            WHEN end_time < start_time THEN ['end_before_start', 'End=' || v_end || ' < Start=' || v_start]
            WHEN end_time < submit_time THEN ['end_before_submit', 'End=' || v_end || ' < Submit=' || v_submit]
            WHEN state IN ({finished_states}) AND end_time IS NULL THEN ['missing_end_time',
                'State=' || v_state || ' is final but End=' || coalesce(v_end, '(empty)') || ' is unknown']
        END AS sem
    FROM j;

    CREATE OR REPLACE TEMP VIEW good_jobs AS SELECT * FROM job_rows WHERE sem IS NULL;

    CREATE OR REPLACE TEMP TABLE steps AS
    SELECT rid, job_key, t_start AS start_time,
        coalesce(t_maxrss, t_tresmem) AS rss,
        CASE WHEN t_totalcpu > 0 THEN t_totalcpu ELSE coalesce(t_trescpu, t_totalcpu) END AS cpu
    FROM chosen WHERE is_step AND syn IS NULL;

    CREATE OR REPLACE TEMP TABLE key_count AS SELECT job_key, count(*) AS n FROM good_jobs GROUP BY job_key;

    -- A key with one job row takes all its steps; requeued attempts (sacct --duplicates) share
    -- JobIDRaw, so their steps go to the attempt that started last before the step started.
    CREATE OR REPLACE TEMP TABLE step_agg AS
    WITH sj AS (
        SELECT s.rss, s.cpu, j.rid AS job_rid
        FROM steps s JOIN key_count k USING (job_key) JOIN good_jobs j USING (job_key)
        WHERE k.n = 1
        UNION ALL
        SELECT s.rss, s.cpu, j.rid
        FROM (SELECT s.* FROM steps s JOIN key_count k USING (job_key) WHERE k.n > 1) s
        ASOF JOIN good_jobs j ON s.job_key = j.job_key AND s.start_time >= j.start_time
    )
    SELECT job_rid, max(rss) AS step_rss, sum(cpu) AS step_cpu FROM sj GROUP BY job_rid;

    CREATE OR REPLACE TEMP TABLE final AS
    WITH g AS (
        SELECT j.*,
            {tres.sql_gpu_parts('j.v_alloctres', 'j.v_allocgres')} AS gp,
            CASE WHEN j.t_totalcpu > 0 THEN j.t_totalcpu
                 WHEN j.t_trescpu > 0 THEN j.t_trescpu
                 ELSE coalesce(a.step_cpu, j.t_totalcpu, j.t_trescpu)
            END AS total_cpu_s,
            CASE WHEN coalesce(j.t_maxrss, j.t_tresmem) IS NULL THEN a.step_rss
                 ELSE greatest(coalesce(j.t_maxrss, j.t_tresmem), coalesce(a.step_rss, 0))
            END AS max_rss_bytes,
            TRY_CAST(CASE j.t_reqmem_scope
                WHEN 'n' THEN j.t_reqmem * CAST(greatest(coalesce(j.nodes_n, 1), 1) AS DOUBLE)
                WHEN 'c' THEN j.t_reqmem * CAST(j.cpus_n AS DOUBLE)
                ELSE j.t_reqmem END AS BIGINT) AS req_mem_bytes,
            regexp_extract(coalesce(j.v_jobid, ''), '{JOBID_RE}', ['job', 'task', 'het', 'step']) AS idp
        FROM good_jobs j LEFT JOIN step_agg a ON a.job_rid = j.rid
    ), h AS (
        SELECT *, {tres.sql_gpu_count('gp')} AS alloc_gpus, {tres.sql_gpu_types('gp')} AS gpu_types FROM g
    )
    SELECT
        line_no,
        state IN ({finished_states}) AND end_time IS NOT NULL AS finished,
        job_id_text AS job_id,
        job_id_raw,
        CASE WHEN idp.task <> '' THEN TRY_CAST(idp.job AS BIGINT) END AS array_job_id,
        TRY_CAST(nullif(idp.task, '') AS BIGINT) AS array_task_id,
        CASE WHEN idp.het <> '' THEN TRY_CAST(idp.job AS BIGINT) END AS het_job_id,
        TRY_CAST(nullif(idp.het, '') AS INTEGER) AS het_job_offset,
        v_jobname AS name,
        nullif(v_user, '') AS "user",
        nullif(v_account, '') AS account,
        nullif(v_partition, '') AS "partition",
        nullif(v_qos, '') AS qos,
        state,
        v_exitcode AS exit_code,
        submit_time, eligible_time, start_time, end_time,
        CAST(end_time AS DATE) AS end_date,
        elapsed_s,
        timelimit_s,
        CASE WHEN start_time IS NOT NULL
             THEN greatest(date_diff('second', coalesce(eligible_time, submit_time), start_time), 0) END AS wait_s,
        TRY_CAST(nodes_n AS INTEGER) AS nodes,
        CASE WHEN v_nodelist IN ('', 'None assigned') THEN NULL ELSE v_nodelist END AS node_list,
        TRY_CAST(cpus_n AS INTEGER) AS alloc_cpus,
        req_mem_bytes,
        alloc_gpus,
        gpu_types,
        max_rss_bytes,
        total_cpu_s,
        cpus_n * CAST(elapsed_s AS DOUBLE) / 3600 AS cpu_hours,
        alloc_gpus * CAST(elapsed_s AS DOUBLE) / 3600 AS gpu_hours,
        coalesce(nodes_n, 0) * CAST(elapsed_s AS DOUBLE) / 3600 AS node_hours,
        CASE WHEN cpus_n * CAST(elapsed_s AS DOUBLE) > 0
             THEN total_cpu_s / (cpus_n * CAST(elapsed_s AS DOUBLE)) END AS cpu_efficiency,
        CASE WHEN req_mem_bytes > 0 THEN max_rss_bytes / CAST(req_mem_bytes AS DOUBLE) END AS mem_efficiency
    FROM h
    """


def _to_jobs(table: pa.Table, cluster: str) -> pa.Table:
    table = table.append_column("cluster", pa.array([cluster] * len(table), pa.string()))
    return table.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)


def _to_quarantine(table: pa.Table, cluster: str, day: str, drop_id: str) -> pa.Table:
    table = table.sort_by("line_no")
    n = len(table)
    cols = {
        "cluster": pa.array([cluster] * n, pa.string()),
        "date": pc.cast(pa.array([day] * n, pa.string()), pa.date32()) if n else pa.array([], pa.date32()),
        "drop_id": pa.array([drop_id] * n, pa.string()),
        "line_no": table.column("line_no"),
        "reason": table.column("reason"),
        "detail": table.column("detail"),
        "raw_line": table.column("raw_line"),
    }
    return pa.table(cols).cast(QUARANTINE_SCHEMA)


def _empty(cluster: str, day: str, drop_id: str) -> ParsedDrop:
    return ParsedDrop(JOBS_SCHEMA.empty_table(), JOBS_SCHEMA.empty_table(), QUARANTINE_SCHEMA.empty_table())


def _whole_drop_quarantined(data, header_line_no, header, problem, cluster, day, drop_id) -> ParsedDrop:
    """Every line of an unusable drop quarantined (header included), so nothing is lost silently."""
    line_no = pa.concat_arrays([pa.array([header_line_no], pa.int64()), data.column("line_no").combine_chunks()])
    raw = pa.concat_arrays([pa.array([header], pa.large_string()), data.column("raw").combine_chunks()])
    n = len(line_no)
    table = pa.table(
        {
            "line_no": line_no,
            "reason": pa.array(["unusable_header"] * n, pa.string()),
            "detail": pa.array([problem] * n, pa.string()),
            "raw_line": raw,
        }
    )
    return ParsedDrop(
        JOBS_SCHEMA.empty_table(), JOBS_SCHEMA.empty_table(), _to_quarantine(table, cluster, day, drop_id)
    )
