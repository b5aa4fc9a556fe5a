"""Protects the dashboard's exposure rules and identity mapping (streamlit_app/auth.py, audit.py).

Without ``[auth]`` the app serves its local operator on loopback only: bound elsewhere it shows an
error and no data unless the explicit setting is on. The Slurm user name comes from the configured
claim through the optional mapping file; admins by name or group; audit lines are JSON.
"""

import json

import pytest
from streamlit import config as st_config

from slurm_assets import settings
from streamlit_app import audit, auth


@pytest.mark.parametrize("allowed", [False, True])
def test_no_login_on_another_address_is_refused_unless_set(open_app, warehouse, monkeypatch, allowed):
    if allowed:
        monkeypatch.setenv("SLURM_USAGE_DASHBOARD_ALLOW_NO_LOGIN", "1")
    original = st_config.set_option

    def bind_everywhere(key, value, *args, **kw):  # the fixture binds loopback; this test binds all interfaces
        return original(key, "0.0.0.0" if key == "server.address" and value == "127.0.0.1" else value, *args, **kw)

    monkeypatch.setattr(st_config, "set_option", bind_everywhere)
    at = open_app(warehouse, range="all")
    errors = " ".join(e.value for e in at.error)
    if allowed:
        assert not errors and len(at.metric) > 0
    else:
        assert "no login configured" in errors and "0.0.0.0" in errors
        assert len(at.metric) == 0 and len(at.dataframe) == 0 and not at.sidebar.multiselect


def _cfg(monkeypatch, tmp_path, **env) -> dict:
    for key, value in env.items():
        monkeypatch.setenv(f"SLURM_USAGE_DASHBOARD_{key}", value)
    return settings.dashboard_access()


def test_user_name_from_claim_and_mapping(monkeypatch, tmp_path):
    cfg = _cfg(monkeypatch, tmp_path)
    assert auth.slurm_user({"preferred_username": "alice", "email": "a@x"}, cfg) == "alice"
    assert auth.slurm_user({"email": "a@x"}, cfg) is None  # no claim: no user (sees nothing)
    assert auth.slurm_user({"preferred_username": "a b; DROP"}, cfg) is None  # not a Slurm user name
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"alice.smith@uni.example": "asmith"}))
    cfg = _cfg(monkeypatch, tmp_path, USER_CLAIM="email", USER_MAP=str(mapping))
    assert auth.slurm_user({"email": "alice.smith@uni.example"}, cfg) == "asmith"
    assert auth.slurm_user({"email": "bob@uni.example"}, cfg) == "bob@uni.example"  # unmapped: as is


def test_admins_by_name_or_group(monkeypatch, tmp_path):
    cfg = _cfg(monkeypatch, tmp_path, ADMINS="root, ops", ADMIN_GROUP="hpc-staff", GROUPS_CLAIM="roles")
    assert auth.is_admin("ops", {}, cfg)
    assert auth.is_admin("carol", {"roles": ["x", "hpc-staff"]}, cfg)
    assert auth.is_admin("carol", {"roles": "hpc-staff"}, cfg)
    assert not auth.is_admin("carol", {"groups": ["hpc-staff"]}, cfg)  # another claim
    assert not auth.is_admin(None, {}, _cfg(monkeypatch, tmp_path, ADMINS="", ADMIN_GROUP=""))


def test_audit_lines_are_json(monkeypatch, tmp_path):
    log = tmp_path / "audit" / "dash.jsonl"
    monkeypatch.setenv("SLURM_USAGE_DASHBOARD_AUDIT_LOG", str(log))
    audit.record("login", user="alice", role="user")
    audit.record("export", user="alice", what="jobs", rows=3)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["event"], x["user"]) for x in lines] == [("login", "alice"), ("export", "alice")]
    assert lines[1]["rows"] == 3 and lines[0]["time"].endswith("Z")


def test_x_forwarded_for_believed_only_from_a_trusted_proxy(monkeypatch, caplog):
    """The audit's client address: the peer, unless the peer is a configured proxy; then the nearest hop
    that is not a proxy (the client writes whatever it likes left of it)."""
    monkeypatch.setenv("SLURM_USAGE_DASHBOARD_TRUSTED_PROXIES", " 127.0.0.1, 10.1.0.0/16 ,not-an-ip")
    proxies = settings.dashboard_access()["trusted_proxies"]
    assert proxies == ("127.0.0.1/32", "10.1.0.0/16") and "not-an-ip" in caplog.text
    # untrusted peers: the header is ignored whatever it says
    assert audit.client_address("198.51.100.9", "203.0.113.7", proxies) == "198.51.100.9"
    assert audit.client_address("198.51.100.9", "10.1.2.3", proxies) == "198.51.100.9"
    assert audit.client_address("198.51.100.9", "203.0.113.7", ()) == "198.51.100.9"
    assert audit.client_address("127.0.0.1", "203.0.113.7", ()) == "127.0.0.1"  # nothing configured
    # a trusted proxy: the rightmost hop it appended; forged hops left of it are not believed
    assert audit.client_address("127.0.0.1", "203.0.113.7", proxies) == "203.0.113.7"
    assert audit.client_address("127.0.0.1", "6.6.6.6, 203.0.113.7", proxies) == "203.0.113.7"
    assert audit.client_address("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.9.9", proxies) == "203.0.113.7"
    assert audit.client_address("127.0.0.1", "", proxies) == "127.0.0.1"  # no header: the proxy itself
    assert audit.client_address("127.0.0.1", "junk, 203.0.113.7", proxies) == "203.0.113.7"
    assert audit.client_address("127.0.0.1", "203.0.113.7, junk", proxies) == "127.0.0.1"  # malformed: stop
    assert audit.client_address("::1", "203.0.113.7", proxies) == "::1"  # ::1 not listed: not trusted
    assert audit.client_address(None, "203.0.113.7", proxies) is None
