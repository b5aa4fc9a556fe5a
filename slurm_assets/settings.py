"""The only reader of the process environment. Values are read on call, never at import."""

import os
from pathlib import Path

DATA_DIR_ENV = "SLURM_USAGE_DATA_DIR"
DEFAULT_DATA_DIR = "./data"


def data_dir() -> Path:
    """The data root (landing/, warehouse/, quarantine/, DuckDB file); env ``SLURM_USAGE_DATA_DIR``."""
    return Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)).resolve()
