"""Helpers for reading what an AppTest run displayed and comparing it with direct SQL."""

import datetime as dt

import pandas as pd
from streamlit.testing.v1 import AppTest


def period_params(wh, days: int = 50, **extra) -> dict:
    """Query params for a custom range of ``days`` ending on the warehouse's last day."""
    start = wh.last - dt.timedelta(days=days - 1)
    return {"range": "custom", "start": start.isoformat(), "end": wh.last.isoformat()} | extra


def bounds(params: dict) -> list[dt.date]:
    return [dt.date.fromisoformat(params["start"]), dt.date.fromisoformat(params["end"])]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def find_frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first displayed dataframe having all ``columns``."""
    for df in frames(at):
        if set(columns) <= set(df.columns):
            return df
    raise AssertionError(f"no dataframe with columns {columns}; shown: {[list(d.columns) for d in frames(at)]}")


def assert_frame_matches(shown: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Same rows (by ``keys``) and the same values (floats to 1e-9 relative: DuckDB sums in parallel)."""
    cols = list(expected.columns)
    a = shown[cols].sort_values(keys).reset_index(drop=True)
    b = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9)
