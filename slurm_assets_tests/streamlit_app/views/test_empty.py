"""Protects the empty state: with no data (or a filter matching nothing) every page explains it, no exception."""

PAGES = [
    "overview",
    "usage",
    "explorer",
    "utilization",
    "users_accounts",
    "gpus",
    "queue",
    "efficiency",
    "jobs",
    "data_status",
]


def _visit_all(at):
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        yield page, [i.value for i in at.info]


def test_empty_warehouse_every_page_explains(empty_warehouse, open_app):
    for page, texts in _visit_all(open_app(empty_warehouse)):
        assert any("No data for" in t or "No materialized data yet" in t for t in texts), (page, texts)


def test_filter_matching_nothing(warehouse, open_app):
    at = open_app(warehouse, range="custom", start="2001-01-01", end="2001-01-31")
    for page, texts in _visit_all(at):
        if page != "data_status":  # freshness and gaps cover all days
            assert any("No data for" in t for t in texts), (page, texts)
