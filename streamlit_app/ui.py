"""Rendering helpers shared by the pages: number formats, KPIs, tables and charts with CSV download.

Every chart is followed by a "Data" expander with the exact numbers it plots
and a CSV download, so what a chart shows can always be exported and checked.
"""

import math
import re

import pandas as pd
import plotly.express as px
import streamlit as st

from streamlit_app import data

EMPTY_HINT = "Widen the date range or clear some filters in the sidebar; the Data status page shows what is loaded."


def fmt_num(value, decimals: int = 1) -> str:
    """Thousands separators, fixed decimals; "n/a" for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def fmt_int(value) -> str:
    return fmt_num(value, 0)


def header(title: str, f: data.Filters, note: str = "") -> None:
    st.title(title)
    scope = f"{f.start} to {f.end} (UTC, {f.days} days)"
    st.caption(scope + (f" · {note}" if note else ""))


def empty(what: str = "this view") -> None:
    """The explained empty state: never an exception, never a blank page."""
    st.info(f"No data for {what} with the current filters. {EMPTY_HINT}")


def delta_pct(value, previous) -> str | None:
    if value is None or previous in (None, 0):
        return None
    return f"{(value - previous) * 100.0 / previous:+.1f}%"


def kpi(col, label: str, value, previous, *, decimals: int = 1, inverse: bool = False, help: str = "") -> None:
    """A metric with its change against the previous period of equal length."""
    col.metric(
        label, fmt_num(value, decimals), delta=delta_pct(value, previous),
        delta_color="inverse" if inverse else "normal",
        help=(help + " " if help else "") + f"Previous period: {fmt_num(previous, decimals)}.",
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "table"


def download(df: pd.DataFrame, name: str) -> None:
    st.download_button(
        f"Download CSV ({len(df):,} rows)", df.to_csv(index=False).encode(), file_name=f"{_slug(name)}.csv",
        mime="text/csv", key=f"dl-{_slug(name)}",
    )


def _date_columns(df: pd.DataFrame) -> dict:
    """Show UTC day columns (DuckDB DATE arrives as midnight datetimes) as plain dates."""
    config = {}
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]) and getattr(df[col].dt, "tz", None) is None:
            values = df[col].dropna()
            if (values == values.dt.normalize()).all():
                config[col] = st.column_config.DateColumn(col, format="YYYY-MM-DD")
    return config


def table(df: pd.DataFrame, name: str, *, empty_what: str | None = None, column_config: dict | None = None) -> bool:
    """Show ``df`` with a CSV download; an empty frame shows the explained empty state. Returns whether shown."""
    if df.empty:
        empty(empty_what or name.lower())
        return False
    st.dataframe(df, hide_index=True, width="stretch", column_config=_date_columns(df) | (column_config or {}))
    download(df, name)
    return True


def chart(fig, df: pd.DataFrame, name: str, *, hovermode: str = "x unified") -> None:
    """A Plotly chart plus an expander with its data table and CSV download."""
    fig.update_layout(margin={"t": 50, "l": 10, "r": 10, "b": 10}, legend_title_text="", hovermode=hovermode)
    st.plotly_chart(fig, width="stretch", key=f"chart-{_slug(name)}")
    with st.expander(f"Data: {name}"):
        st.dataframe(df, hide_index=True, width="stretch", column_config=_date_columns(df))
        download(df, name)


def time_chart(df: pd.DataFrame, *, y: str, title: str, y_label: str, color: str | None = None,
               color_label: str = "", kind: str = "bar") -> None:
    """A chart over ``period`` (bars stack by ``color``); the title names what and the unit."""
    labels = {"period": "Period (UTC)", y: y_label}
    if color:
        labels[color] = color_label or color
    plot = {"bar": px.bar, "line": px.line, "area": px.area}[kind]
    fig = plot(df, x="period", y=y, color=color, title=title, labels=labels)
    if kind == "line":
        fig.update_traces(mode="lines+markers")
    chart(fig, df, title)


def bar_chart(df: pd.DataFrame, *, x: str, y: str, title: str, x_label: str, y_label: str) -> None:
    fig = px.bar(df, x=x, y=y, title=title, labels={x: x_label, y: y_label})
    fig.update_xaxes(type="category")
    chart(fig, df, title, hovermode="closest")
