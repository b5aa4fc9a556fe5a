"""sacct value formats -> typed values, as DuckDB SQL applied to whole columns.

sacct prints every value as text. The ``sql_*`` builders return SQL expressions
that turn a VARCHAR column into seconds, bytes, counts or UTC timestamps in one
vectorized pass. Conventions:

* ``sql_value`` first: trimmed text, NULL for empty and sentinel values
  (``Unknown``, ``None``, ``INVALID``); every other builder expects its output;
* a value that is present but unreadable also yields NULL; the parser tells the
  two apart (``value IS NOT NULL AND typed IS NULL``) and quarantines the row;
* durations and memory sizes are parsed in two steps: ``*_parts`` (one regex
  pass giving a struct, computed once per row in its own projection) and then
  the arithmetic on that struct (regex group extraction is the costly part);
* values longer than MAX_NUMBER_LENGTH characters do not parse, so no input overflows to
  infinity; integers past int64 are NULL.

The array helpers (``duration_seconds`` and friends) run the same SQL over a
pyarrow array: for tests and for callers outside the parser.
"""

import duckdb
import pyarrow as pa

# sacct's "no value" spellings for times and numbers.
SENTINELS = ("", "Unknown", "None", "INVALID", "N/A")
# Timelimit values that mean "no limit of the job's own" (NULL, not an error).
NO_LIMIT = ("UNLIMITED", "Partition_Limit", "NONE")

# [D-][HH:]MM:SS[.mmm]: Elapsed, Timelimit, TotalCPU/UserCPU/SystemCPU, TRES cpu= usage.
DURATION_RE = r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$"
# 12376K, 1.50G, 4000Mn (per node), 1000Mc (per CPU), 1073741824 (bytes).
MEMORY_RE = r"^(\d+(?:\.\d+)?)([KMGTPEkmgtpe]?)([nc]?)$"
INTEGER_RE = r"^-?\d+$"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_NUMBER_LENGTH = 40


def _sql_strings(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def sql_value(col: str) -> str:
    """Trimmed text of ``col``; NULL for empty and sentinel values."""
    return f"CASE WHEN trim({col}) IN ({_sql_strings(SENTINELS)}) THEN NULL ELSE trim({col}) END"


def sql_ts(col: str) -> str:
    """UTC timestamp (DuckDB TIMESTAMP, naive = UTC): sacct runs with TZ=UTC and prints no offset."""
    return f"try_strptime({col}, '{TIME_FORMAT}')"


def sql_int(col: str) -> str:
    """BIGINT of a decimal integer; NULL otherwise (or past int64)."""
    return f"CASE WHEN regexp_matches({col}, '{INTEGER_RE}') THEN TRY_CAST({col} AS BIGINT) END"


def sql_duration_parts(col: str) -> str:
    """Struct {d, h, m, s} of a duration; m = '' when it does not match."""
    return (
        f"CASE WHEN length({col}) <= {MAX_NUMBER_LENGTH} "
        f"THEN regexp_extract({col}, '{DURATION_RE}', ['d', 'h', 'm', 's']) END"
    )


def sql_duration_seconds(parts: str) -> str:
    """Seconds (DOUBLE) from a sql_duration_parts struct; NULL when it did not match."""
    return (
        f"CASE WHEN {parts}.m <> '' THEN "
        f"coalesce(TRY_CAST({parts}.d AS DOUBLE), 0) * 86400 "
        f"+ coalesce(TRY_CAST({parts}.h AS DOUBLE), 0) * 3600 "
        f"+ TRY_CAST({parts}.m AS DOUBLE) * 60 + TRY_CAST({parts}.s AS DOUBLE) END"
    )


def sql_memory_parts(col: str) -> str:
    """Struct {n, u, s} of a memory size (number, unit letter, per-node/per-CPU suffix); n = '' if no match."""
    return (
        f"CASE WHEN length({col}) <= {MAX_NUMBER_LENGTH} THEN regexp_extract({col}, '{MEMORY_RE}', ['n', 'u', 's']) END"
    )


def sql_memory_bytes(parts: str) -> str:
    """Bytes (BIGINT, units are powers of 1024 as in Slurm) from a sql_memory_parts struct; NULL if no match."""
    return (
        f"CASE WHEN {parts}.n <> '' THEN TRY_CAST(round(TRY_CAST({parts}.n AS DOUBLE) "
        f"* pow(1024, strpos(' KMGTPE', upper({parts}.u)) - 1)) AS BIGINT) END"
    )


def sql_memory_scope(parts: str) -> str:
    """'n' (per node), 'c' (per CPU) or '' from a sql_memory_parts struct; NULL if no match."""
    return f"CASE WHEN {parts}.n <> '' THEN {parts}.s END"


def sql_tres_get(col: str, key: str) -> str:
    """One key's value out of a TRES string (``cpu=00:01:02,mem=12376K,...``), or NULL."""
    return f"nullif(regexp_extract({col}, '(?:^|,){key}=([^,]*)', 1), '')"


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB in UTC (no file, no extensions) with ``threads`` threads (None: DuckDB's
    default, one per CPU). Runs side by side on the same CPUs pass fewer (pipeline/cpu_share.py): same
    results, less contention."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _apply(build, values: pa.Array | list) -> pa.Array:
    con = connect()
    try:
        con.register("v0", pa.table({"x": pa.array(values, pa.string())}))
        sql = f"SELECT {build('x')} AS y FROM (SELECT {sql_value('x')} AS x FROM v0)"
        return con.execute(sql).to_arrow_table().column("y").combine_chunks()
    finally:
        con.close()


def duration_seconds(values: pa.Array | list) -> pa.Array:
    """``[D-][HH:]MM:SS[.mmm]`` -> seconds (float64); sentinels, UNLIMITED and garbage -> null."""
    return _apply(lambda c: sql_duration_seconds(sql_duration_parts(c)), values)


def memory_bytes(values: pa.Array | list) -> pa.Array:
    """``12376K``/``4000Mn``/``1000Mc``/plain bytes -> bytes (int64, the n/c scope is dropped); garbage -> null."""
    return _apply(lambda c: sql_memory_bytes(sql_memory_parts(c)), values)


def memory_scope(values: pa.Array | list) -> pa.Array:
    """The per-node ``n`` / per-CPU ``c`` suffix of a memory value, ``''`` for none, null if unreadable."""
    return _apply(lambda c: sql_memory_scope(sql_memory_parts(c)), values)


def integers(values: pa.Array | list) -> pa.Array:
    """Decimal integers -> int64; sentinels and garbage -> null."""
    return _apply(sql_int, values)


def utc_timestamps(values: pa.Array | list) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) -> timestamp[us, tz=UTC]; ``Unknown``/``None``/``INVALID``/garbage -> null."""
    return _apply(sql_ts, values).cast(pa.timestamp("us", tz="UTC"))
