"""One JSON line per login and per export of the dashboard: who, when, from where, what.

Appended to ``SLURM_USAGE_DASHBOARD_AUDIT_LOG`` (docs/DASHBOARD.md; ``-`` = stderr). One
``write`` of one line on an O_APPEND file, so lines of concurrent sessions never interleave.
An audit line that cannot be written is logged as an error, never shown to the viewer.
"""

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

import streamlit as st

from slurm_assets import settings

log = logging.getLogger(__name__)


def _remote() -> str | None:
    """The client address: the reverse proxy's X-Forwarded-For first hop, else the socket peer."""
    try:
        forwarded = st.context.headers.get("X-Forwarded-For", "")
        return forwarded.split(",")[0].strip() or getattr(st.context, "ip_address", None)
    except Exception:  # noqa: BLE001 - outside a session (tests, scripts): no context
        return None


def record(event: str, **fields) -> dict:
    """Write one audit line (``event``: login, export, refused) and return it."""
    line = {"time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event": event,
            "remote": _remote(), **fields}
    text = json.dumps(line, sort_keys=True, default=str) + "\n"
    target = settings.dashboard_access()["audit_log"]
    try:
        if target == "-":
            sys.stderr.write(text)
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
    except OSError as err:
        log.error("audit line not written to %s (%s): %s", target, err, text.strip())
    return line


def export(what: str, rows: int) -> None:
    """Audit a CSV download (the ``on_click`` of every download button): who exported how many rows of what."""
    scope = st.session_state.get("_filters")
    scope = getattr(scope, "scope", None)
    record("export", user=getattr(scope, "user", None), role=getattr(scope, "role", None), what=what, rows=rows)
