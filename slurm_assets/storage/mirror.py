"""A local mirror of a remote warehouse's Parquet files, for the dashboard (data root ``s3://bucket/prefix``).

DuckDB reads S3 here only through a registered fsspec file system, one small ranged GET at a time through
Python: copying a 160-file warehouse in took ~50 s against moto. So the dashboard reads local files: on
every new data version ``sync`` downloads the objects that are new or changed (many at once: s3fs fetches
concurrently) and removes the files whose object is gone; ``dashboard_store.Store`` then works on the
mirror exactly as on a local warehouse (its copy, the ``jobs`` view, refresh file by file).

Each mirrored file carries its object's stamp (``tree.Stamp``: LastModified and ETag, size) as its mtime,
so comparing the two listings says what to fetch: no state file, and a mirror kept in the dashboard's
cache dir survives restarts. Downloads land under hidden temp names and are renamed into place, so a
query reading the mirror never sees half a file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from slurm_assets.storage import fs, paths, tree


def sync(root: fs.DataPath, local: Path) -> dict[str, int]:
    """Make ``local`` (a folder for ``root``'s data) hold ``root``'s warehouse Parquet files as they are now.

    Returns ``{"fetched": n, "removed": n}``. ``fs.StorageError`` when the bucket cannot be listed.
    """
    remote = paths.warehouse_root(root)
    base = tree.location(remote) + "/"
    target = paths.warehouse_root(local)
    want = {f[len(base) :]: stamp for f, stamp in tree.file_stats(remote, ".parquet").items()}
    have = {os.path.relpath(f, target): stamp for f, stamp in tree.file_stats(target, ".parquet").items()}
    fetch = sorted(rel for rel, stamp in want.items() if have.get(rel) != stamp)
    if fetch:
        temps = [_temp_name(target / rel) for rel in fetch]
        for t in temps:
            t.parent.mkdir(parents=True, exist_ok=True)
        remote.fs.get([f"{fs.key(remote)}/{rel}" for rel in fetch], [str(t) for t in temps])
        for rel, temp in zip(fetch, temps, strict=True):
            mtime_ns, _size = want[rel]
            os.utime(temp, ns=(mtime_ns, mtime_ns))
            os.replace(temp, target / rel)
    gone = sorted(set(have) - set(want))
    for rel in gone:
        (target / rel).unlink(missing_ok=True)
    return {"fetched": len(fetch), "removed": len(gone)}


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.mirror.tmp"


def folder_for(cache_dir: Path | None, key: str) -> tuple[Path, bool]:
    """The mirror's folder under ``cache_dir`` (kept), or a temporary one when there is no cache dir
    (True: remove it at exit)."""
    if cache_dir is not None:
        return Path(cache_dir) / f"{key}.mirror", False
    import tempfile

    return Path(tempfile.mkdtemp(prefix="slurm-usage-mirror-")), True


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
