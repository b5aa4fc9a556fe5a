"""The viewer's scope from Slurm's associations, and the site-wide totals a scope may see.

Separate from ``scope`` (pure: conditions, roles) because it queries the warehouse.
"""

import dataclasses

from streamlit_app.data.core import Filters, query
from streamlit_app.data.metrics import kpis
from streamlit_app.data.scope import ADMIN_SCOPE, COORDINATED_SQL, Scope, resolve


def viewer_scope(user: str | None, *, admin: bool, site_totals: bool) -> Scope:
    """The scope of ``user``: admin as configured, else coordinator of what ``associations`` says, else user."""
    coordinated = [] if admin or not user else list(query(COORDINATED_SQL, (user,)).itertuples(index=False))
    return resolve(user, admin=admin, site_totals=site_totals, coordinated=coordinated)


def site_kpis(f: Filters) -> dict | None:
    """Cluster-wide KPIs over the date range and clusters of ``f`` (no user/account filter), if the scope may."""
    if not (f.scope.is_admin or f.scope.site_totals):
        return None
    return kpis(dataclasses.replace(f, scope=ADMIN_SCOPE, accounts=(), users=(), partitions=(), qos=(), states=()))
