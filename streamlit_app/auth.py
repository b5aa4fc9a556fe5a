"""Login (Streamlit's OIDC: ``st.login``/``st.user``, configured in ``.streamlit/secrets.toml`` ``[auth]``)
and the viewer's scope.

* With ``[auth]``: a browser that has not logged in gets a login button and no data. The Slurm user
  name is the claim ``SLURM_USAGE_DASHBOARD_USER_CLAIM`` (default ``preferred_username``), mapped
  through the optional JSON file ``SLURM_USAGE_DASHBOARD_USER_MAP``; admins are listed by name
  (``..._ADMINS``) or by a group in the groups claim (``..._ADMIN_GROUP``); everyone else is a
  coordinator or user by Slurm's associations (``data/scope.py``).
* Without ``[auth]``: one local operator sees everything, so the server must listen on loopback
  only; another address is refused unless ``SLURM_USAGE_DASHBOARD_ALLOW_NO_LOGIN`` is set (logged
  loudly at every session start).
"""

import json
import logging
import re

import streamlit as st

from slurm_assets import settings
from streamlit_app import audit, data

log = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SCOPE_KEY = "_viewer_scope"
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}")  # what a Slurm user name can be


def auth_configured() -> bool:
    """Whether ``[auth]`` is in Streamlit's secrets (no secrets file: not configured)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml at all, or an unreadable one
        return False


def serving_address() -> str:
    return str(st.get_option("server.address") or "")


def slurm_user(claims: dict, cfg: dict) -> str | None:
    """The Slurm user name of a login: the configured claim, through the mapping file if any."""
    value = claims.get(cfg["user_claim"])
    name = value.strip() if isinstance(value, str) else None
    if name and cfg["user_map"]:
        try:
            with open(cfg["user_map"], encoding="utf-8") as fh:
                mapping = json.load(fh)
        except (OSError, ValueError) as err:
            log.error("user map %s unreadable (%s): nobody is mapped", cfg["user_map"], err)
            mapping = {}
        name = mapping.get(name, name) if isinstance(mapping, dict) else name
    return name if isinstance(name, str) and _USER_RE.fullmatch(name) else None


def is_admin(user: str | None, claims: dict, cfg: dict) -> bool:
    if user and user in cfg["admins"]:
        return True
    groups = claims.get(cfg["groups_claim"])
    groups = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    return bool(cfg["admin_group"]) and cfg["admin_group"] in groups


def _local_viewer(cfg: dict) -> data.Scope:
    """No login configured: everything, but only on loopback (or with the explicit, loudly logged setting)."""
    address = serving_address()
    if address not in LOOPBACK:
        if not cfg["allow_no_login"]:
            st.error(
                f"This dashboard has no login configured ([auth] in .streamlit/secrets.toml) and listens on "
                f"{address or 'all interfaces'}: it shows nothing. Bind it to 127.0.0.1 "
                "(--server.address 127.0.0.1, as .streamlit/config.toml does), configure login "
                "(docs/DASHBOARD.md), or set SLURM_USAGE_DASHBOARD_ALLOW_NO_LOGIN=1 to serve everyone."
            )
            st.stop()
        log.warning(
            "SLURM_USAGE_DASHBOARD_ALLOW_NO_LOGIN is set: serving every user's jobs WITHOUT LOGIN on %s",
            address or "all interfaces",
        )
    return data.ADMIN_SCOPE


def _login_page() -> None:
    st.title("SLURM usage")
    st.info("Log in to see the usage of your jobs and accounts.")
    st.button("Log in", type="primary", on_click=st.login, key="login")
    st.stop()


def viewer() -> data.Scope:
    """The viewer's scope (this session); without a login, the login page (and ``st.stop``).

    Recomputed whenever the data version changes, so a coordinator added or removed in Slurm takes
    effect with the next associations snapshot, within an open session (a role change is audited).
    """
    cfg = settings.dashboard_access()
    if not auth_configured():
        return _local_viewer(cfg)
    if not st.user.is_logged_in:
        _login_page()
    claims = st.user.to_dict()
    key, version = (claims.get("iss"), claims.get("sub")), data.current_version()
    cached = st.session_state.get(_SCOPE_KEY)
    if cached and cached[0] == key and cached[1] == version:
        return cached[2]
    user = slurm_user(claims, cfg)
    scope = data.viewer_scope(user, admin=is_admin(user, claims, cfg), site_totals=cfg["site_totals"])
    accounts = [f"{c}/{a}" for c, a in scope.accounts]
    if not cached or cached[0] != key:
        audit.record("login", user=user, sub=claims.get("sub"), role=scope.role, accounts=accounts)
    elif cached[2] != scope:
        audit.record(
            "scope_change",
            user=user,
            sub=claims.get("sub"),
            role=scope.role,
            accounts=accounts,
            previous_role=cached[2].role,
        )
    st.session_state[_SCOPE_KEY] = (key, version, scope)
    return scope


def sidebar(scope: data.Scope) -> None:
    """Who is logged in, what they see, and the logout button."""
    if not auth_configured():
        return
    st.sidebar.caption(f"Logged in as **{scope.user or '(no Slurm user name)'}** ({scope.role}): {scope.label()}")
    st.sidebar.button("Log out", on_click=st.logout, key="logout")
