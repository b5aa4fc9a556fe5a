"""Small JSON state under ``DATA_DIR/state/``: which landing days ``process`` has processed (and with which drops)."""

import json
from pathlib import Path

from slurm_assets.storage.atomic import write_bytes_atomic

PROCESSED_FILE = "processed_days.json"


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "state" / PROCESSED_FILE


def read_processed(data_dir: Path) -> dict[str, str]:
    """``{day: drops digest}`` of days processed so far ({} if none); a corrupt file raises ValueError with the fix."""
    path = processed_path(data_dir)
    if not path.exists():
        return {}
    try:
        days = json.loads(path.read_text())["days"]
        if not isinstance(days, dict):
            raise TypeError
        return {str(k): str(v) for k, v in days.items()}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not {{\"days\": {{...}}}} JSON; delete it to reprocess every day") from err


def mark_processed(data_dir: Path, digests: dict[str, str]) -> None:
    """Record ``digests`` (day -> drops digest) as processed, atomically."""
    days = {**read_processed(data_dir), **digests}
    write_bytes_atomic(processed_path(data_dir), json.dumps({"days": days}, sort_keys=True, indent=1).encode() + b"\n")
