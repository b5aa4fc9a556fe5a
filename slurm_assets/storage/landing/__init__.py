"""The landing zone: raw drops as the agent ships them, stored once, listed for the pipeline.

A drop (docs/DROP_FORMAT.md) is gzip-compressed ``sacct --parsable2`` text plus a
JSON manifest. Push (receiver), drop mode (``agent --output-dir``) and SSH pull
all end here in the same layout; the manifest is written last, so a drop
without a manifest is incomplete and is ignored by readers.

One module per role; callers use the names below (``landing.store_drop``):
``drop_format`` (manifest, ids, drop stream), ``digest`` (streaming the gzip text),
``store`` (storing + sweeping), ``listing`` (what is landed), ``runs`` (which days
need processing: the pure decision ``process`` and the landing sensor share).
"""

from slurm_assets.storage.landing.digest import TextDigest, digest_gzip_text
from slurm_assets.storage.landing.drop_format import (
    DATA_SUFFIX,
    DROP_FORMAT,
    DROP_FORMATS,
    MANIFEST_FIELDS,
    MANIFEST_SUFFIX,
    MAX_MANIFEST_BYTES,
    SEED_FORMAT_SOURCES,
    SOURCES,
    DropFormatError,
    DropTooLargeError,
    drop_id_for,
    iter_drop_stream,
    read_manifest_line,
    read_stored_manifest,
    validate_manifest,
)
from slurm_assets.storage.landing.listing import DropRef, list_drops, read_drop_text
from slurm_assets.storage.landing.runs import (
    LandingDecision,
    batch_days,
    day_digests,
    days_with_new_drops,
    decide_landing_runs,
)
from slurm_assets.storage.landing.store import drop_paths, store_drop, store_drop_file, sweep_stale

__all__ = [
    "DATA_SUFFIX",
    "DROP_FORMAT",
    "DROP_FORMATS",
    "MANIFEST_FIELDS",
    "MANIFEST_SUFFIX",
    "MAX_MANIFEST_BYTES",
    "SEED_FORMAT_SOURCES",
    "SOURCES",
    "DropFormatError",
    "DropRef",
    "DropTooLargeError",
    "LandingDecision",
    "TextDigest",
    "batch_days",
    "day_digests",
    "days_with_new_drops",
    "decide_landing_runs",
    "digest_gzip_text",
    "drop_id_for",
    "drop_paths",
    "iter_drop_stream",
    "list_drops",
    "read_drop_text",
    "read_manifest_line",
    "read_stored_manifest",
    "store_drop",
    "store_drop_file",
    "sweep_stale",
    "validate_manifest",
]
