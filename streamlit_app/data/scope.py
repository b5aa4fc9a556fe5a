"""Who may see which rows: the viewer's scope, applied in the SQL of every dashboard query.

A scope is resolved once per session from the login (``streamlit_app/auth.py``) and the
``associations`` table (Slurm's own account tree and coordinators, per cluster):

* ``admin``: every row;
* ``coordinator``: the rows of the (cluster, account) pairs they coordinate, sub-accounts
  included (the account tree of that cluster's latest snapshot), and their own jobs;
* ``user``: their own jobs only (rows whose ``user`` is theirs);
* ``nobody`` (not logged in, the default of ``Filters``): no row at all.

Enforced where data is read: ``core.where`` adds ``people_condition`` to every query of a
table with ``user``/``account`` columns, so a URL naming another user or account selects
nothing beyond the scope. Tables without people (capacity, drops) are cluster facts and
shown to every viewer; quarantined raw lines are for admins only.
"""

import dataclasses

ADMIN, COORDINATOR, USER, NOBODY = "admin", "coordinator", "user", "nobody"
ROLES = (ADMIN, COORDINATOR, USER, NOBODY)
_SEP = "/"  # cluster names never hold "/" (paths.check_cluster_name), so cluster/account is unambiguous


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a viewer may see; ``accounts`` are (cluster, account) pairs; ``site_totals``: cluster-wide KPIs."""

    role: str = NOBODY
    user: str | None = None
    accounts: tuple[tuple[str, str], ...] = ()
    site_totals: bool = False

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: expected one of {ROLES}")

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def label(self) -> str:
        """How the page header names the scope."""
        if self.role == ADMIN:
            return "all clusters, accounts and users (admin)"
        if self.role == NOBODY:
            return "nothing (not logged in)"
        mine = f"jobs of {self.user}"
        if not self.accounts:
            return mine
        shown = ", ".join(f"{a} ({c})" for c, a in self.accounts[:6]) + (" ..." if len(self.accounts) > 6 else "")
        return f"{mine} and accounts {shown}"


ADMIN_SCOPE = Scope(ADMIN)
NOBODY_SCOPE = Scope(NOBODY)


def people_condition(scope: Scope) -> tuple[str, tuple]:
    """(SQL condition, params) limiting a table with ``cluster``, ``account`` and ``user`` columns to ``scope``."""
    if scope.role == ADMIN:
        return "true", ()
    if scope.role == NOBODY or not scope.user:
        return "false", ()
    if not scope.accounts:
        return '"user" = ?', (scope.user,)
    pairs = tuple(sorted(f"{c}{_SEP}{a}" for c, a in scope.accounts))
    return f"(\"user\" = ? OR list_contains(?::VARCHAR[], cluster || '{_SEP}' || account))", (scope.user, pairs)


def admin_condition(scope: Scope) -> str:
    """SQL condition for admin-only tables (quarantined raw lines hold other users' records)."""
    return "true" if scope.role == ADMIN else "false"


# The coordinated accounts and every account below them, per cluster, from each cluster's latest snapshot.
COORDINATED_SQL = """
    WITH RECURSIVE latest AS (
        SELECT * FROM associations a
        WHERE "date" = (SELECT max("date") FROM associations b WHERE b.cluster = a.cluster)),
    tree(cluster, account) AS (
        SELECT DISTINCT cluster, account FROM latest WHERE kind = 'coordinator' AND "user" = ?
        UNION
        SELECT l.cluster, l.account FROM latest l JOIN tree t ON l.cluster = t.cluster AND l.parent = t.account
        WHERE l.kind = 'account')
    SELECT DISTINCT cluster, account FROM tree ORDER BY 1, 2
"""


def resolve(user: str | None, *, admin: bool, site_totals: bool, coordinated: list[tuple[str, str]]) -> Scope:
    """The scope of a logged-in ``user`` given the (cluster, account) pairs COORDINATED_SQL found for them."""
    if admin:
        return Scope(ADMIN, user, (), True)
    if not user:
        return NOBODY_SCOPE
    pairs = tuple(sorted({(str(c), str(a)) for c, a in coordinated}))
    return Scope(COORDINATOR if pairs else USER, user, pairs, site_totals)
