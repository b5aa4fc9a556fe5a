"""Protects the empty state: with no data (or a filter matching nothing) every page explains it, no exception."""

import pytest

PAGES = ["overview", "usage", "explorer", "utilization", "users_accounts", "gpus", "queue", "efficiency", "jobs",
         "data_status"]


@pytest.mark.parametrize("page", PAGES)
def test_empty_warehouse_page_explains(empty_warehouse, open_app, page):
    at = open_app(empty_warehouse, page)
    assert not at.error
    texts = [i.value for i in at.info]
    assert any("No data for" in t or "No materialized data yet" in t for t in texts), texts


@pytest.mark.parametrize("page", PAGES)
def test_filter_matching_nothing(warehouse, open_app, page):
    at = open_app(warehouse, page, range="custom", start="2001-01-01", end="2001-01-31")
    assert not at.error
    if page != "data_status":  # freshness and gaps cover all days
        assert any("No data for" in i.value for i in at.info), [i.value for i in at.info]
