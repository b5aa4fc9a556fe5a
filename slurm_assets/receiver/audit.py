"""One audit log line per request: time, remote address, key id, cluster, rows, status (never the key).

A plain ASGI middleware: it puts an ``Audit`` record into the request state
(``request.state.audit``), the route fills it in, and the line is written when
the response has been sent, whatever the outcome. The remote address is the
ASGI client, which uvicorn rewrites from ``X-Forwarded-For`` for trusted proxies
(``--forwarded-allow-ips``).

The line is one JSON object (JSON lines): request text such as a path with ``%0a`` (uvicorn
decodes it to a newline) or a cluster name is escaped by the encoder, so a client cannot forge a
second line or a field (issue 18: ``key=value`` text let ``%0a`` write a forged line).
"""

import datetime as dt
import json
import logging

from slurm_assets.receiver.ingest import Audit

AUDIT_LOGGER = "slurm_assets.receiver.audit"
log = logging.getLogger(AUDIT_LOGGER)


def audit_record(scope: dict, status: int, audit: Audit) -> dict:
    client = scope.get("client")
    drops = audit.drops
    return {
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "remote": client[0] if client else None,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": status,
        "key": None if audit.key_id == "-" else audit.key_id,
        "cluster": None if audit.cluster == "-" else audit.cluster,
        "rows": audit.rows,
        "drops": [d.drop_id for d in drops],
        "duplicate": bool(drops) and all(d.duplicate for d in drops),
    }


def audit_line(scope: dict, status: int, audit: Audit) -> str:
    """The record as one line of ASCII JSON (every control character and non-ASCII text escaped)."""
    return json.dumps(audit_record(scope, status, audit), ensure_ascii=True, separators=(",", ":"))


class AuditMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        audit = Audit()
        scope.setdefault("state", {})["audit"] = audit
        status = 500  # what the client sees if the app fails before answering

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info("%s", audit_line(scope, status, audit))
