"""The receiver API (DESIGN.md "Receiver API"): routes only; the work is in ingest.py, auth.py, health.py.

Run it with the console script ``slurm-usage-receiver`` (receiver/cli.py) or any
ASGI server: ``uvicorn slurm_assets.receiver.app:app``. ``create_app(settings)``
builds an app for given settings; the module-level ``app`` reads
``ReceiverSettings`` (environment / ``.env``) at startup, not at import.
"""

import contextlib
import datetime as dt
import json
import logging

from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.requests import ClientDisconnect

from slurm_assets import __version__
from slurm_assets.receiver import auth, health, pages
from slurm_assets.receiver.audit import AuditMiddleware
from slurm_assets.receiver.ingest import (
    JSON_TYPE,
    NATIVE_TYPE,
    Audit,
    IngestError,
    Runtime,
    handle_ingest,
    sweep_incoming,
)
from slurm_assets.receiver.models import (
    ErrorResponse,
    HealthResponse,
    IngestResponse,
    StoredDropModel,
)
from slurm_assets.receiver.seed_json import TIMESTAMP_PATTERN
from slurm_assets.settings import ReceiverSettings
from slurm_assets.storage import landing
from slurm_assets.storage.paths import CLUSTER_NAME_RE

log = logging.getLogger(__name__)

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="an API key from the server's API_KEYS (401 if missing or unknown)",
)

_TIME_FIELDS = ("End", "Start", "Submit")
TS_RE = f"^{TIMESTAMP_PATTERN}$"
TS_OR_MISSING_RE = f"^(?:{TIMESTAMP_PATTERN}|Unknown|None|)$"
_NO_BAR = r"^[^|\r\n]*$"  # sacct -P text cannot carry '|' or line breaks

INGEST_BODY = {
    "required": True,
    "content": {
        NATIVE_TYPE: {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "one drop: the manifest as one line of JSON, then manifest.gzip_size "
                "bytes of gzip "
                "(docs/DROP_FORMAT.md)",
            }
        },
        JSON_TYPE: {
            "schema": {
                "type": "object",
                "required": ["hostname", "jobs"],
                "properties": {
                    "hostname": {
                        "type": "string",
                        "pattern": CLUSTER_NAME_RE.pattern,
                        "not": {"pattern": r"\.\."},
                        "description": "cluster",
                    },
                    "jobs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "description": "sacct field: value. The first of End, Start, Submit that holds a "
                            "time (UTC unless it has an offset) picks the day the job is filed under.",
                            "anyOf": [
                                {
                                    "required": [name],
                                    "properties": {name: {"type": "string", "pattern": TS_RE}},
                                }
                                for name in _TIME_FIELDS
                            ],
                            "properties": {
                                name: {
                                    "type": ["string", "null"],
                                    "pattern": TS_OR_MISSING_RE,
                                }
                                for name in _TIME_FIELDS
                            },
                            "propertyNames": {"pattern": r"^[^|\r\n]+$"},
                            "additionalProperties": {
                                "type": ["string", "number", "null"],
                                "pattern": _NO_BAR,
                            },
                        },
                    },
                },
            }
        },
    },
}

ERRORS = {
    401: "X-API-Key missing or unknown",
    403: "the key is not allowed to post for this cluster",
    413: "body over SLURM_USAGE_MAX_BODY_BYTES (JSON: SLURM_USAGE_MAX_JSON_BYTES) "
    "or decompressed data over SLURM_USAGE_MAX_TEXT_BYTES",
    415: f"Content-Type is neither {NATIVE_TYPE} nor {JSON_TYPE}",
    422: "malformed body; the detail names the field, line or job",
    503: "the data dir is not writable (read-only, permissions); retry later",
    507: "the data volume is full; retry later",
}


def runtime(app: FastAPI) -> Runtime:
    """Settings and parsed keys, read once per app (at startup, or at the first request without lifespan)."""
    current = getattr(app.state, "runtime", None)
    if current is None:
        settings = app.state.settings or ReceiverSettings()
        current = Runtime(
            settings,
            auth.parse_api_keys(settings.api_keys),
            settings.resolved_data_dir(),
        )
        app.state.runtime = current
    return current


def _error(err: IngestError) -> Response:
    # ASCII-escaped JSON: a detail quoting request text (even a lone surrogate) always encodes.
    body = json.dumps({"detail": err.detail}, ensure_ascii=True)
    return Response(body, status_code=err.status, media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    """At startup: the runtime (bad API_KEYS or settings stop the server, with the reason) and a sweep of what
    killed writers left in the landing zone."""
    rt = runtime(app)
    try:
        if removed := sweep_incoming(rt.data_dir):
            log.warning("removed %d stale partial upload(s) from landing/.incoming", removed)
    except OSError as err:
        log.warning("cannot clean landing/.incoming: %s", err)
    try:
        if removed := landing.sweep_stale(rt.data_dir):
            log.warning(
                "removed %d file(s) left by killed writers in the landing zone (temp files, "
                "data files without a manifest): %s",
                len(removed),
                ", ".join(str(p.relative_to(rt.data_dir)) for p in removed[:10]),
            )
    except OSError as err:
        log.warning("cannot clean the landing zone's leftovers: %s", err)
    yield


def ingest_response(audit: Audit, drops: list) -> IngestResponse:
    """The 200 answer for the stored drops (one for a native body, one per UTC day for seed JSON)."""
    return IngestResponse(
        status="ok",
        cluster=audit.cluster,
        drop_id=drops[0].drop_id if drops else None,
        rows=sum(d.rows for d in drops),
        duplicate=bool(drops) and all(d.duplicate for d in drops),
        drops=[StoredDropModel(day=d.day, drop_id=d.drop_id, rows=d.rows, duplicate=d.duplicate) for d in drops],
    )


def create_app(settings: ReceiverSettings | None = None) -> FastAPI:
    """The receiver app; ``settings=None`` reads ReceiverSettings from the environment at startup."""
    app = FastAPI(
        title="slurm-usage-history receiver",
        version=__version__,
        description="Receives SLURM accounting drops from cluster agents into the landing zone.",
        lifespan=lifespan,
        docs_url=None,  # pages.add_pages serves them from local assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    pages.add_pages(app)
    app.add_middleware(AuditMiddleware)

    @app.post(
        "/api/data/ingest",
        response_model=IngestResponse,
        summary="Store one drop (native) or a seed JSON body (split by UTC day)",
        responses={code: {"model": ErrorResponse, "description": text} for code, text in ERRORS.items()},
        openapi_extra={"requestBody": INGEST_BODY},
    )
    async def ingest(request: Request, x_api_key: str | None = Security(api_key_header)):
        audit = request.scope.get("state", {}).get("audit") or Audit()
        try:
            drops = await handle_ingest(request, x_api_key, runtime(request.app), audit)
        except IngestError as err:
            return _error(err)
        except ClientDisconnect:
            return _error(IngestError(400, "client disconnected before the body was complete"))
        return ingest_response(audit, drops)

    @app.get(
        "/api/dashboard/health",
        response_model=HealthResponse,
        response_model_exclude_unset=True,
        summary="Receiver health: status only; with X-API-Key also data dir, version, last drop per cluster",
        responses={
            503: {
                "model": HealthResponse,
                "description": "the data dir is not writable",
            }
        },
    )
    def dashboard_health(request: Request, x_api_key: str | None = Security(api_key_header)):
        rt = runtime(request.app)
        problem = health.check_writable(rt.data_dir)
        body = {
            "status": "unhealthy" if problem else "healthy",
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        # Without a key nothing but the status: the cluster list and their last drops are not public.
        key = auth.check_key(rt.keys, x_api_key) if x_api_key else None
        if key is not None:
            clusters = health.cluster_status(rt.data_dir)
            body |= {
                "version": __version__,
                "data_dir_writable": problem is None,
                "detail": problem,
                "clusters": {c: v for c, v in clusters.items() if key.allows(c)},
            }
        if problem:
            return JSONResponse(body, status_code=503)
        return HealthResponse(**body)

    return app


app = create_app()
