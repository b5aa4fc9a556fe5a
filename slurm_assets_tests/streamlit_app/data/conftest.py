"""Fixtures for the data-layer tests: ``streamlit_app.data`` reading the synthetic warehouse."""

import pytest
import streamlit as st


@pytest.fixture
def app_data(warehouse, monkeypatch):
    """The session's synthetic warehouse as ``SLURM_USAGE_DATA_DIR``, with Streamlit's caches empty before and
    after (a cached result of another test's warehouse would hide what this one reads)."""
    monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(warehouse.root))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield warehouse
    st.cache_data.clear()
    st.cache_resource.clear()
