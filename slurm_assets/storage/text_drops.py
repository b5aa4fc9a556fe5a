"""Store sacct text built on the server (seed JSON bodies, imported files) as a drop of one cluster and UTC day."""

import datetime as dt
import gzip
import io
from pathlib import Path

from slurm_assets.storage import landing


def store_text_drop(
    data_dir: Path,
    cluster: str,
    day: str,
    text: bytes,
    *,
    source: str,
    agent_version: str,
    sacct_version: str,
    collected_at: str,
    extra: dict | None = None,
) -> tuple[str, bool, int]:
    """Gzip ``text`` (sacct --parsable2 with its header), write its manifest (docs/DROP_FORMAT.md) and store it.

    Returns ``(drop_id, duplicate, rows)``: the same text for the same cluster and day is stored once,
    so building the drops again is idempotent. Raises landing.DropFormatError (e.g. a bad cluster or day
    name, too many fields) and OSError from the store.
    """
    gz = gzip.compress(text, compresslevel=6, mtime=0)
    digest = landing.digest_gzip_text(io.BytesIO(gz), len(text))
    next_day = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    header = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    manifest = {
        "format": landing.DROP_FORMAT,
        "cluster": cluster,
        "day": day,
        "window_start": f"{day}T00:00:00Z",
        "window_end": f"{next_day}T00:00:00Z",
        "collected_at": collected_at,
        "sacct_version": sacct_version,
        "fields": header.split("|"),
        "rows": digest.rows,
        "sha256": digest.sha256,
        "gzip_size": len(gz),
        "agent_version": agent_version,
        "source": source,
        "inventory": None,
        **(extra or {}),
    }
    drop_id, duplicate = landing.store_drop(data_dir, manifest, gz)
    return drop_id, duplicate, digest.rows
