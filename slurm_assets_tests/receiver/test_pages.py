"""Protects the receiver's human pages: a root page, and API docs that work without internet (no CDN)."""

import re

import pytest

from slurm_assets_tests.receiver.test_app import client_for


@pytest.fixture
def client(tmp_path):
    with client_for(tmp_path) as c:
        yield c


def test_root_page_says_what_this_is(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "receives SLURM accounting drops" in resp.text
    for link in ('href="docs"', 'href="redoc"', 'href="api/dashboard/health"'):
        assert link in resp.text


@pytest.mark.parametrize("page, asset", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_load_only_local_assets(client, page, asset):
    resp = client.get(page)
    assert resp.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert sources and all(s.startswith("/docs-assets/") for s in sources), sources  # nothing from a CDN
    assert f"/docs-assets/{asset}" in sources
    for src in sources:
        got = client.get(src)
        assert got.status_code == 200 and len(got.content) > 1000, src
    assert client.get("/openapi.json").json()["paths"]["/api/data/ingest"]
