"""Agent ``associations`` section -> ``associations`` rows: who belongs to and coordinates which account.

The section (docs/DROP_FORMAT.md, format /2) holds ``sacctmgr -P show associations`` rows
(account, parent, user) and ``sacctmgr -P show account withcoord`` coordinators. One table,
three kinds of row per cluster and day (a daily snapshot, the dashboard's source of roles):

* ``account``: an account and its parent account (the tree coordinators see down);
* ``user``: a user association with an account;
* ``coordinator``: a user coordinating an account.

Rows come only from the drop's own cluster (a drop cannot give anyone a role on
another cluster). Malformed entries (not objects, no account, non-string values) are
skipped; this never raises.
"""

import datetime as dt

import pyarrow as pa

from slurm_assets.sacct.fields import ASSOCIATIONS_SCHEMA

KINDS = ("account", "user", "coordinator")


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _collected_at(section: dict) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(section.get("collected_at", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


def _entries(section: dict, key: str) -> list[dict]:
    rows = section.get(key)
    return [r for r in rows if isinstance(r, dict) and _text(r.get("account"))] if isinstance(rows, list) else []


def associations_from_section(section: dict | None, cluster: str, day: str) -> pa.Table:
    """ASSOCIATIONS_SCHEMA rows for ``cluster`` on ``day`` (YYYY-MM-DD); empty for a missing section."""
    if not isinstance(section, dict):
        return ASSOCIATIONS_SCHEMA.empty_table()
    date, at = dt.date.fromisoformat(day), _collected_at(section)
    rows = set()
    for r in _entries(section, "associations"):
        user = _text(r.get("user"))
        if user:
            rows.add(("user", _text(r["account"]), None, user))
        else:
            rows.add(("account", _text(r["account"]), _text(r.get("parent")), None))
    for r in _entries(section, "coordinators"):
        if _text(r.get("user")):
            rows.add(("coordinator", _text(r["account"]), None, _text(r["user"])))
    ordered = sorted(rows, key=lambda r: (KINDS.index(r[0]), r[1], r[2] or "", r[3] or ""))
    return pa.Table.from_pylist(
        [
            {"cluster": cluster, "date": date, "kind": k, "account": a, "parent": p, "user": u, "collected_at": at}
            for k, a, p, u in ordered
        ],
        schema=ASSOCIATIONS_SCHEMA,
    )
