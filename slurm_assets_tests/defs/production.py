"""A Dagster home made from deploy/dagster.production.yaml on this session's throwaway PostgreSQL (a fresh
database per test), for the production-stack tests and the bench."""

import os
import re
import shutil
from pathlib import Path

from slurm_assets_tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_YAML = ROOT / "deploy" / "dagster.production.yaml"


def production_home(server: PostgresServer, home: Path, name: str) -> dict[str, str]:
    """``home`` with the production instance file as is, on a new database ``name``; the environment
    (os.environ + DAGSTER_HOME + DAGSTER_PG_*) every Dagster process of the test needs."""
    db = server.create_database(re.sub(r"[^a-z0-9_]", "_", name.lower())[:60])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    env = {**os.environ, **server.dagster_env(db), "DAGSTER_HOME": str(home)}
    env.pop("SLURM_USAGE_CLUSTERS_FILE", None)
    return env
