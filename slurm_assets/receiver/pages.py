"""The receiver's human pages: a small root page and the API docs served from local assets.

Air-gapped centres have no CDN: FastAPI's default /docs loads Swagger UI from
jsDelivr and stays blank offline. The Swagger UI and ReDoc bundles come from the
``fastapi-offline`` wheel (its static folder; we use only the files, with
FastAPI's own page builders) and are served under ``/docs-assets``.
"""

import html
import importlib.resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from slurm_assets import __version__

ASSETS = "/docs-assets"


def _root_html(title: str) -> str:
    t = html.escape(title)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;line-height:1.5;padding:0 1rem}}
code{{background:#f3f3f3;padding:0 .25rem}}</style></head>
<body><h1>{t}</h1>
<p>Version {html.escape(__version__)}. This service receives SLURM accounting drops from the cluster agents
(<code>POST /api/data/ingest</code> with an <code>X-API-Key</code>) and stores them in the landing zone.
It shows no usage data: that is the dashboard's job.</p>
<ul>
<li><a href="docs">API documentation (Swagger UI)</a> · <a href="redoc">ReDoc</a> ·
<a href="openapi.json">OpenAPI schema</a></li>
<li><a href="api/dashboard/health">Health</a> (status only without a key)</li>
</ul></body></html>"""


def add_pages(app: FastAPI) -> None:
    """``/`` (what this is), ``/docs`` and ``/redoc`` from local assets; call with docs_url=redoc_url=None."""
    static = importlib.resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def root() -> HTMLResponse:
        return HTMLResponse(_root_html(app.title))

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
