"""The monthly reports (slurm_assets/reports/monthly.py files) a viewer may download.

Reports are files, not tables, so the scope is applied to their (cluster, account) names:
admins get all; coordinators the account reports of the accounts in their scope; the cluster-wide
reports go to admins and, where the site allows cluster totals, to everyone logged in.
"""

import urllib.parse
from pathlib import Path

import pandas as pd

from slurm_assets.reports.monthly import CLUSTER_FILE
from slurm_assets.sacct.catalog import REPORT_SPECS
from streamlit_app.data.core import data_dir
from streamlit_app.data.scope import Scope

COLUMNS = ["month", "cluster", "account", "csv", "pdf"]


def _account(stem: str) -> str | None:
    return None if stem == CLUSTER_FILE else urllib.parse.unquote(stem[len("account-") :])


def available_reports(scope: Scope, root: Path | None = None) -> pd.DataFrame:
    """month, cluster, account (None: the whole cluster), csv and pdf paths; newest month first."""
    folder = Path(root or data_dir()) / REPORT_SPECS["monthly_reports"].folder
    pairs = set(scope.accounts)
    rows = []
    for csv in sorted(folder.glob("*/*/*.csv")) if folder.exists() else []:
        cluster, month = csv.parent.name, csv.parent.parent.name
        if not (csv.stem == CLUSTER_FILE or csv.stem.startswith("account-")):
            continue
        account = _account(csv.stem)
        allowed = scope.is_admin or (
            (cluster, account) in pairs if account is not None else scope.site_totals and scope.role != "nobody"
        )
        if allowed and csv.with_suffix(".pdf").exists():
            rows.append([month, cluster, account, str(csv), str(csv.with_suffix(".pdf"))])
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(
        ["month", "cluster", "account"], ascending=[False, True, True], na_position="first", ignore_index=True
    )
