"""One audit log line per request: time, remote address, key id, cluster, rows, status (never the key).

A plain ASGI middleware: it puts an ``Audit`` record into the request state
(``request.state.audit``), the route fills it in, and the line is written when
the response has been sent, whatever the outcome. The remote address is the
ASGI client, which uvicorn rewrites from ``X-Forwarded-For`` for trusted proxies
(``--forwarded-allow-ips``).
"""

import datetime as dt
import logging

from slurm_assets.receiver.ingest import Audit

AUDIT_LOGGER = "slurm_assets.receiver.audit"
log = logging.getLogger(AUDIT_LOGGER)


def audit_line(scope: dict, status: int, audit: Audit) -> str:
    client = scope.get("client")
    drops = audit.drops
    return " ".join(
        [
            f"time={dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}",
            f"remote={client[0] if client else '-'}",
            f"method={scope.get('method', '-')}",
            f"path={scope.get('path', '-')}",
            f"status={status}",
            f"key={audit.key_id}",
            f"cluster={audit.cluster}",
            f"rows={'-' if audit.rows is None else audit.rows}",
            f"drops={','.join(d.drop_id for d in drops) or '-'}",
            f"duplicate={str(bool(drops) and all(d.duplicate for d in drops)).lower()}",
        ]
    )


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
