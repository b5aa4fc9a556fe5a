"""The dashboard's copy of the warehouse tables on local disk, kept between restarts (issue 7: first load).

Copying every table but ``jobs`` in from the Parquet files takes long on a big warehouse. A process
that finds a copy published by an earlier one instead works on a private duplicate of it (a file
copy, bench/README.md "Figures behind the code") and reads only the Parquet files that changed since
(``dashboard_store.Store.refresh``, the same incremental step as after a materialization). Under the
cache dir (``settings.dashboard_cache_dir``):

* ``<key>.duckdb``: the published copy, replaced atomically (temp + rename), never opened read-write;
* ``<key>.<pid>.<n>.duckdb``: a process's working copy (DuckDB lets one process write a file), removed at
  exit; those of dead processes are removed by the next start, as are published copies unused for 30 days.

``key`` names the warehouse (resolved path, or ``s3://bucket/prefix`` and endpoint: a remote warehouse's copy
is built from its Parquet objects the same way and kept on local disk too) and FORMAT (the tables' schemas and the summary
buckets), so a copy made for other schemas or another warehouse is never used. The copy holds
its own listing (FILES_TABLE: each source file's mtime and size), which is what refresh compares.
"""

import atexit
import hashlib
import itertools
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from slurm_assets import settings
from slurm_assets.sacct import summary
from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import fs, tree
from slurm_assets.storage.atomic import sweep_temp_files

log = logging.getLogger(__name__)

COPY_VERSION = 1  # bump when the copy's layout (tables, _src, listing) changes
FILES_TABLE = "_copy_files"
FORMAT_TABLE = "_copy_format"
_WORKING_RE = re.compile(r"^(?P<key>[0-9a-f]{24})\.(?P<pid>\d+)\.\d+\.duckdb(\.wal)?$")
_PUBLISHED_RE = re.compile(r"^[0-9a-f]{24}\.duckdb$")
# A published copy is rewritten at least every PUBLISH_EVERY_S while a dashboard uses it.
UNUSED_AFTER_S = 30 * 86400
_counter = itertools.count()


def copy_format() -> str:
    """What a copy's rows mean and how they are stored: schemas of the copied tables, the summary buckets,
    the layout version and DuckDB's version (a copy from another DuckDB release is not opened)."""
    schemas = {name: [(f.name, str(f.type)) for f in schema] for name, schema in sorted(TABLE_SCHEMAS.items())}
    return hashlib.sha256(repr((COPY_VERSION, schemas, summary.BUCKETS, duckdb.__version__)).encode()).hexdigest()


def key_for(root) -> str:
    """The warehouse's name in the cache: its resolved path, or its ``s3://bucket/prefix`` (and the endpoint)."""
    if fs.is_remote(root):
        name = f"{tree.location(root)}\0{settings.s3_options().get('endpoint_url', '')}"
    else:
        name = str(Path(root).resolve())
    return hashlib.sha256(f"{name}\0{copy_format()}".encode()).hexdigest()[:24]


def published_path(cache_dir: Path, root: Path) -> Path:
    return Path(cache_dir) / f"{key_for(root)}.duckdb"


def working_copy(cache_dir: Path | None, root: Path) -> tuple[Path | None, bool]:
    """``(path, restored)``: a new working file for this process, a duplicate of the published copy if
    there is one (``restored``); ``(None, False)`` when there is no usable cache dir (work in memory)."""
    if cache_dir is None:
        return None, False
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        remove_dead_working_copies(cache_dir)
        work = Path(cache_dir) / f"{key_for(root)}.{os.getpid()}.{next(_counter)}.duckdb"
        atexit.register(discard, work)
        published = published_path(cache_dir, root)
        try:
            shutil.copyfile(published, work)
            return work, True
        except FileNotFoundError:
            return work, False
    except OSError as err:
        log.warning(
            "dashboard cache dir %s not usable (%s): the tables are copied into memory at each start; "
            "set SLURM_USAGE_DASHBOARD_CACHE_DIR to a writable local folder",
            cache_dir,
            err,
        )
        return None, False


def discard(work: Path) -> None:
    """Remove a working copy and its write-ahead log."""
    for path in (Path(work), Path(f"{work}.wal")):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("cannot remove the dashboard's working copy %s: %s", path, err)


def remove_dead_working_copies(cache_dir: Path) -> None:
    """Remove the working copies of processes that are gone (killed: no atexit), old temp files, and
    published copies nobody used for UNUSED_AFTER_S (another warehouse, or the format before an upgrade)."""
    sweep_temp_files(Path(cache_dir))
    for path in Path(cache_dir).iterdir():
        if _PUBLISHED_RE.match(path.name):
            try:
                if path.stat().st_mtime < time.time() - UNUSED_AFTER_S:
                    path.unlink()
            except FileNotFoundError:
                pass
            continue
        match = _WORKING_RE.match(path.name)
        if not match or int(match["pid"]) == os.getpid():
            continue
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, another user's


def write_listing(con: duckdb.DuckDBPyConnection, files: dict[str, dict[str, tuple[int, int]]]) -> None:
    """Store ``files`` (source -> {file: (mtime_ns, size)}) and the copy format in ``mem``."""
    rows = [(source, f, stat[0], stat[1]) for source, listing in files.items() for f, stat in listing.items()]
    listing = pa.table(
        {
            name: pa.array([r[i] for r in rows], type)
            for i, (name, type) in enumerate(
                [("source", pa.string()), ("file", pa.string()), ("mtime_ns", pa.int64()), ("size", pa.int64())]
            )
        }
    )
    con.register("_listing", listing)
    try:
        con.execute(f"CREATE OR REPLACE TABLE mem.{FILES_TABLE} AS SELECT * FROM _listing")
    finally:
        con.unregister("_listing")
    con.execute(f"CREATE OR REPLACE TABLE mem.{FORMAT_TABLE} AS SELECT ? AS format", [copy_format()])


def read_listing(con: duckdb.DuckDBPyConnection, sources) -> dict[str, dict[str, tuple[int, int]]]:
    """The listing a restored copy was made from; ValueError if it is not a complete copy of this format."""
    try:
        fmt = con.execute(f"SELECT format FROM mem.{FORMAT_TABLE}").fetchall()
        rows = con.execute(f"SELECT source, file, mtime_ns, size FROM mem.{FILES_TABLE}").fetchall()
    except duckdb.CatalogException as err:
        raise ValueError(f"not a complete dashboard copy ({err})") from err
    if fmt != [(copy_format(),)]:
        raise ValueError("made for other table schemas")
    files: dict[str, dict[str, tuple[int, int]]] = {source: {} for source in sources}
    for source, f, mtime_ns, size in rows:
        files.setdefault(source, {})[f] = (mtime_ns, size)
    return files


def publish(work: Path, cache_dir: Path, root: Path) -> None:
    """Make the (checkpointed) working copy the published one: copy to a temp file, then rename."""
    target = published_path(cache_dir, root)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out, open(work, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
