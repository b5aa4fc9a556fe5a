"""Protects the receiver API contract (DESIGN.md "Receiver API"): one TestClient test per status code.

200 (stored / duplicate / empty seed body), 401, 403, 413 (body, JSON, gzip bomb),
415, 422 (each malformed body names what is wrong), 503 (read-only data dir),
507 (full data volume), the health endpoint and the OpenAPI description.
"""

import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.receiver.app import create_app
from slurm_assets.settings import ReceiverSettings
from slurm_assets.storage import landing
from slurm_assets_tests.receiver.conftest import (
    ALPHA_KEY,
    API_KEYS,
    HASHED_KEY,
    MAX_BODY,
    MAX_JSON,
    MAX_TEXT,
    SHARED_KEY,
    drop_body,
    make_drop,
    native_headers,
    sacct_text,
    stored_files,
)

INGEST = "/api/data/ingest"
HEALTH = "/api/dashboard/health"


def client_for(data_dir: Path, api_keys: str = API_KEYS) -> TestClient:
    settings = ReceiverSettings(
        api_keys=api_keys,
        data_dir=data_dir,
        max_body_bytes=MAX_BODY,
        max_text_bytes=MAX_TEXT,
        max_json_bytes=MAX_JSON,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def client(tmp_path):
    return client_for(tmp_path / "data")


def post_drop(client, manifest, gz, key=SHARED_KEY):
    return client.post(INGEST, content=drop_body(manifest, gz), headers=native_headers(key))


# ---- 200 ---------------------------------------------------------------------------------------


def test_native_drop_is_stored_then_answers_duplicate(client, tmp_path):
    manifest, gz = make_drop()
    first = post_drop(client, manifest, gz)
    assert first.status_code == 200, first.text
    body = first.json()
    drop_id = manifest["sha256"][:16]
    assert body == {
        "status": "ok",
        "cluster": "alpha",
        "drop_id": drop_id,
        "rows": 3,
        "duplicate": False,
        "drops": [{"day": "2024-05-01", "drop_id": drop_id, "rows": 3, "duplicate": False}],
    }
    (ref,) = landing.list_drops(tmp_path / "data")
    assert ref.data_path.read_bytes() == gz  # the agent's bytes, as sent
    assert ref.manifest()["sha256"] == manifest["sha256"]
    again = post_drop(client, manifest, gz)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(stored_files(tmp_path / "data" / "landing")) == 2


def test_seed_example_with_no_jobs_stores_nothing(client, tmp_path):
    # The seed's curl example: {"hostname":"test","jobs":[]} with X-API-Key.
    response = client.post(INGEST, json={"hostname": "test", "jobs": []}, headers={"X-API-Key": SHARED_KEY})
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "cluster": "test",
        "drop_id": None,
        "rows": 0,
        "duplicate": False,
        "drops": [],
    }
    assert stored_files(tmp_path / "data" / "landing") == []


def test_seed_json_splits_by_utc_day_and_a_resent_body_is_a_duplicate(client, tmp_path):
    body = {
        "hostname": "beta",
        "jobs": [
            {"JobID": "1", "State": "COMPLETED", "End": "2024-05-01T23:30:00"},
            {
                "JobID": "2",
                "State": "RUNNING",
                "Start": "2024-05-02T01:00:00",
                "End": "Unknown",
            },
            {
                "JobID": "3",
                "State": "COMPLETED",
                "End": "2024-05-02T00:30:00+02:00",
            },  # 22:30 UTC on May 1
        ],
    }
    first = client.post(INGEST, json=body, headers={"X-API-Key": HASHED_KEY})
    assert first.status_code == 200, first.text
    assert [(d["day"], d["rows"]) for d in first.json()["drops"]] == [
        ("2024-05-01", 2),
        ("2024-05-02", 1),
    ]
    refs = landing.list_drops(tmp_path / "data")
    assert [(r.cluster, r.day, r.manifest()["source"]) for r in refs] == [
        ("beta", "2024-05-01", "json"),
        ("beta", "2024-05-02", "json"),
    ]
    # times as sacct prints them under TZ=UTC; JobIDRaw added from JobID (seed_json.py)
    assert landing.read_drop_text(refs[0]) == (
        b"JobID|State|End|JobIDRaw\n1|COMPLETED|2024-05-01T23:30:00|1\n3|COMPLETED|2024-05-01T22:30:00|3\n"
    )
    again = client.post(INGEST, json=body, headers={"X-API-Key": HASHED_KEY})
    assert again.json()["duplicate"] is True
    assert len(landing.list_drops(tmp_path / "data")) == 2


# ---- 401 / 403 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "missing X-API-Key"),  # no key at all
        (
            {"X-API-Key": "not-a-key"},
            "unknown API key (id ",
        ),  # wrong key: its id, never the key
        (
            {"X-API-Key": hashlib.sha256(HASHED_KEY.encode()).hexdigest()},
            "unknown API key",
        ),  # the hash is no key
    ],
)
def test_missing_or_unknown_key_is_401(client, headers, message):
    response = client.post(INGEST, json={"hostname": "test", "jobs": []}, headers=headers)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert "not-a-key" not in response.text


def test_no_configured_keys_is_401_saying_so(tmp_path):
    client = client_for(tmp_path / "data", api_keys="")
    response = client.post(INGEST, json={"hostname": "test", "jobs": []}, headers={"X-API-Key": "x"})
    assert response.status_code == 401 and "API_KEYS" in response.json()["detail"]


def test_key_bound_to_alpha_gets_403_for_beta(client, tmp_path):
    manifest, gz = make_drop(cluster="beta")
    native = post_drop(client, manifest, gz, key=ALPHA_KEY)
    seed = client.post(INGEST, json={"hostname": "beta", "jobs": []}, headers={"X-API-Key": ALPHA_KEY})
    assert (native.status_code, seed.status_code) == (403, 403)
    assert "'beta'" in native.json()["detail"]
    assert stored_files(tmp_path / "data" / "landing") == []
    assert post_drop(client, *make_drop(cluster="alpha"), key=ALPHA_KEY).status_code == 200


# ---- 413 ---------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(client, tmp_path):
    manifest, gz = make_drop(text=os.urandom(MAX_BODY))  # random: gzip cannot shrink it
    response = post_drop(client, manifest, gz)
    assert response.status_code == 413 and "SLURM_USAGE_MAX_BODY_BYTES" in response.json()["detail"]
    assert stored_files(tmp_path / "data") == []  # the spooled body is gone too


def test_json_body_over_the_limit_is_413(client):
    jobs = [{"JobID": str(i), "End": "2024-05-01T00:00:00", "Name": "x" * 100} for i in range(MAX_JSON // 100)]
    response = client.post(
        INGEST,
        json={"hostname": "alpha", "jobs": jobs},
        headers={"X-API-Key": SHARED_KEY},
    )
    assert response.status_code == 413 and "SLURM_USAGE_MAX_JSON_BYTES" in response.json()["detail"]


def test_gzip_bomb_is_413(client, tmp_path):
    text = b"\0" * (MAX_TEXT * 4)
    manifest, gz = make_drop(text=text)
    assert len(gz) < MAX_BODY  # small on the wire, large when decompressed
    response = post_drop(client, manifest, gz)
    assert response.status_code == 413 and "SLURM_USAGE_MAX_TEXT_BYTES" in response.json()["detail"]
    assert stored_files(tmp_path / "data") == []


# ---- 415 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/gzip", None])
def test_unknown_content_type_is_415(client, content_type):
    headers = {"X-API-Key": SHARED_KEY} | ({"Content-Type": content_type} if content_type else {})
    response = client.post(INGEST, content=b"JobID|State\n", headers=headers)
    assert response.status_code == 415
    assert "application/x-slurm-usage-drop" in response.json()["detail"]


# ---- 422 ---------------------------------------------------------------------------------------


def _native_422_cases():
    manifest, gz = make_drop()
    other_manifest, other_gz = make_drop(text=sacct_text(2))
    yield "empty body", b"", "empty body"
    yield (
        "manifest not JSON",
        b"{not json\n" + gz,
        "line 1 (manifest): drop stream: manifest is not JSON",
    )
    yield "manifest not UTF-8", b"\xff\xfe\n" + gz, "line 1 (manifest)"
    yield (
        "manifest lacks a key",
        drop_body({k: v for k, v in manifest.items() if k != "sha256"}, gz),
        "'sha256'",
    )
    yield (
        "traversal cluster",
        drop_body({**manifest, "cluster": "../x"}, gz),
        "invalid cluster name '../x'",
    )
    yield (
        "slash in cluster",
        drop_body({**manifest, "cluster": "a/b"}, gz),
        "invalid cluster name 'a/b'",
    )
    yield (
        "empty cluster",
        drop_body({**manifest, "cluster": ""}, gz),
        "invalid cluster name ''",
    )
    yield (
        "300-char cluster",
        drop_body({**manifest, "cluster": "c" * 300}, gz),
        "invalid cluster name",
    )
    yield (
        "bad day",
        drop_body({**manifest, "day": "2024-13-01"}, gz),
        "invalid day '2024-13-01'",
    )
    yield (
        "gzip_size too small",
        drop_body({**manifest, "gzip_size": len(gz) - 1}, gz),
        "send one drop per request",
    )
    yield "truncated", drop_body(manifest, gz)[:-5], "truncated upload"
    yield (
        "two drops",
        drop_body(manifest, gz) + drop_body(other_manifest, other_gz),
        "one drop per request",
    )
    yield (
        "sha256 mismatch",
        drop_body({**manifest, "sha256": "0" * 64}, gz),
        "manifest says " + "0" * 64,
    )
    yield (
        "rows mismatch",
        drop_body({**manifest, "rows": 7}, gz),
        "the data has 3 rows after the header, manifest",
    )
    corrupt = gz[:10] + bytes(len(gz) - 10)
    yield "corrupt gzip", drop_body(manifest, corrupt), "not valid gzip"


@pytest.mark.parametrize(
    "name, body, message",
    list(_native_422_cases()),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_native_drop_is_422_naming_the_problem(client, tmp_path, name, body, message):
    response = client.post(INGEST, content=body, headers=native_headers())
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert landing.list_drops(tmp_path / "data") == []


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{", "body is not JSON: Expecting property name"),  # cut short
        (b"[" * 100_000, "body is not"),  # absurd nesting is an answer, not a crash
        (b"[]", "must be a JSON object"),
        (b'{"jobs": []}', "'hostname'"),
        (
            b'{"hostname": "../x", "jobs": []}',
            "invalid cluster name '../x'",
        ),  # traversal
        (b'{"hostname": "a/b", "jobs": []}', "invalid cluster name 'a/b'"),
        (b'{"hostname": "", "jobs": []}', "invalid cluster name ''"),
        (b'{"hostname": "' + b"h" * 300 + b'", "jobs": []}', "invalid cluster name"),
        (b'{"hostname": "alpha"}', "'jobs'"),
        (b'{"hostname": "alpha", "jobs": [1]}', "jobs[0] must be an object"),
        # sacct -P cannot carry a '|' inside a value: refused, naming job and field
        (
            b'{"hostname": "alpha", "jobs": [{"End": "2024-05-01T00:00:00", "JobName": "a|b"}]}',
            "jobs[0].JobName",
        ),
        (
            b'{"hostname": "alpha", "jobs": [{"End": "2024-05-01T00:00:00", "X": {"y": 1}}]}',
            "jobs[0].X",
        ),
        (
            b'{"hostname": "alpha", "jobs": [{"JobID": "1"}, {"JobID": "2", "End": "x"}]}',
            "jobs[0]: no End",
        ),
        (
            b'{"hostname": "alpha", "jobs": [{"End": "yesterday"}]}',
            "jobs[0].End: 'yesterday' is not a timestamp",
        ),
        # lone surrogates are valid JSON escapes but no Unicode text: refused, and the answer still encodes
        (b'{"hostname": "a", "jobs": [{"End": "2024-05-01T00:00:00", "N": "\\ud800"}]}', "jobs[0].N: value"),
        (b'{"hostname": "a", "jobs": [{"End": "2024-05-01T00:00:00", "\\udc00": 1}]}', "not valid Unicode"),
        (b'{"hostname": "\\ud800", "jobs": []}', "invalid cluster name"),
        (b'{"hostname": "\\ud800\\u00e9|", "jobs": []}', "invalid cluster name"),
    ],
)
def test_malformed_json_is_422_naming_the_problem(client, tmp_path, body, message):
    headers = {"X-API-Key": SHARED_KEY, "Content-Type": "application/json"}
    response = client.post(INGEST, content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert stored_files(tmp_path / "data") == []


# ---- 503 / 507: real read-only and full file systems (tmpfs) ----------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs at tmp_path/fs (needs root, as on CI and the testbed machine)."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill up or make read-only needs root")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_read_only_data_dir_is_503_and_health_says_so(tiny_tmpfs):
    client = client_for(tiny_tmpfs / "data")
    assert client.get(HEALTH).status_code == 200
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    response = post_drop(client, *make_drop())
    assert response.status_code == 503 and "not writable (EROFS)" in response.json()["detail"]
    seed = client.post(
        INGEST,
        json={"hostname": "alpha", "jobs": [{"End": "2024-05-01T00:00:00"}]},
        headers={"X-API-Key": SHARED_KEY},
    )
    assert seed.status_code == 503
    health = client.get(HEALTH, headers={"X-API-Key": SHARED_KEY})
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy" and health.json()["data_dir_writable"] is False
    keyless = client.get(HEALTH)
    assert keyless.status_code == 503 and set(keyless.json()) == {"status", "time"}


def test_full_data_volume_is_507(tiny_tmpfs):
    client = client_for(tiny_tmpfs / "data")
    manifest, gz = make_drop(text=os.urandom(400 * 1024).hex().encode())  # ~460 KiB of gzip on a 256 KiB fs
    response = post_drop(client, manifest, gz)
    assert response.status_code == 507 and "no space left" in response.json()["detail"]
    jobs = [
        {
            "JobID": str(i),
            "End": "2024-05-01T00:00:00",
            "Comment": os.urandom(400).hex(),
        }
        for i in range(900)
    ]  # ~360 KiB gzip
    seed = client.post(
        INGEST,
        json={"hostname": "alpha", "jobs": jobs},
        headers={"X-API-Key": SHARED_KEY},
    )
    assert seed.status_code == 507
    assert landing.list_drops(tiny_tmpfs / "data") == []


# ---- health and OpenAPI ------------------------------------------------------------------------


def test_health_reports_each_cluster_without_secrets(client):
    assert post_drop(client, *make_drop(day="2024-05-03")).status_code == 200
    response = client.get(HEALTH, headers={"X-API-Key": SHARED_KEY})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["data_dir_writable"] is True
    assert body["clusters"]["alpha"]["latest_day"] == "2024-05-03"
    assert body["clusters"]["alpha"]["last_drop_at"].endswith("Z")
    assert SHARED_KEY not in response.text and "shared-key" not in response.text


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-a-key"}], ids=["no key", "unknown key"])
def test_health_without_a_valid_key_tells_status_only(client, headers):
    # Issue 18: the key-less health listed every cluster with its last drop.
    assert post_drop(client, *make_drop(day="2024-05-03")).status_code == 200
    response = client.get(HEALTH, headers=headers)
    assert response.status_code == 200
    assert set(response.json()) == {"status", "time"} and response.json()["status"] == "healthy"
    assert "alpha" not in response.text and "2024-05-03" not in response.text


def test_health_with_a_bound_key_lists_only_its_clusters(client):
    assert post_drop(client, *make_drop(day="2024-05-03")).status_code == 200
    assert post_drop(client, *make_drop(cluster="beta")).status_code == 200
    assert set(client.get(HEALTH, headers={"X-API-Key": ALPHA_KEY}).json()["clusters"]) == {"alpha"}
    assert set(client.get(HEALTH, headers={"X-API-Key": SHARED_KEY}).json()["clusters"]) == {"alpha", "beta"}


def test_openapi_describes_both_endpoints():
    schema = create_app(ReceiverSettings(api_keys="", data_dir="/nonexistent")).openapi()
    ingest = schema["paths"]["/api/data/ingest"]["post"]
    assert set(ingest["requestBody"]["content"]) == {
        "application/x-slurm-usage-drop",
        "application/json",
    }
    assert set(ingest["responses"]) == {
        "200",
        "401",
        "403",
        "413",
        "415",
        "422",
        "503",
        "507",
    }
    assert ingest["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IngestResponse"
    }
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    health = schema["paths"]["/api/dashboard/health"]["get"]
    assert set(health["responses"]) == {"200", "503"}


def test_stored_json_drop_parses_like_a_native_one(client, tmp_path):
    # The manifest the receiver writes for a seed JSON drop is a valid drop-format manifest.
    body = {
        "hostname": "alpha",
        "jobs": [{"JobID": "9", "End": "2024-05-01T03:00:00", "AllocCPUS": 4}],
    }
    assert client.post(INGEST, json=body, headers={"X-API-Key": SHARED_KEY}).status_code == 200
    (ref,) = landing.list_drops(tmp_path / "data")
    manifest = landing.validate_manifest(ref.manifest())
    assert manifest["fields"] == ["JobID", "End", "AllocCPUS", "JobIDRaw", "AllocTRES"] and manifest["rows"] == 1
    assert (
        gzip.decompress(ref.data_path.read_bytes())
        == b"JobID|End|AllocCPUS|JobIDRaw|AllocTRES\n9|2024-05-01T03:00:00|4|9|cpu=4\n"
    )
    assert (
        json.loads(ref.manifest_path.read_text())["received_key_id"]
        == hashlib.sha256(SHARED_KEY.encode()).hexdigest()[:8]
    )


def test_startup_removes_only_stale_partial_uploads_and_landing_leftovers(tmp_path):
    incoming = tmp_path / "data" / "landing" / ".incoming"
    incoming.mkdir(parents=True)
    stale, fresh = incoming / "upload-old.part", incoming / "upload-new.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))  # left by a receiver that crashed long ago
    day = tmp_path / "data" / "landing" / "alpha" / "2024-05-01"
    day.mkdir(parents=True)
    orphan, temp = day / "0123456789abcdef.psv.gz", day / ".0123456789abcdef.manifest.json.k2.tmp"
    for p in (orphan, temp):  # killed between the data and the manifest renames, long ago
        p.write_bytes(b"z")
        os.utime(p, (0, 0))
    with client_for(tmp_path / "data") as client:  # the context manager runs the lifespan
        assert client.get(HEALTH).status_code == 200
    assert not stale.exists() and fresh.exists()
    assert not orphan.exists() and not temp.exists()
    assert landing.list_drops(tmp_path / "data") == []


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    replaced=st.dictionaries(st.sampled_from(sorted(make_drop()[0])), _json_values, max_size=3),
    tail=st.sampled_from(["gzip", "empty", "junk", "cut"]),
)
def test_any_manifest_mutation_gets_an_answer_never_a_500(tmp_path_factory, replaced, tail):
    # Whatever a client puts in the manifest line, the answer is a 2xx/4xx with a detail.
    manifest, gz = make_drop()
    manifest.update(replaced)
    data = {"gzip": gz, "empty": b"", "junk": b"\x1f\x8b junk", "cut": gz[: len(gz) // 2]}[tail]
    client = client_for(tmp_path_factory.mktemp("fuzz") / "data")
    response = client.post(INGEST, content=drop_body(manifest, data), headers=native_headers())
    assert response.status_code in (200, 403, 413, 422), response.text
    if response.status_code != 200:
        assert response.json()["detail"]


def test_app_without_settings_reads_the_environment_at_startup(tmp_path, monkeypatch):
    from slurm_assets.receiver import app as app_module

    monkeypatch.setenv("API_KEYS", "from-env:alpha")
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(tmp_path / "env-data"))
    with TestClient(create_app()) as client:
        response = post_drop(client, *make_drop(), key="from-env")
    assert response.status_code == 200
    assert [r.cluster for r in landing.list_drops(tmp_path / "env-data")] == ["alpha"]
    assert getattr(app_module.app.state, "runtime", None) is None  # importing read nothing


def test_audit_lines_are_json_and_a_newline_in_the_path_cannot_forge_one(client, caplog):
    # Issue 18: a request path with %0a wrote a forged key=value line into the audit log.
    import logging

    from slurm_assets.receiver.audit import AUDIT_LOGGER

    forged = "/api/data/ingest%0atime=2024-01-01T00:00:00Z remote=10.0.0.1 status=200 key=deadbeef cluster=alpha"
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        client.post(forged, content=b"x", headers=native_headers())
        client.post(INGEST, content=drop_body(*make_drop()), headers=native_headers())
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER]
    assert len(lines) == 2 and all("\n" not in line and "\r" not in line for line in lines)
    first, second = (json.loads(line) for line in lines)
    assert first["path"].startswith("/api/data/ingest\ntime=") and first["status"] == 404
    assert first["key"] is None and first["cluster"] is None
    assert second["status"] == 200 and second["cluster"] == "alpha" and second["rows"] == 3
