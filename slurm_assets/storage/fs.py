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

import os
from pathlib import Path
from typing import TypeAlias

from upath import UPath

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
    return UPath(text.rstrip("/"), **settings.s3_options())


def resolve(data_dir: str | os.PathLike) -> DataPath:
    """Like ``root``, with a local path made absolute (``Path.resolve``), as settings and the CLIs want it."""
    path = root(data_dir)
    return path if is_remote(path) else path.resolve()


def key(path: DataPath) -> str:
    """The path inside its file system: ``bucket/prefix/...`` on S3, the absolute path on disk."""
    return path.path if isinstance(path, UPath) else os.fspath(path)


def put_bytes(path: UPath, data: bytes, exclusive: bool = False) -> None:
    """Write one object in one PUT; ``exclusive``: only if it does not exist (FileExistsError otherwise)."""
    path.fs.pipe_file(path.path, data, mode="create" if exclusive else "overwrite")


def put_file(path: UPath, local: Path) -> None:
    """Upload a local file as one object (a multipart upload for big files: visible only when complete)."""
    path.fs.put_file(os.fspath(local), path.path)


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
