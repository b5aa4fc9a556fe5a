"""The dashboard's copy of the warehouse: an in-memory (or local-disk) DuckDB, refreshed file by file.

The dashboard never opens the DuckDB file (DESIGN.md "Storage"): it reads the
Parquet files through its own DuckDB. Every table the catalogue marks
``dashboard_copy`` (all but ``jobs``) is copied into a compressed database
(``mem``) once and then refreshed file by file on each new data version; ``jobs``
stays a view over its Parquet files so 10M jobs are only ever aggregated in SQL.
(Not ``warehouse.connect_readonly``: its views bind every file of every table.)
Between restarts the copy is kept on local disk (``local_copy``).

The data version is the (count, newest mtime, total size) of the warehouse
files; a new materialization changes it, so cached answers never go stale.
"""

import atexit
import logging
import os
import threading
import time
from pathlib import Path, PurePosixPath

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.sacct import catalog, summary
from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import compact, fs, local_copy, mirror, paths, tree, warehouse

log = logging.getLogger(__name__)

# Copied into the connection's compressed database once per data version; ``jobs`` stays on disk.
MEMORY_TABLES = catalog.dashboard_tables()
# Copied from their monthly compacts where current (storage/compact.py): a file per month, not per day.
COMPACTED = set(catalog.compacted_tables())
# Compacts read per statement (a month of job_summary at 10M jobs: ~60k rows), then compressed.
COMPACT_BATCH_FILES = 6
# The copy made behind the first pages: its thread's nice value, and attempts when files change under it.
COPY_NICE, COPY_ATTEMPTS = 10, 3
# jobs files summarized per pass when a warehouse has jobs days without a job_summary file.
SUMMARY_BATCH_FILES = 200
# Files read per statement when copying a table in (then compressed): bounds the load's peak memory.
LOAD_BATCH_FILES = 200
# After a refresh, the copy on disk is published again at most this often (a backfill refreshes often).
PUBLISH_EVERY_S = 600.0


def data_version(data_dir) -> tuple[int, int, int]:
    """(files, newest mtime in ns, total bytes) of the warehouse Parquet files: changes on every write.

    One listing of ``warehouse/`` (``tree.file_stats``), on disk or on S3.
    """
    stamps = [stamp for files in table_files(data_dir).values() for stamp in files.values()]
    return len(stamps), max((m for m, _ in stamps), default=0), sum(size for _, size in stamps)


def table_files(data_dir) -> dict[str, dict[str, tree.Stamp]]:
    """``{table: {file: (mtime_ns, size)}}`` of every table's Parquet files (``cluster=<c>/<date=D|latest>/``)."""
    folder = paths.warehouse_root(data_dir)
    base = tree.location(folder) + "/"
    out: dict[str, dict[str, tree.Stamp]] = {table: {} for table in TABLE_SCHEMAS}
    for f, stamp in tree.file_stats(folder, paths.PART_FILE).items():
        parts = f[len(base) :].split("/")
        if len(parts) == 4 and parts[0] in out and parts[1].startswith("cluster=") and parts[3] == paths.PART_FILE:
            out[parts[0]][f] = stamp
    return out


def _daily(files: dict[str, tree.Stamp]) -> dict[str, tree.Stamp]:
    """The partition files (``date=<D>``) among a table's files."""
    return {f: stamp for f, stamp in files.items() if f.rsplit("/", 2)[-2].startswith("date=")}


class Store:
    """The dashboard's in-memory copy of the warehouse under ``root``, refreshed file by file.

    Not ``warehouse.connect_readonly``: its views bind every file of every table (union_by_name reads all
    footers, bench/README.md "Figures behind the code") although only ``jobs`` stays a view here. Each copied row
    keeps its source file (``_src``); a new data version deletes the rows of the files that changed or went
    away and reads only the new or changed files, in one transaction (queries on other cursors keep
    seeing the previous version until it commits), so a materialization costs a reload of its days, not
    of the whole warehouse.
    """

    def __init__(self, root, cache_dir: Path | None = None):
        self.remote = fs.root(root) if fs.is_remote(root) else None  # s3://bucket/prefix: read through a mirror
        self.root = Path(root) if self.remote is None else self._mirror_folder(cache_dir)
        self.cache_dir = cache_dir  # where the copy is kept between restarts (local_copy); None: in memory
        self.work: Path | None = None  # this process's working copy (file-backed ``mem``), if any
        self.published_at = 0.0
        self.con: duckdb.DuckDBPyConnection | None = None
        self.files: dict[str, dict[str, tuple[int, int]]] = {}  # source -> {file: (mtime_ns, size)}
        self.jobs_files: list[str] = []  # the jobs view's files, of the last listing
        self.version = None
        self.lock = threading.Lock()
        self.sync_lock = threading.Lock()
        self.reading_files = False  # queries read views over the Parquet files until the copy is in
        self.copier: threading.Thread | None = None
        self.copy_cursor: duckdb.DuckDBPyConnection | None = None
        self.stopping = False

    def _mirror_folder(self, cache_dir: Path | None) -> Path:
        folder, temporary = mirror.folder_for(cache_dir, local_copy.key_for(self.remote))
        if temporary:
            atexit.register(mirror.remove, folder)
        return folder

    def at(self, version) -> duckdb.DuckDBPyConnection:
        """The connection, refreshed first if ``version`` is not the one it holds."""
        with self.lock:
            if self.con is None:
                self.load(background=True)
            elif self.version != version and self.reading_files:  # the copy is still being made
                _file_views(self.con, self.root, self._listing())
            elif self.version != version:
                self.refresh()
            self.version = version
            return self.con

    def invalidate(self) -> None:
        """Relist the files on the next ``at`` (a query met a file replaced or removed under it)."""
        with self.lock:
            self.version = None

    def _listing(self) -> dict[str, dict[str, tuple[int, int]]]:
        """The files of each source, from one listing of the warehouse; also sets ``jobs_files``.

        A remote warehouse's mirror is brought up to date first (``mirror.sync``).
        """
        if self.remote is not None:
            with self.sync_lock:  # the copy thread may list while a page does
                stats = mirror.sync(self.remote, self.root)
            log.info("dashboard mirror of %s: %s", self.remote, stats)
        tables = table_files(self.root)
        listing = {table: _daily(tables[table]) for table in MEMORY_TABLES if table != "running_jobs"}
        have = {_cluster_day(f) for f in listing["job_summary"]}
        jobs = _daily(tables["jobs"])
        listing[_FROM_JOBS] = {f: s for f, s in jobs.items() if _cluster_day(f) not in have}  # summarized here
        listing["running_jobs"] = {f: s for f, s in tables["running_jobs"].items() if f.rsplit("/", 2)[-2] == "latest"}
        self.jobs_files = sorted(jobs)
        return listing

    def load(self, background: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the copy: the published one of an earlier process, refreshed, or every table copied in.

        ``background`` (the app): without a published copy, the tables are first views over their Parquet
        files (monthly compacts where current, ``_file_views``) and are copied in by a thread, so the first
        page does not wait for the copy (bench/README.md "Figures behind the code"). A full copy reads batches
        and compresses after each (bounds the peak memory).
        """
        con = duckdb.connect(":memory:")
        # DuckDB's file cache kept the Parquet bytes after the copy; one thread reads a year's files
        # faster than two on a 2-core box, at a fraction of the peak memory (bench/README.md "Figures behind the code").
        con.execute("SET enable_external_file_cache = false")
        con.execute("SET threads = 1")
        restored = self._attach_copy(con)
        if restored is not None:
            _create_views(con)
            self.con, self.files = con, restored
            self.refresh()  # only the files that changed since the copy was published
            con.execute("RESET threads")
            return con
        listing = self._listing()
        for table in MEMORY_TABLES:
            empty = warehouse.empty_select(table)
            con.execute(f'CREATE TABLE mem."{table}" AS SELECT *, CAST(NULL AS VARCHAR) AS _src FROM ({empty})')
        self.con = con
        if background and not listing[_FROM_JOBS]:  # (summaries made from jobs files need the copy)
            _file_views(con, self.root, listing)
            self.reading_files = True
            self.copier = threading.Thread(
                target=self._copy_behind, args=(listing,), name="dashboard-copy", daemon=True
            )
            self.copier.start()
            atexit.register(self.stop_copy)
            return con
        try:
            _copy_in(con, self.root, listing)
            self._copied(con, listing)
        except BaseException:  # e.g. a file removed under the copy: the next ``at`` loads again from scratch
            self.con = None  # (kept, it had no views: every later query failed with "table does not exist")
            con.close()
            if self.work is not None:
                local_copy.discard(self.work)
            raise
        return con

    def _copied(self, cur, listing: dict) -> None:
        """The copy holds ``listing``: queries read it from now on, and it is published for the next start."""
        cur.execute(f"CREATE OR REPLACE VIEW mem.jobs_files AS {jobs_select(self.root, None, self.jobs_files)}")
        cur.execute("CHECKPOINT mem")
        cur.execute("RESET threads")
        cur.execute("RESET parquet_metadata_cache")
        _create_views(cur)
        self.files = listing
        self._publish()

    def _copy_behind(self, listing: dict) -> None:
        """Copy the tables in while pages read the Parquet files (at a lower CPU priority than theirs: with one
        DuckDB thread the copy runs on this one), then switch queries to the copy."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COPY_NICE)
        except (AttributeError, OSError):  # not Linux: the same priority as the pages
            pass
        cur = self.copy_cursor = self.con.cursor()
        try:
            for attempt in range(COPY_ATTEMPTS):
                try:
                    _copy_in(cur, self.root, listing)
                    break
                except duckdb.Error as err:  # a file replaced under the copy (a compact superseded): again
                    if self.stopping:
                        return
                    log.warning("copying the warehouse in (attempt %d): %s", attempt + 1, err)
                    for table in MEMORY_TABLES:
                        cur.execute(f'DELETE FROM mem."{table}"')
                    listing = self._listing()
            else:
                log.error(
                    "copying the warehouse into the dashboard failed %d times: pages keep reading the"
                    " Parquet files until the dashboard restarts",
                    COPY_ATTEMPTS,
                )
                return
            with self.lock:
                self._copied(cur, listing)
                self.reading_files = False
                self.refresh()  # files written while the copy was made
        finally:
            cur.close()

    def stop_copy(self) -> None:
        """Interrupt a copy still being made (at exit: a thread killed inside DuckDB aborts the process)."""
        self.stopping = True
        if self.copier is not None and self.copier.is_alive() and self.copy_cursor is not None:
            self.copy_cursor.interrupt()
            self.copier.join(timeout=10)

    def _attach_copy(self, con: duckdb.DuckDBPyConnection) -> dict | None:
        """Attach ``mem``: a working copy on disk, or in memory; return a restored copy's listing (else None)."""
        work, restored = local_copy.working_copy(self.cache_dir, self.root)
        self.work = work
        if work is None:
            con.execute("ATTACH ':memory:' AS mem (COMPRESS)")  # compressed at each CHECKPOINT (~5x smaller)
            return None
        if restored:
            try:
                con.execute(f"ATTACH {_sql_str(work)} AS mem")
                files = local_copy.read_listing(con, (*MEMORY_TABLES, _FROM_JOBS))
                self.published_at = time.monotonic()  # the published copy is this one
                return files
            except (duckdb.Error, ValueError) as err:
                log.warning("dashboard copy %s not usable (%s): copying the tables in again", work, err)
                try:
                    con.execute("DETACH mem")
                except duckdb.Error:
                    pass
                local_copy.discard(work)
        con.execute(f"ATTACH {_sql_str(work)} AS mem")
        return None

    def _publish(self) -> None:
        """Publish the working copy for the next start (checkpointed; skipped while queries hold it)."""
        if self.work is None:
            return
        cur = self.con.cursor()
        try:
            local_copy.write_listing(cur, self.files)
            cur.execute("CHECKPOINT mem")  # everything in the file, nothing in the WAL
            local_copy.publish(self.work, self.cache_dir, self.root)
            self.published_at = time.monotonic()
        except (duckdb.Error, OSError) as err:
            log.info("dashboard copy not published this time (%s)", err)
        finally:
            cur.close()

    def refresh(self) -> None:
        """Bring the copy to the files now on disk: only changed, new and removed files are touched."""
        listing = self._listing()
        cur = self.con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            for source, files in listing.items():
                old = self.files.get(source, {})
                if source == "running_jobs":  # a snapshot per cluster: few files, replaced whole
                    if files != old:
                        cur.execute('DELETE FROM mem."running_jobs"')
                        _insert(cur, self.root, source, sorted(files))
                    continue
                gone = [f for f, stat in old.items() if files.get(f) != stat]
                if gone:
                    cur.execute(
                        f'DELETE FROM mem."{_TABLE_OF.get(source, source)}" WHERE list_contains(?, _src)', [gone]
                    )
                _insert(cur, self.root, source, sorted(f for f, stat in files.items() if old.get(f) != stat))
            cur.execute(f"CREATE OR REPLACE VIEW mem.jobs_files AS {jobs_select(self.root, None, self.jobs_files)}")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        self.files = listing
        if self.work is not None and time.monotonic() - self.published_at > PUBLISH_EVERY_S:
            self._publish()
            return
        try:
            self.con.execute("CHECKPOINT mem")  # compress the new rows; skipped while other queries run
        except duckdb.Error:
            pass


_FROM_JOBS = "job_summary from jobs"
_TABLE_OF = {_FROM_JOBS: "job_summary"}


def _copy_in(con, root: Path, listing: dict) -> None:
    """Copy every source of ``listing`` into ``mem``: monthly compacts where current, else the daily files."""
    for source, files in listing.items():
        if source in COMPACTED:  # a month's compact instead of its daily files, where it is current
            compacts, files = compact.usable(root, source, files)
            _insert_compacts(con, root, source, compacts)
        _insert(con, root, source, sorted(files), checkpoint=True)


def _file_views(con, root: Path, listing: dict) -> None:
    """Every table a view over its Parquet files of ``listing`` (monthly compacts where current): the copy's
    rows, read from disk while it is being made. Footers are cached meanwhile (a few hundred compacts)."""
    con.execute("SET parquet_metadata_cache = true")
    for table in MEMORY_TABLES:
        files = listing.get(table, {})
        if table == "running_jobs":
            selects = [f"SELECT {_columns(table)} FROM ({warehouse.view_select(root, table)})"] if files else []
        else:
            compacts, rest = compact.usable(root, table, files) if table in COMPACTED else ([], sorted(files))
            selects = [
                f"SELECT {_columns(table)} FROM read_parquet({group!r}, hive_partitioning = false)"
                for group in ([str(p) for p in compacts], rest)
                if group
            ]
        sql = " UNION ALL ".join(selects) or warehouse.empty_select(table)
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {sql}')
    con.execute(f"CREATE OR REPLACE VIEW jobs AS {jobs_select(root, None)}")


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    """The names queries use, over ``mem`` (views of the connection, not stored in the copy)."""
    for table in MEMORY_TABLES:
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * EXCLUDE (_src) FROM mem."{table}"')
    con.execute("CREATE OR REPLACE VIEW jobs AS SELECT * FROM mem.jobs_files")


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _insert(con, root: Path, source: str, files: list[str], checkpoint: bool = False) -> None:
    """Copy ``files`` of ``source`` in, each row tagged with its file (``_src``)."""
    if source == "running_jobs":
        if files:
            con.execute(
                f'INSERT INTO mem."running_jobs" SELECT {_columns(source)}, NULL'
                f" FROM ({warehouse.view_select(root, source)})"
            )
        return
    step = SUMMARY_BATCH_FILES if source == _FROM_JOBS else LOAD_BATCH_FILES
    for i in range(0, len(files), step):
        batch = files[i : i + step]
        if source == _FROM_JOBS:  # a warehouse written before job_summary existed
            jobs = con.execute(
                f"SELECT {_columns('jobs')}, filename AS _src FROM read_parquet({batch!r},"
                " hive_partitioning = false, filename = true) ORDER BY _src"
            ).arrow()
            jobs = jobs.read_all() if hasattr(jobs, "read_all") else jobs
            sizes = {c["values"]: c["counts"] for c in pc.value_counts(jobs["_src"]).to_pylist()}
            tables, srcs, offset = [], [], 0
            for f in sorted(sizes):  # rows are ordered by _src
                tables.append(jobs.slice(offset, sizes[f]).drop_columns(["_src"]))
                srcs.append(f)
                offset += sizes[f]
            rows = pa.concat_tables(
                [
                    t.append_column("_src", pa.array([f] * t.num_rows, pa.string()))
                    for t, f in zip(summary.job_summary_groups(tables), srcs, strict=True)
                ]
                or [TABLE_SCHEMAS["job_summary"].empty_table().append_column("_src", pa.array([], pa.string()))]
            )
            con.register("_missing_summary", rows)
            con.execute('INSERT INTO mem."job_summary" SELECT * FROM _missing_summary')
            con.unregister("_missing_summary")
        else:
            # hive_partitioning off: usage_daily's ``date`` column is the usage day, not its folder's end day
            con.execute(
                f'INSERT INTO mem."{source}" SELECT {_columns(source)}, filename AS _src FROM read_parquet('
                f"{batch!r}, hive_partitioning = false, filename = true)"
            )
        if checkpoint:
            con.execute("CHECKPOINT mem")  # compress what was read: bounds the peak to one batch uncompressed


def _insert_compacts(con, root: Path, table: str, compacts: list[Path]) -> None:
    """Copy monthly compacts in; each row's ``_src`` becomes its daily file's path, as the listing names it."""
    prefix = str(paths.warehouse_root(root)) + os.sep
    for i in range(0, len(compacts), COMPACT_BATCH_FILES):
        batch = [str(p) for p in compacts[i : i + COMPACT_BATCH_FILES]]
        con.execute(
            f'INSERT INTO mem."{table}" SELECT {_columns(table)}, ? || "{compact.SRC}" FROM read_parquet('
            f"{batch!r}, hive_partitioning = false)",
            [prefix],
        )
        con.execute("CHECKPOINT mem")


def _cluster_day(f: str) -> tuple[str, str]:
    return paths.cluster_day_of(PurePosixPath(f))


def _columns(table: str) -> str:
    return ", ".join(f'"{name}"' for name in TABLE_SCHEMAS[table].names)


def jobs_select(root, days: list[tuple[str, str]] | None, files: list[str] | None = None) -> str:
    """SELECT over the ``jobs`` files (``files``, those of the (cluster, day) pairs, or all), with the hive
    column ``date``."""
    if files is None:
        files = (
            sorted(_daily(table_files(root)["jobs"]))
            if days is None
            else [str(paths.partition_file(root, "jobs", c, d)) for c, d in sorted(days)]
        )
    if not files:
        return f'SELECT *, CAST(NULL AS DATE) AS "date" FROM ({warehouse.empty_select("jobs")})'
    return (
        f"SELECT * FROM read_parquet({[str(p) for p in files]!r}, hive_partitioning = true,"
        " hive_types = {'date': DATE, 'cluster': VARCHAR})"
    )
