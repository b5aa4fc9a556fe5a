"""One JSON line per login and per export of the dashboard: who, when, from where, what.

Appended to ``SLURM_USAGE_DASHBOARD_AUDIT_LOG`` (docs/DASHBOARD.md; ``-`` = stderr). One
``write`` of one line on an O_APPEND file, so lines of concurrent sessions never interleave.
An audit line that cannot be written is logged as an error, never shown to the viewer.
"""

import datetime as dt
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path

import streamlit as st

from slurm_assets import settings

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def client_address(peer: str | None, forwarded_for: str, proxies: tuple[str, ...]) -> str | None:
    """The client's address: the connection's peer, unless the peer is a trusted proxy; then the nearest
    X-Forwarded-For hop (from the right: each proxy appends the address it saw) that is not a trusted proxy.

    Hops left of that one were written by the client itself and are never believed; a malformed hop ends
    the walk at the last trusted address.
    """
    if not peer or not _trusted(peer, proxies):
        return peer
    address = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address
        address = hop
        if not _trusted(hop, proxies):
            return hop
    return address


_warned: list[bool] = []


def _warn_server_rewrite() -> None:
    """Streamlit's server (uvicorn) replaces a peer in FORWARDED_ALLOW_IPS (default: loopback) by its
    X-Forwarded-For before the app sees it; only FORWARDED_ALLOW_IPS="" leaves the decision to the setting."""
    _warned.append(True)
    log.warning(
        "X-Forwarded-For received while FORWARDED_ALLOW_IPS is not empty: Streamlit's server may already "
        "have replaced the peer address from it; start the dashboard with FORWARDED_ALLOW_IPS= so only "
        "SLURM_USAGE_DASHBOARD_TRUSTED_PROXIES is believed (docs/DASHBOARD.md)"
    )


def _remote() -> str | None:
    """The client address, X-Forwarded-For believed only from SLURM_USAGE_DASHBOARD_TRUSTED_PROXIES."""
    try:
        forwarded = st.context.headers.get("X-Forwarded-For", "") or ""
        peer = st.context.ip_address or LOOPBACK  # Streamlit reports a loopback peer as None
    except Exception:  # noqa: BLE001 - outside a session (tests, scripts): no context
        return None
    if forwarded and os.environ.get("FORWARDED_ALLOW_IPS") != "" and not _warned:
        _warn_server_rewrite()
    return client_address(peer, forwarded, settings.dashboard_access()["trusted_proxies"])


def record(event: str, **fields) -> dict:
    """Write one audit line (``event``: login, export, refused) and return it."""
    line = {
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event": event,
        "remote": _remote(),
        **fields,
    }
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
