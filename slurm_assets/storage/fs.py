"""The data root as one path type: a local folder (``pathlib.Path``) or ``s3://bucket/prefix`` (a ``UPath``).

Every storage module builds its locations from ``root(data_dir)`` (``paths.py``), so the same code reads
and lists both (``exists``, ``glob``, ``iterdir``, ``read_bytes``, ``open``); only writing differs, and
``is_remote`` tells which:

* local disk: temp file, fsync, ``os.replace``, fsync the folder (``atomic.py``), ``flock`` between writers;
* S3: one PUT per object (``put_bytes``, ``put_file``): an object appears whole or not at all, so no temp
  objects; nothing to fsync; no folder objects (S3 has no folders: ``mkdir`` is a no-op here, and pyarrow
  writes with ``create_dir=False``). Nothing is downloaded to local disk but what a caller asks for.

The S3 endpoint, keys and region come from the standard variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ...; ``settings.s3_options``) through
botocore's usual chain (also ``~/.aws``, instance roles). Listings are never cached: other processes
(receiver, Dagster steps on other hosts) write the same bucket.
"""

from __future__ import annotations

import gzip
import os
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from typing import TypeAlias

from botocore.exceptions import BotoCoreError
import s3fs
from upath import UPath
from upath._stat import UPathStatResult
from upath.implementations.cloud import S3Path

from slurm_assets import settings

REMOTE_SCHEMES = ("s3://",)
DataPath: TypeAlias = "Path | UPath"


class StorageError(OSError):
    """The data root cannot be used (missing bucket, refused credentials, unreachable endpoint), with the fix."""


def is_remote(location: object) -> bool:
    """True for an object-storage location (``s3://...`` string or a remote ``UPath``)."""
    if isinstance(location, UPath):
        return location.protocol not in ("", "file", "local")
    return isinstance(location, str) and location.lower().startswith(REMOTE_SCHEMES)


def root(data_dir: str | os.PathLike) -> DataPath:
    """``data_dir`` as a path: a remote ``UPath`` for ``s3://bucket/prefix``, else a ``Path`` (as given)."""
    if isinstance(data_dir, Path | UPath):
        return data_dir
    text = os.fspath(data_dir)
    if not is_remote(text):
        return Path(text)
    bucket = text[len("s3://") :].split("/", 1)[0]
    if not bucket:
        raise StorageError(f"data root {text!r} names no bucket: use s3://<bucket>/<prefix>")
    return _S3Path(text.rstrip("/"), protocol="s3", **settings.s3_options())


class _FlatS3FileSystem(s3fs.S3FileSystem):
    """s3fs with one flat listing per ``find``/``glob`` (paginated, 1,000 keys a request).

    s3fs lists a ``glob`` with a depth limit folder by folder: ``warehouse/jobs/cluster=*/date=*/...``
    cost one request per cluster and day. DuckDB's ``read_parquet`` globs through this class too.
    """

    async def _find(self, path, maxdepth=None, withdirs=None, detail=False, prefix="", **kwargs):
        if not maxdepth or prefix:
            return await super()._find(
                path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, prefix=prefix, **kwargs
            )
        found = await super()._find(path, withdirs=withdirs, detail=True, **kwargs)
        base = self._strip_protocol(path).rstrip("/")
        kept = {name: info for name, info in found.items() if name[len(base) :].strip("/").count("/") < maxdepth}
        return kept if detail else sorted(kept)


class _S3Path(S3Path):
    """An ``s3://`` path whose file system is ``_FlatS3FileSystem`` (paths derived from it keep it)."""

    _protocol_dispatch = False

    @classmethod
    def _fs_factory(cls, urlpath, protocol, storage_options):
        return _FlatS3FileSystem(**storage_options)


def resolve(data_dir: str | os.PathLike) -> DataPath:
    """Like ``root``, with a local path made absolute (``Path.resolve``), as settings and the CLIs want it."""
    path = root(data_dir)
    return path if is_remote(path) else path.resolve()


def key(path: DataPath) -> str:
    """The path inside its file system: ``bucket/prefix/...`` on S3, the absolute path on disk."""
    return path.path if isinstance(path, UPath) else os.fspath(path)


def put_bytes(path: UPath, data: bytes, exclusive: bool = False) -> None:
    """Write one object in one PUT; ``exclusive``: only if it does not exist (FileExistsError otherwise)."""
    with _as_oserror(path):
        path.fs.pipe_file(path.path, data, mode="create" if exclusive else "overwrite")


def put_file(path: UPath, local: Path) -> None:
    """Upload a local file as one object (a multipart upload for big files: visible only when complete)."""
    with _as_oserror(path):
        path.fs.put_file(os.fspath(local), path.path)


@contextmanager
def _as_oserror(path: UPath) -> Iterator[None]:
    """botocore's connection and credential errors as StorageError (an OSError: callers handle one kind)."""
    try:
        yield
    except OSError:
        raise
    except BotoCoreError as err:
        raise StorageError(f"{path}: {type(err).__name__}: {err}; check AWS_ENDPOINT_URL and the AWS keys") from err


def open_binary(path: DataPath) -> BinaryIO:
    """A binary reader of a file or object (``open`` on disk; a buffered, ranged reader on S3)."""
    return path.open("rb") if isinstance(path, UPath) else open(path, "rb")  # noqa: SIM115 - the caller closes


@contextmanager
def open_gzip(path: DataPath) -> Iterator[BinaryIO]:
    """The decompressed bytes of a gzip file or object (``gzip.open`` on disk, as before)."""
    if not isinstance(path, UPath):
        with gzip.open(path, "rb") as fh:
            yield fh
        return
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as fh:
        yield fh


def find(folder: DataPath) -> dict[str, dict]:
    """Every object below a remote ``folder`` with its details (``size``, ``LastModified``), keyed by its path
    relative to ``folder``: one paginated listing instead of a request per file ({} if there is none)."""
    base = key(folder).rstrip("/") + "/"
    try:
        with _as_oserror(folder):
            found = folder.fs.find(base, detail=True)
    except FileNotFoundError:
        return {}
    return {name[len(base) :]: info for name, info in found.items() if name.startswith(base)}


def stat_all(files: list) -> dict:
    """``{file: os.stat_result-like}`` of the remote ``files`` that exist, from one listing of their common folder
    (the same figures as ``UPath.stat``, without a request per file)."""
    if not files:
        return {}
    common = os.path.commonpath([key(f) for f in files])
    folder = files[0].parent
    while len(key(folder)) > len(common):
        folder = folder.parent
    listing = find(folder)
    base = key(folder).rstrip("/") + "/"
    out = {}
    for f in files:
        info = listing.get(key(f)[len(base) :])
        if info is not None:
            out[f] = UPathStatResult.from_info(info)
    return out


def duckdb_filesystem(root: UPath):
    """A file system for DuckDB's ``register_filesystem`` that keeps listings for LISTING_TTL_S seconds.

    DuckDB asks for each file's details after globbing; from the glob's own listing these cost no
    request (without it, one request per file). A new instance per connection: nothing stale at first,
    and a connection's views see new files at most LISTING_TTL_S late.
    """
    options = {**root.storage_options, "use_listings_cache": True, "listings_expiry_time": LISTING_TTL_S}
    return _FlatS3FileSystem(skip_instance_cache=True, **options)


LISTING_TTL_S = 10


def check_root(data_dir: DataPath) -> None:
    """Raise StorageError saying what is wrong and how to fix it when a remote data root cannot be listed.

    Local roots are left to the callers (they create folders as needed). A missing bucket, refused keys and
    an unreachable endpoint each get their own message instead of botocore's traceback.
    """
    if not is_remote(data_dir):
        return
    bucket = key(data_dir).split("/", 1)[0]
    endpoint = settings.s3_options().get("endpoint_url") or "AWS's default endpoint"
    try:
        data_dir.fs.ls(bucket, detail=False)
    except FileNotFoundError as err:
        raise StorageError(
            f"{data_dir}: bucket {bucket!r} does not exist at {endpoint}; create it, or fix "
            "SLURM_USAGE_DATA_DIR / AWS_ENDPOINT_URL"
        ) from err
    except PermissionError as err:
        raise StorageError(
            f"{data_dir}: access denied by {endpoint} ({err}); check AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY and the bucket policy"
        ) from err
    except Exception as err:  # noqa: BLE001 - botocore's connection and credential errors are not OSErrors
        raise StorageError(
            f"{data_dir}: cannot reach {endpoint} ({type(err).__name__}: {err}); check "
            "AWS_ENDPOINT_URL and the network, and that credentials are set (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY)"
        ) from err
