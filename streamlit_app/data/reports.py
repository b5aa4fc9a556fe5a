"""The monthly reports (slurm_assets/reports/monthly.py files) a viewer may download.

Reports are files, not tables, so the scope is applied to their (cluster, account) names:
admins get all; coordinators the account reports of the accounts in their scope; the cluster-wide
reports go to admins and, where the site allows cluster totals, to everyone logged in.
"""

import urllib.parse

import pandas as pd

from slurm_assets.reports.monthly import CLUSTER_FILE
from slurm_assets.storage import fs, tree
from slurm_assets.sacct.catalog import REPORT_SPECS
from streamlit_app.data.core import data_dir
from streamlit_app.data.scope import Scope

COLUMNS = ["month", "cluster", "account", "csv", "pdf"]


def _account(stem: str) -> str | None:
    return None if stem == CLUSTER_FILE else urllib.parse.unquote(stem[len("account-") :])


def available_reports(scope: Scope, root=None) -> pd.DataFrame:
    """month, cluster, account (None: the whole cluster), csv and pdf locations; newest month first.

    One listing of the reports folder (local folder or S3 prefix, ``tree.file_stats``); a report counts once both
    its CSV and its PDF are there.
    """
    folder = fs.root(root if root is not None else data_dir()) / REPORT_SPECS["monthly_reports"].folder
    base = tree.location(folder) + "/"
    files = set(tree.file_stats(folder))
    pairs = set(scope.accounts)
    rows = []
    for csv in sorted(files):
        parts = csv[len(base) :].split("/")
        if len(parts) != 3 or not parts[2].endswith(".csv"):
            continue
        month, cluster, stem = parts[0], parts[1], parts[2][: -len(".csv")]
        if not (stem == CLUSTER_FILE or stem.startswith("account-")):
            continue
        account = _account(stem)
        allowed = scope.is_admin or (
            (cluster, account) in pairs if account is not None else scope.site_totals and scope.role != "nobody"
        )
        pdf = csv[: -len(".csv")] + ".pdf"
        if allowed and pdf in files:
            rows.append([month, cluster, account, csv, pdf])
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(
        ["month", "cluster", "account"], ascending=[False, True, True], na_position="first", ignore_index=True
    )


def report_bytes(location: str) -> bytes:
    """The bytes of a report file listed by ``available_reports`` (on disk or on S3)."""
    return fs.root(location).read_bytes()
