"""Freshness at a glance: each cluster's data age against a threshold, and a notice when newer data exists.

A cluster is stale when its last drop was collected more than
``settings.stale_after_h()`` hours ago (``SLURM_USAGE_STALE_AFTER_H``; or it never
sent one). An open tab checks the warehouse's data version every
``settings.version_check_s()`` seconds in a fragment (only that small part
reruns) and, when it changed since the page was drawn, offers a refresh: the
numbers shown stay the ones of the version they were computed on until then.
"""

import datetime as dt

import pandas as pd
import streamlit as st

from slurm_assets import settings
from streamlit_app import data

_SEEN = "_data_version_seen"


def with_age(status: pd.DataFrame, now: dt.datetime, stale_after_h: float) -> pd.DataFrame:
    """``status`` plus ``age_h`` (hours since the last drop) and ``fresh`` ("fresh" / "stale")."""
    out = status.copy()
    collected = pd.to_datetime(out["last_drop_collected_at"], utc=True)
    out["age_h"] = (pd.Timestamp(now) - collected).dt.total_seconds() / 3600.0
    stale = out["age_h"].isna() | (out["age_h"] > stale_after_h)
    out["fresh"] = stale.map({True: "stale", False: "fresh"})
    return out


def age_text(hours) -> str:
    if pd.isna(hours):
        return "no drop yet"
    if hours < 48:
        return f"{hours:,.1f} h"
    return f"{hours / 24:,.1f} days"


def badge(row: dict, stale_after_h: float) -> str:
    """Markdown: the cluster's age, green when fresh and red when stale."""
    color = "red" if row["fresh"] == "stale" else "green"
    return (
        f":{color}-badge[{row['fresh']}] {age_text(row['age_h'])} since the last drop (stale after {stale_after_h:g} h)"
    )


def remember_version() -> None:
    """Called on every full run: the version the page's numbers come from."""
    st.session_state[_SEEN] = data.current_version()


def newer_version() -> bool:
    seen = st.session_state.get(_SEEN)
    return seen is not None and data.current_version() != seen


def notice() -> None:
    """Sidebar notice, refreshed on its own every few seconds, when the warehouse has a newer data version."""

    @st.fragment(run_every=settings.version_check_s())
    def _check() -> None:
        if newer_version():
            st.warning(
                "Newer data is available: the numbers on this page are from an older version.", icon=":material/update:"
            )
            if st.button("Refresh", key="fresh_refresh", icon=":material/refresh:"):
                st.rerun()

    remember_version()
    with st.sidebar:
        _check()
