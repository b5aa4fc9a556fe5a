"""``sacct --parsable2`` text -> typed, validated job rows (DESIGN.md "Tables": ``jobs``).

Header-driven: the first non-empty line names the fields, in any order; unknown
fields are ignored and known optional ones missing from the header are NULL.
The whole drop goes through pyarrow's CSV reader (``read.py``) and one DuckDB
connection (typing and checks in ``validate.py``, step folding here); Python
loops only over lines with the wrong number of fields.

What happens to each line:

* job rows (``5``, ``5_7``, ``5_[1-3%2]``, ``123+0``) become one row each, keyed by
  (cluster, JobIDRaw, Submit); finished ones (a final state, see
  ``fields.FINISHED_STATES``, and End known; REQUEUED attempts included) go to
  ``jobs``, queued and running ones to ``unfinished``;
* step rows (``5.batch``, ``5_7.0``, ``123+0.extern``, ``5.interactive``) fold into
  their job (JobIDRaw ``<raw>.<step>``): max RSS over steps; CPU time is the job
  row's TotalCPU if non-zero, else the sum over steps (each step's TotalCPU, or
  its ``TRESUsageInTot`` ``cpu=`` where TotalCPU is 0, as newer Slurm prints).
  Requeued attempts share JobIDRaw: a step belongs to the attempt that started
  last before it. A step whose job row is not in the text is ignored (its job
  row is in another drop, or quarantined);
* a line with the wrong number of fields is repaired if exactly one reading
  makes every field valid (``read.repair_candidates``), else quarantined as
  ``bad_field_count``;
* a line that fails validation goes to ``quarantine`` with a stable reason code,
  a detail naming the field and value, the raw line and its 1-based line number;
* a text whose header lacks a required field is quarantined whole
  (``unusable_header``), one row per line.

Derived columns: ``elapsed_s`` = ElapsedRaw, else Elapsed, else End - Start;
``wait_s`` = Start - (Eligible or Submit), at least 0; CPU/GPU/node-hours =
count x elapsed / 3600; ``req_mem_bytes`` multiplies per-node (``n``) and
per-CPU (``c``) ReqMem out; ratios with a zero or unknown denominator are NULL.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.sacct import read, tres, units, validate
from slurm_assets.sacct.fields import (
    FINISHED_STATES,
    FREE_TEXT_FIELDS,
    INPUT_FIELDS,
    JOBS_SCHEMA,
    QUARANTINE_SCHEMA,
    REQUIRED_FIELD_GROUPS,
    ParsedDrop,
)

_QUARANTINE_ROWS = pa.schema(
    [("line_no", pa.int64()), ("reason", pa.string()), ("detail", pa.string()), ("raw_line", pa.string())]
)


def parse_sacct_text(text: bytes, *, cluster: str, drop_id: str, day: str) -> ParsedDrop:
    """Parse one drop's sacct text; never raises on bad content (bad lines are quarantined).

    ``day`` (YYYY-MM-DD) is the drop's landing day, written to quarantine rows.
    Non-UTF-8 bytes are replaced (U+FFFD) and parsing goes on.
    """
    return parse_sacct_texts([(text, cluster, drop_id, day)])[0]


def parse_sacct_texts(drops: list[tuple[bytes, str, str, str]], threads: int | None = None) -> list[ParsedDrop]:
    """Parse many drops ``(text, cluster, drop_id, day)`` at once; item i equals ``parse_sacct_text`` of drop i.

    Drops with the same header go through DuckDB together (one connection, one
    planning of each statement), every row tagged with its drop number, so steps
    fold only into a job of their own drop and line numbers stay per drop. The
    per-call cost of DuckDB dominates small daily drops: a batch of a year's
    drops costs about what one drop does, plus the rows. ``threads``: DuckDB's (``units.connect``).
    """
    results: list[ParsedDrop | None] = [None] * len(drops)
    by_header: dict[tuple[str, ...], list[tuple[int, _Prepared]]] = {}
    for i, (text, cluster, drop_id, day) in enumerate(drops):
        prepared = _prepare(text, cluster=cluster, drop_id=drop_id, day=day)
        if isinstance(prepared, ParsedDrop):
            results[i] = prepared
        else:
            by_header.setdefault(prepared.header.names, []).append((i, prepared))
    if by_header:
        con = units.connect(threads)
        try:
            for items in by_header.values():
                parsed = _parse_rows(con, [p for _, p in items])
                for (i, _), one in zip(items, parsed, strict=True):
                    results[i] = one
        finally:
            con.close()
    return results


@dataclass(frozen=True)
class _Prepared:
    """One drop read into field strings (pyarrow), ready for the SQL pass."""

    header: read.Header
    body: read.Body
    rows: pa.Table
    bad: list
    cluster: str
    drop_id: str
    day: str


def _prepare(text: bytes, *, cluster: str, drop_id: str, day: str) -> "_Prepared | ParsedDrop":
    """The drop's rows, or its final ParsedDrop when no SQL is needed (empty, unusable header, unreadable)."""
    split = read.split_header(read.clean_bytes(text))
    if split is None:
        return _empty()
    header, body = split
    problem = _header_problem(header)
    if problem is not None:
        return _whole_drop_quarantined(body, header, problem, "unusable_header", cluster, day, drop_id)
    if body.is_blank():  # header only: no job in the window
        return _empty()
    wanted = [f for f in (*INPUT_FIELDS, *validate.CANDIDATE_INT_FIELDS) if header.has(f)]
    try:
        rows, bad = read.read_fields(body, header, wanted)
    except pa.ArrowException as err:  # e.g. a line longer than the reader's block: keep the drop visible
        detail = f"unreadable text ({err}); re-collect this drop"
        return _whole_drop_quarantined(body, header, detail, "unreadable_text", cluster, day, drop_id)
    return _Prepared(header, body, rows, bad, cluster, drop_id, day)


def _header_problem(header: read.Header) -> str | None:
    known = {f.lower() for f in INPUT_FIELDS}
    if not any(n.lower() in known for n in header.names):
        return (
            f"the first line is not a sacct header (no known field name among {len(header.names)} fields); "
            "the agent must run sacct --parsable2 with its header line (not --noheader)"
        )
    for group in REQUIRED_FIELD_GROUPS:
        if not any(header.has(g) for g in group):
            return (
                f"header lacks {' or '.join(group)} ({len(header.names)} fields: {header.text[:300]}); "
                "upgrade the agent so that its sacct --format includes it"
            )
    return None


def _parse_rows(con, drops: list[_Prepared]) -> list[ParsedDrop]:
    """The SQL pass over drops sharing one header: rows of drop k carry ``drop_no`` = k and global row ids."""
    header = drops[0].header
    srcs, texts, per_drop = [], [], []
    cand: dict[int, tuple[int, read.Candidate]] = {}  # global row_id -> (global group, candidate)
    rid0 = group0 = 0
    for drop_no, d in enumerate(drops):
        candidates, groups = read.repair_candidates(d.bad, d.header)
        rows = d.rows
        wanted = [c[2:] for c in rows.column_names if c.startswith("c_")]
        if candidates:
            cols = {"line_no": pa.array([c.line_no for c in candidates], pa.int64())}
            for name in wanted:
                i = d.header.position[name]
                cols[f"c_{name}"] = pa.array([c.fields[i] for c in candidates], pa.string())
            rows = pa.concat_tables([rows, pa.table(cols, schema=rows.schema)])
        good = len(rows) - len(candidates)
        for k, c in enumerate(candidates):
            cand[rid0 + good + k] = (group0 + c.group, c)
        src = rows.select(["line_no"] + [f"c_{f.lower()}" for f in validate.sql_fields(header.has)])
        src = src.append_column("row_id", pa.array(np.arange(rid0, rid0 + len(rows), dtype=np.int64)))
        for name, values in (
            ("repair_group", [group0 + c.group for c in candidates]),
            ("prio", [c.prio for c in candidates]),
        ):
            src = src.append_column(name, pa.concat_arrays([pa.nulls(good, pa.int64()), pa.array(values, pa.int64())]))
        src = src.append_column("drop_no", pa.array(np.full(len(rows), drop_no, dtype=np.int64)))
        src = src.append_column("drop_cluster", pa.array([d.cluster] * len(rows), pa.string()))
        src = src.append_column("content", _content(rows))
        srcs.append(src)
        texts.append(rows)
        per_drop.append((groups, group0))
        rid0 += len(rows)
        group0 += len(groups)
    rows = pa.concat_tables(texts)
    con.register("src", pa.concat_tables(srcs))
    try:
        con.execute(validate.typed_sql(header.has))
        chosen = _choose(con, cand, header)
        con.execute(validate.job_checks_sql())
        con.execute(_FOLD_SQL)
        flagged = con.execute(
            "SELECT drop_no, row_id, line_no, syntax_error[1] AS reason, syntax_error[2] AS detail FROM chosen WHERE syntax_error IS NOT NULL "
            "UNION ALL SELECT drop_no, row_id, line_no, semantic_error[1], semantic_error[2] FROM job_rows WHERE semantic_error IS NOT NULL "
            "UNION ALL SELECT drop_no, row_id, line_no, range_error[1], range_error[2] FROM step_checks WHERE range_error IS NOT NULL"
        ).to_arrow_table()
        final = con.execute(_FINAL_SQL).to_arrow_table()
    finally:
        con.unregister("src")
    flagged_by_drop: dict[int, list[dict]] = {}
    for record in flagged.to_pylist():
        flagged_by_drop.setdefault(record["drop_no"], []).append(record)
    cand_raw = {row_id: c.raw for row_id, (_, c) in cand.items()}
    resolved = {cand[row_id][0] for row_id in chosen}
    dnos = final["drop_no"].to_numpy() if final.num_rows else np.array([], np.int64)
    bounds = np.searchsorted(dnos, np.arange(len(drops) + 1))  # final is ordered by drop_no
    out = []
    for drop_no, d in enumerate(drops):
        groups, base = per_drop[drop_no]
        quarantine = pa.concat_tables(
            [
                _flagged_rows(flagged_by_drop.get(drop_no, []), d.body, cand_raw),
                _unrepaired(
                    groups, {g - base for g in resolved if base <= g < base + len(groups)}, len(d.header.names)
                ),
            ]
        )
        mine = final.slice(bounds[drop_no], bounds[drop_no + 1] - bounds[drop_no])
        jobs = _to_jobs(mine, rows, d.cluster)
        finished = mine.column("finished")
        out.append(
            ParsedDrop(
                jobs=jobs.filter(finished),
                unfinished=jobs.filter(pc.invert(finished)),
                quarantine=_to_quarantine(quarantine, d.cluster, d.day, d.drop_id),
            )
        )
    return out


def _content(rows: pa.Table) -> pa.Array:
    """Every read field of each row joined into one string: rows of one job key compare by it (conflicts)."""
    cols = [rows[c] for c in rows.column_names if c.startswith("c_")]
    if not cols:
        return pa.nulls(len(rows), pa.string())
    return pc.binary_join_element_wise(*cols, "|", null_handling="replace", null_replacement="")


def _choose(con, cand: dict[int, tuple[int, read.Candidate]], header: read.Header) -> list[int]:
    """Create the ``chosen`` view: every good row, plus for each repaired line its one acceptable candidate.

    Acceptable: no unreadable field, and the drop's cluster in ``Cluster`` if any reading has it (else
    the line is another cluster's, quarantined as such). Among several, the one of the preferred free-text
    field (lowest prio) if they differ only in free text; otherwise none (quarantined).
    ``cand`` maps a candidate's row id to (its group, unique over the batch, and the candidate).
    """
    picked: list[int] = []
    if cand:
        ok = con.execute(
            "SELECT row_id, wrong_cluster IS NULL AS own FROM typed WHERE repair_group IS NOT NULL AND syntax_error IS NULL"
        )
        by_group: dict[int, list[tuple[int, bool]]] = {}
        for row_id, own in ok.fetchall():
            by_group.setdefault(cand[row_id][0], []).append((row_id, own))
        fixed = [f for f in INPUT_FIELDS if header.has(f) and f not in FREE_TEXT_FIELDS]
        for found in by_group.values():
            rids = [r for r, own in found if own]
            same = [header.index(f) for f in fixed]
            if not rids:  # every reading is another cluster's: which one does not matter, the line is quarantined
                rids, same = [r for r, _ in found], [header.index(f) for f in fixed if f != "Cluster"]
            readings = {tuple(cand[r][1].fields[i] for i in same) for r in rids}
            if len(readings) == 1:
                picked.append(min(rids, key=lambda r: cand[r][1].prio))
    con.register("picked", pa.table({"row_id": pa.array(picked, pa.int64())}))
    con.execute(
        # another cluster's row is quarantined as such whatever else is wrong with it (syntax_error of the reading)
        "CREATE OR REPLACE TEMP VIEW chosen AS SELECT * EXCLUDE (wrong_cluster) REPLACE (coalesce(wrong_cluster, syntax_error) AS syntax_error) FROM typed "
        "WHERE repair_group IS NULL OR row_id IN (SELECT row_id FROM picked)"
    )
    return picked


# Steps -> their job of the same drop (drop_no): max RSS, CPU time summed (job_rows.semantic_error IS NULL rows only);
# a step with numbers out of range (step_checks.range_error) is quarantined and not folded.
_FOLD_SQL = f"""
CREATE OR REPLACE TEMP VIEW good_jobs AS SELECT * FROM job_rows WHERE semantic_error IS NULL;

CREATE OR REPLACE TEMP TABLE step_checks AS
SELECT *, {validate.step_range_sql()} AS range_error FROM chosen WHERE is_step AND syntax_error IS NULL;

CREATE OR REPLACE TEMP TABLE steps AS
SELECT drop_no, row_id AS step_rid, job_key, t_start AS start_time,
    coalesce(t_maxrss, t_tresmem) AS rss,
    CASE WHEN t_totalcpu > 0 THEN t_totalcpu ELSE coalesce(t_trescpu, t_totalcpu) END AS cpu
FROM (SELECT DISTINCT ON (drop_no, content_hash) * FROM step_checks WHERE range_error IS NULL ORDER BY row_id);

CREATE OR REPLACE TEMP TABLE key_count AS SELECT drop_no, job_key, count(*) AS n FROM good_jobs GROUP BY drop_no, job_key;

-- A key with one job row takes all its steps; requeued attempts (sacct --duplicates) share
-- JobIDRaw, so their steps go to the attempt that started last before the step started; of attempts
-- with the same start, the one listed last (an ASOF JOIN picked one of them at random).
CREATE OR REPLACE TEMP TABLE step_agg AS
WITH sj AS (
    SELECT s.rss, s.cpu, j.row_id AS job_rid
    FROM steps s JOIN key_count k USING (drop_no, job_key) JOIN good_jobs j USING (drop_no, job_key)
    WHERE k.n = 1
    UNION ALL
    SELECT any_value(s.rss), any_value(s.cpu), arg_max(j.row_id, (j.t_start, j.row_id))
    FROM (SELECT s.* FROM steps s JOIN key_count k USING (drop_no, job_key) WHERE k.n > 1) s
    JOIN good_jobs j ON s.drop_no = j.drop_no AND s.job_key = j.job_key AND s.start_time >= j.t_start
    GROUP BY s.step_rid
)
SELECT job_rid, max(rss) AS step_rss, sum(cpu) AS step_cpu FROM sj GROUP BY job_rid;
"""

_FINAL_SQL = f"""
WITH g AS (
    SELECT j.*,
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
        {tres.sql_gpu_count("j.gp")} AS alloc_gpus,
        {tres.sql_gpu_types("j.gp")} AS gpu_types
    FROM good_jobs j LEFT JOIN step_agg a ON a.job_rid = j.row_id
)
SELECT
    drop_no,
    row_id,
    line_no,
    state IN ({validate.sql_list(FINISHED_STATES)}) AND t_end IS NOT NULL AS finished,
    job_id_raw,
    CASE WHEN idp.task <> '' THEN TRY_CAST(idp.job AS BIGINT) END AS array_job_id,
    TRY_CAST(nullif(idp.task, '') AS BIGINT) AS array_task_id,
    CASE WHEN idp.het <> '' THEN TRY_CAST(idp.job AS BIGINT) END AS het_job_id,
    TRY_CAST(nullif(idp.het, '') AS INTEGER) AS het_job_offset,
    state,
    t_submit AS submit_time,
    t_eligible AS eligible_time,
    t_start AS start_time,
    t_end AS end_time,
    CAST(t_end AS DATE) AS end_date,
    elapsed_s,
    timelimit_s,
    CASE WHEN t_start IS NOT NULL
         THEN greatest(date_diff('second', coalesce(t_eligible, t_submit), t_start), 0) END AS wait_s,
    TRY_CAST(nodes_n AS INTEGER) AS nodes,
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
FROM g
ORDER BY drop_no, line_no
"""


def _text(rows: pa.Table, field: str, row_id: pa.Array) -> pa.Array:
    col = f"c_{field.lower()}"
    if col not in rows.column_names:
        return pa.nulls(len(row_id), pa.string())
    return rows[col].take(row_id)


def _blank_to_null(values: pa.Array, *blanks: str) -> pa.Array:
    is_blank = pc.is_in(values, pa.array(list(blanks), pa.string()))
    return pc.if_else(pc.fill_null(is_blank, False), pa.scalar(None, pa.string()), values)


def _to_jobs(final: pa.Table, rows: pa.Table, cluster: str) -> pa.Table:
    """JOBS_SCHEMA table: SQL results plus the text fields taken from the read rows by row id."""
    row_id = final["row_id"].combine_chunks() if final.num_rows else pa.array([], pa.int64())
    job_id = _text(rows, "JobID", row_id)
    if "c_jobid" not in rows.column_names:
        job_id = _text(rows, "JobIDRaw", row_id)
    cols = {
        "cluster": pa.array([cluster] * len(row_id), pa.string()),
        "job_id": job_id,
        "name": _text(rows, "JobName", row_id),
        "user": _blank_to_null(_text(rows, "User", row_id), ""),
        "account": _blank_to_null(_text(rows, "Account", row_id), ""),
        "partition": _blank_to_null(_text(rows, "Partition", row_id), ""),
        "qos": _blank_to_null(_text(rows, "QOS", row_id), ""),
        "exit_code": _text(rows, "ExitCode", row_id),
        "node_list": _blank_to_null(_text(rows, "NodeList", row_id), "", "None assigned"),
    }
    table = pa.table({name: cols[name] if name in cols else final[name] for name in JOBS_SCHEMA.names})
    return table.cast(JOBS_SCHEMA)


def _flagged_rows(records: list[dict], body: read.Body, cand_raw: dict[int, str]) -> pa.Table:
    """Quarantine rows for one drop's rows that failed a check, each with its raw line (a repaired line's text)."""
    plain = [r["line_no"] for r in records if r["row_id"] not in cand_raw]
    texts = dict(zip(plain, body.lines(plain), strict=True)) if plain else {}
    out = [
        {
            "line_no": r["line_no"],
            "reason": r["reason"],
            "detail": r["detail"],
            "raw_line": cand_raw.get(r["row_id"], texts.get(r["line_no"])),
        }
        for r in records
    ]
    return pa.Table.from_pylist(out, schema=_QUARANTINE_ROWS)


def _unrepaired(groups: dict[int, list[tuple]], resolved: set, n: int) -> pa.Table:
    """Quarantine rows (bad_field_count) for every original line of a group that no candidate repaired."""
    out = [
        {
            "line_no": line_no,
            "reason": "bad_field_count",
            "detail": (
                f"line has {count} fields, the header has {n}; sacct -P does not escape '|' and no single "
                f"free-text field ({', '.join(FREE_TEXT_FIELDS[:4])}...) could hold the extra ones with every "
                "other field valid: fix the line or re-collect the job"
            ),
            "raw_line": raw,
        }
        for group, members in groups.items()
        if group not in resolved
        for line_no, raw, count in members
    ]
    return pa.Table.from_pylist(out, schema=_QUARANTINE_ROWS)


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


def _empty() -> ParsedDrop:
    return ParsedDrop(JOBS_SCHEMA.empty_table(), JOBS_SCHEMA.empty_table(), QUARANTINE_SCHEMA.empty_table())


def _whole_drop_quarantined(
    body: read.Body, header: read.Header, detail: str, reason: str, cluster, day, drop_id
) -> ParsedDrop:
    """Every line of an unusable drop quarantined (header included), so nothing is lost silently."""
    line_nos = body.nonblank_line_numbers().tolist()
    n = len(line_nos) + 1
    table = pa.table(
        {
            "line_no": pa.array([header.line_no] + line_nos, pa.int64()),
            "reason": pa.array([reason] * n, pa.string()),
            "detail": pa.array([detail] * n, pa.string()),
            "raw_line": pa.array([header.text] + body.lines(line_nos), pa.string()),
        }
    )
    return ParsedDrop(
        JOBS_SCHEMA.empty_table(), JOBS_SCHEMA.empty_table(), _to_quarantine(table, cluster, day, drop_id)
    )
