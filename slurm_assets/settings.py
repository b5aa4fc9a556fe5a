"""The only reader of the process environment. Values are read on call, never at import."""

import datetime as dt
import hashlib
import ipaddress
import logging
import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from slurm_assets.sacct import limits

log = logging.getLogger(__name__)

DATA_DIR_ENV = "SLURM_USAGE_DATA_DIR"
DEFAULT_DATA_DIR = "./data"


def data_dir() -> Path:
    """The data root (landing/, warehouse/, quarantine/, DuckDB file); env ``SLURM_USAGE_DATA_DIR``.

    A local folder (made absolute) or ``s3://bucket/prefix`` (a ``UPath``: storage/fs.py)."""
    from slurm_assets.storage import fs  # storage imports settings: resolved on call

    return fs.resolve(os.environ.get(DATA_DIR_ENV, "").strip() or DEFAULT_DATA_DIR)


S3_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # botocore's names, service-specific first
S3_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")


def s3_options() -> dict:
    """s3fs options of an ``s3://`` data root from the standard AWS variables (storage/fs.py).

    The endpoint (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``; unset: AWS itself) and the region are passed
    explicitly; keys (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) when set, else
    botocore's chain (``~/.aws``, instance roles). Listings are never cached (other processes write the
    bucket); a dead endpoint fails after seconds, not minutes.
    """
    options: dict = {
        "use_listings_cache": False,
        "config_kwargs": {"connect_timeout": 10, "read_timeout": 120, "retries": {"max_attempts": 3}},
    }
    env = {
        name: os.environ.get(name, "").strip()
        for name in (
            *S3_ENDPOINT_ENVS,
            *S3_REGION_ENVS,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        )
    }
    if endpoint := next((env[n] for n in S3_ENDPOINT_ENVS if env[n]), ""):
        options["endpoint_url"] = endpoint
    if region := next((env[n] for n in S3_REGION_ENVS if env[n]), ""):
        options["client_kwargs"] = {"region_name": region}
    if env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]:
        options.update(key=env["AWS_ACCESS_KEY_ID"], secret=env["AWS_SECRET_ACCESS_KEY"])
        if env["AWS_SESSION_TOKEN"]:
            options["token"] = env["AWS_SESSION_TOKEN"]
    return options


EXECUTOR_ENV = "SLURM_USAGE_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "dask")
DASK_SCHEDULER_ENV = "SLURM_USAGE_DASK_SCHEDULER"


def executor() -> str:
    """Where a launched run's steps execute (docs/DEPLOYING.md); env ``SLURM_USAGE_EXECUTOR``, default in_process.

    ``in_process``: in the run's process (no per-step subprocess: the steps are few and coarse);
    ``multiprocess``: one subprocess per step; ``dask``: on the workers of the dask scheduler at
    ``SLURM_USAGE_DASK_SCHEDULER``. ``process`` always runs in-process.
    """
    value = os.environ.get(EXECUTOR_ENV, "").strip().lower() or "in_process"
    if value not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={value!r} is not one of {', '.join(EXECUTORS)}")
    return value


def dask_scheduler() -> str:
    """The dask scheduler's address (``tcp://host:8786``) for ``SLURM_USAGE_EXECUTOR=dask``."""
    value = os.environ.get(DASK_SCHEDULER_ENV, "").strip()
    if not value:
        raise ValueError(f"{EXECUTOR_ENV}=dask needs {DASK_SCHEDULER_ENV} (the scheduler's address, tcp://host:8786)")
    return value


BACKFILL_TICK_ENV = "SLURM_USAGE_BACKFILL_TICK_S"


def backfill_tick_s() -> int:
    """Seconds between the backfill ticks of ``python -m slurm_assets daemon`` (Dagster's own: 30); env
    ``SLURM_USAGE_BACKFILL_TICK_S``, default 2, 1..30."""
    value = os.environ.get(BACKFILL_TICK_ENV, "").strip() or "2"
    if not value.isdigit() or not 1 <= int(value) <= 30:
        raise ValueError(f"{BACKFILL_TICK_ENV}={value!r} is not a whole number of seconds from 1 to 30")
    return int(value)


BIG_DROP_BYTES_ENV = "SLURM_USAGE_BIG_DROP_BYTES"
DROP_PIECE_BYTES_ENV = "SLURM_USAGE_DROP_PIECE_BYTES"


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r} is not a positive number of bytes")
    return int(value)


def big_drop_bytes(default: int) -> int:
    """Drops with more sacct text than this are parsed in pieces (pipeline/bigdrops.py); env
    ``SLURM_USAGE_BIG_DROP_BYTES``."""
    return _positive_int(BIG_DROP_BYTES_ENV, default)


def drop_piece_bytes(default: int) -> int:
    """Text per piece of a big drop (the parser holds ~7x it); env ``SLURM_USAGE_DROP_PIECE_BYTES``."""
    return _positive_int(DROP_PIECE_BYTES_ENV, default)


CLUSTERS_FILE_ENV = "SLURM_USAGE_CLUSTERS_FILE"


def clusters_file() -> Path | None:
    """The cluster config YAML (SSH pull; docs/PIPELINE.md), env ``SLURM_USAGE_CLUSTERS_FILE``; None if unset."""
    value = os.environ.get(CLUSTERS_FILE_ENV, "").strip()
    return Path(value).resolve() if value else None


class ReceiverSettings(BaseSettings):
    """Receiver (``slurm-usage-receiver``) settings from the environment or a ``.env`` file in the working dir.

    Build one per call (``ReceiverSettings()``); keyword arguments (the CLI flags) win over the environment.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # Comma list: ``key``, ``key:clusterA+clusterB``, ``sha256:<hex>[:clusters]``,
    # ``salted-sha256:<salt>:<hex>[:clusters]`` (see slurm_assets/receiver/auth.py, docs/RECEIVER.md).
    api_keys: str = Field(default="", validation_alias=AliasChoices("api_keys", "API_KEYS"), repr=False)
    # A local folder or s3://bucket/prefix (str: a Path would fold "s3://" into "s3:/").
    data_dir: str | Path = Field(default=DEFAULT_DATA_DIR, validation_alias=AliasChoices("data_dir", DATA_DIR_ENV))
    # Request body limit for native drops (gzip bytes + manifest line).
    max_body_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, validation_alias=AliasChoices("max_body_bytes", "SLURM_USAGE_MAX_BODY_BYTES")
    )
    # Decompressed sacct text limit (gzip bombs; the pipeline processes up to limits.MAX_DROP_TEXT_BYTES of one
    # drop within its memory budget, docs/PIPELINE.md "Big drops", and quarantines bigger landed drops).
    max_text_bytes: int = Field(
        default=limits.MAX_DROP_TEXT_BYTES,
        gt=0,
        validation_alias=AliasChoices("max_text_bytes", "SLURM_USAGE_MAX_TEXT_BYTES"),
    )
    # Seed JSON bodies are parsed in memory (several times their size as Python objects): a smaller limit.
    max_json_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, validation_alias=AliasChoices("max_json_bytes", "SLURM_USAGE_MAX_JSON_BYTES")
    )

    # Slow clients (receiver/guard.py): a request's headers must be complete within header_timeout_s; a body
    # read stops after body_timeout_s without a byte; connections beyond max_connections (itself capped at the
    # open-file limit minus a reserve) close the longest-waiting header-phase connection or are refused with 503.
    header_timeout_s: float = Field(
        default=20.0, gt=0, validation_alias=AliasChoices("header_timeout_s", "SLURM_USAGE_HEADER_TIMEOUT_S")
    )
    body_timeout_s: float = Field(
        default=60.0, gt=0, validation_alias=AliasChoices("body_timeout_s", "SLURM_USAGE_BODY_TIMEOUT_S")
    )
    max_connections: int = Field(
        default=4096, gt=0, validation_alias=AliasChoices("max_connections", "SLURM_USAGE_MAX_CONNECTIONS")
    )

    def resolved_data_dir(self) -> Path:
        from slurm_assets.storage import fs  # storage imports settings: resolved on call

        return fs.resolve(self.data_dir)


DAGSTER_UI_URL_ENV = "DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI_URL = "http://127.0.0.1:3000"


def dagster_ui_url() -> str:
    """Where operators open the Dagster UI (linked from the dashboard); env ``DAGSTER_UI_URL``."""
    return os.environ.get(DAGSTER_UI_URL_ENV, "").strip() or DEFAULT_DAGSTER_UI_URL


DASHBOARD_CACHE_ENV = "SLURM_USAGE_DASHBOARD_CACHE_DIR"


LOCAL_DIR_ENV = "SLURM_USAGE_LOCAL_DIR"


def remote_local_dir(data_root: str) -> Path:
    """The local folder of an ``s3://`` data root's files that must be on local disk: the DuckDB file (DuckDB
    writes a file in place, which S3 cannot hold) and the SSH trust-on-first-use keys (paramiko reads a file).

    Env ``SLURM_USAGE_LOCAL_DIR``; default ``$XDG_CACHE_HOME/slurm-usage-history/<sha of the root>``. The
    DuckDB file holds only views over the Parquet objects: where it is missing, ``process`` and the
    ``warehouse_duckdb`` step rebuild it on whichever host runs them.
    """
    value = os.environ.get(LOCAL_DIR_ENV, "").strip()
    if value:
        return Path(value).resolve()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "slurm-usage-history" / hashlib.sha256(data_root.encode()).hexdigest()[:16]


def dashboard_cache_dir() -> Path | None:
    """Where the dashboard keeps its copy of the tables between restarts; env ``SLURM_USAGE_DASHBOARD_CACHE_DIR``.

    ``off`` keeps it in memory only (every start copies the tables in again). Default:
    ``$XDG_CACHE_HOME/slurm-usage-history/dashboard`` (``~/.cache/...``): local disk, not the data dir,
    which the dashboard may only read.
    """
    value = os.environ.get(DASHBOARD_CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).resolve()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "slurm-usage-history" / "dashboard"


DASHBOARD_ENV = "SLURM_USAGE_DASHBOARD_"  # prefix of the dashboard's login and role settings (docs/DASHBOARD.md)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def dashboard_access() -> dict:
    """The dashboard's identity settings (docs/DASHBOARD.md "Login and roles"), read on call.

    ``user_claim``: the OIDC claim holding the Slurm user name; ``user_map``: optional JSON file
    {IdP name: Slurm name}; ``admins``: Slurm user names; ``admin_group`` in claim ``groups_claim``;
    ``site_totals``: users and coordinators see cluster-wide KPIs; ``allow_no_login``: serve without
    login on a non-loopback address; ``audit_log``: JSON-lines file of logins and exports (``-``: stderr);
    ``trusted_proxies``: addresses/networks of reverse proxies whose X-Forwarded-For the audit believes.
    """
    env = os.environ
    state = env.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return {
        "user_claim": env.get(DASHBOARD_ENV + "USER_CLAIM", "").strip() or "preferred_username",
        "user_map": env.get(DASHBOARD_ENV + "USER_MAP", "").strip() or None,
        "admins": tuple(a.strip() for a in env.get(DASHBOARD_ENV + "ADMINS", "").split(",") if a.strip()),
        "admin_group": env.get(DASHBOARD_ENV + "ADMIN_GROUP", "").strip() or None,
        "groups_claim": env.get(DASHBOARD_ENV + "GROUPS_CLAIM", "").strip() or "groups",
        "site_totals": _flag(DASHBOARD_ENV + "SITE_TOTALS"),
        "allow_no_login": _flag(DASHBOARD_ENV + "ALLOW_NO_LOGIN"),
        "trusted_proxies": _proxies(env.get(DASHBOARD_ENV + "TRUSTED_PROXIES", "")),
        "audit_log": env.get(DASHBOARD_ENV + "AUDIT_LOG", "").strip()
        or str(Path(state) / "slurm-usage-history" / "dashboard-audit.jsonl"),
    }


def _proxies(raw: str) -> tuple[str, ...]:
    """Comma list of IP addresses or networks; a malformed entry is logged and left out (never trusted)."""
    out = []
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            log.error("%sTRUSTED_PROXIES: %r is not an IP address or network: not trusted", DASHBOARD_ENV, item)
    return tuple(out)


STALE_AFTER_H_ENV = "SLURM_USAGE_STALE_AFTER_H"
DEFAULT_STALE_AFTER_H = 26.0  # a daily agent run plus two hours of slack
VERSION_CHECK_S_ENV = "SLURM_USAGE_DASHBOARD_VERSION_CHECK_S"
DEFAULT_VERSION_CHECK_S = 60.0


def _positive_float(env: str, default: float) -> float:
    """A positive number from ``env``; an unset, unparsable or non-positive value gives ``default`` (logged)."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        log.warning("%s=%r is not a positive number; using %s", env, raw, default)
        return default
    return value


def stale_after_h() -> float:
    """Hours after a cluster's last drop at which the dashboard flags it stale; env ``SLURM_USAGE_STALE_AFTER_H``."""
    return _positive_float(STALE_AFTER_H_ENV, DEFAULT_STALE_AFTER_H)


def version_check_s() -> float:
    """How often an open dashboard tab looks for a newer data version; env ``SLURM_USAGE_DASHBOARD_VERSION_CHECK_S``."""
    return _positive_float(VERSION_CHECK_S_ENV, DEFAULT_VERSION_CHECK_S)


DEMO_ENV_PREFIX = "SLURM_DEMO_"


def demo_slurm_env() -> dict[str, str]:
    """``SLURM_DEMO_*`` values for the demo's stand-in sacct/scontrol (slurm_assets/demo/fake_sacct.py)."""
    return {k: v for k, v in os.environ.items() if k.startswith(DEMO_ENV_PREFIX)}


FIRST_DAY_ENV = "SLURM_USAGE_FIRST_DAY"
DEFAULT_FIRST_DAY = "2020-01-01"


class FirstDayError(ValueError):
    """A day before SLURM_USAGE_FIRST_DAY, or the setting itself is not a day."""


def first_day() -> str:
    """The first UTC day of history (YYYY-MM-DD): daily partitions start here and earlier drops, imports and
    backfills are refused; env ``SLURM_USAGE_FIRST_DAY``, default 2020-01-01. FirstDayError on a bad value."""
    value = os.environ.get(FIRST_DAY_ENV, "").strip() or DEFAULT_FIRST_DAY
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as err:
        raise FirstDayError(f"{FIRST_DAY_ENV}={value!r} is not a day: set it to YYYY-MM-DD, e.g. 2024-01-01") from err
    if len(value) != 10 or day.year < 1970:
        raise FirstDayError(f"{FIRST_DAY_ENV}={value!r}: expected YYYY-MM-DD from 1970 on, e.g. 2024-01-01")
    return day.isoformat()


def check_not_before_first_day(days, what: str) -> None:
    """Raise FirstDayError naming SLURM_USAGE_FIRST_DAY when any of ``days`` (YYYY-MM-DD) is before it."""
    first = first_day()
    early = sorted({d for d in days if d < first})
    if early:
        shown = ", ".join(early[:5]) + (f" and {len(early) - 5} more" if len(early) > 5 else "")
        raise FirstDayError(
            f"{what}: {len(early)} day(s) before {FIRST_DAY_ENV}={first}: {shown}; history starts at "
            f"{FIRST_DAY_ENV}: set it to {early[0]} or earlier to keep these days, or leave them out"
        )
