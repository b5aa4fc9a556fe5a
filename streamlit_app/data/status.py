"""Data status: per cluster the freshness, the days materialized, gaps in the daily series, quarantine.

A day counts as materialized for a cluster when the drops table has a row for
it (the pipeline catalogues every drop it processed for a partition). A gap is a
run of days between a cluster's first and last materialized day without one.
"""

import pandas as pd

from slurm_assets.pipeline.quality import WHOLE_DROP_SQL
from streamlit_app.data.core import Filters, admin_only, query, where
from streamlit_app.data.jobs import _cluster_only


def cluster_status(f: Filters) -> pd.DataFrame:
    """One row per cluster: last drop received, first/last day materialized, missing days, quarantined rows."""
    cond, params = _cluster_only(f, people=False)
    return query(
        f"""WITH d AS (
                SELECT cluster, max(collected_at) AS last_drop_collected_at, min(date) AS first_day,
                       max(date) AS last_day_materialized, count(DISTINCT date) AS days_materialized,
                       count(*) AS drops
                FROM drops GROUP BY 1),
            u AS (SELECT cluster, max(date) AS last_usage_day FROM usage_daily GROUP BY 1),  -- a day, no people
            q AS (SELECT cluster, count(*) AS quarantined_rows FROM quarantine WHERE {admin_only(f)} GROUP BY 1),
            r AS (SELECT cluster, max(snapshot_time) AS running_snapshot FROM running_jobs GROUP BY 1),
            c AS (SELECT * FROM (SELECT cluster FROM d UNION SELECT cluster FROM u UNION SELECT cluster FROM q
                                 UNION SELECT cluster FROM r) WHERE {cond})
            SELECT c.cluster, d.last_drop_collected_at, d.last_day_materialized, d.first_day,
                   coalesce(d.days_materialized, 0) AS days_materialized,
                   coalesce(datediff('day', d.first_day, d.last_day_materialized) + 1 - d.days_materialized, 0)
                       AS missing_days,
                   coalesce(d.drops, 0) AS drops, u.last_usage_day,
                   coalesce(q.quarantined_rows, 0) AS quarantined_rows, r.running_snapshot
            FROM c LEFT JOIN d USING (cluster) LEFT JOIN u USING (cluster) LEFT JOIN q USING (cluster)
                 LEFT JOIN r USING (cluster)
            ORDER BY 1""",
        params,
    )


def gaps(f: Filters) -> pd.DataFrame:
    """Runs of missing days per cluster: gap_start, gap_end, days."""
    cond, params = _cluster_only(f, people=False)
    return query(
        f"""WITH present AS (SELECT DISTINCT cluster, date FROM drops WHERE {cond}),
            bounds AS (SELECT cluster, min(date) AS lo, max(date) AS hi FROM present GROUP BY 1),
            days AS (SELECT cluster, CAST(unnest(generate_series(lo, hi, INTERVAL 1 DAY)) AS DATE) AS day
                     FROM bounds),
            missing AS (SELECT cluster, day FROM days
                        WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.cluster = days.cluster
                                          AND p.date = days.day)),
            runs AS (SELECT cluster, day,
                            day - CAST(row_number() OVER (PARTITION BY cluster ORDER BY day) AS INTEGER) AS grp
                     FROM missing)
            SELECT cluster, min(day) AS gap_start, max(day) AS gap_end, count(*) AS days
            FROM runs GROUP BY cluster, grp ORDER BY cluster, gap_start""",
        params,
    )


def quarantine_summary(f: Filters) -> pd.DataFrame:
    """Quarantined rows per cluster and reason within the date range."""
    cond, params = where(f, date_col="date", dims=("cluster",), people=False)
    return query(
        f"""SELECT cluster, reason, count(*) AS rows, min(date) AS first_day, max(date) AS last_day
            FROM quarantine WHERE {admin_only(f)} AND {cond} GROUP BY 1, 2 ORDER BY 1, rows DESC, 2""",
        params,
    )


def quarantine_rows(f: Filters, limit: int = 200) -> pd.DataFrame:
    """The latest quarantined rows within the date range (what failed and the raw line)."""
    cond, params = where(f, date_col="date", dims=("cluster",), people=False)
    return query(
        f"""SELECT cluster, date, drop_id, line_no, reason, detail, raw_line FROM quarantine WHERE {admin_only(f)} AND {cond}
            ORDER BY date DESC, cluster, drop_id, line_no LIMIT {int(limit)}""",
        params,
    )


def quarantined_drops(f: Filters, limit: int = 200) -> pd.DataFrame:
    """Drops quarantined whole within the date range (bad manifest, unreadable gzip, sha256 mismatch): none of
    their jobs are in the tables until a corrected copy is sent; the detail says what is wrong and where."""
    cond, params = where(f, date_col="date", dims=("cluster",), people=False)
    return query(
        f"""SELECT cluster, date, drop_id, reason, detail FROM quarantine WHERE {admin_only(f)} AND {WHOLE_DROP_SQL}
            AND {cond}
            ORDER BY date DESC, cluster, drop_id LIMIT {int(limit)}""",
        params,
    )
