"""Rendering helpers shared by the pages: number formats, KPIs, tables and charts with CSV download.

Every chart is followed by a "Data" expander with the exact numbers it plots
and a CSV download, so what a chart shows can always be exported and checked.
"""

import math
import re

import pandas as pd
import streamlit as st

from streamlit_app import audit, charts, data, filters, formats

EMPTY_HINT = "Widen the date range or clear some filters in the sidebar; the Data status page shows what is loaded."


def fmt_num(value, decimals: int = 1) -> str:
    """Thousands separators, fixed decimals; "n/a" for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def fmt_int(value) -> str:
    """A count: thousands separators, no decimals (the Overview's site totals, the job page)."""
    return fmt_num(value, 0)


def header(title: str, f: data.Filters, note: str = "") -> None:
    st.title(title)
    scope = f"{f.start} to {f.end} (UTC, {f.days} days)"
    st.caption(scope + (f" · {note}" if note else ""))
    if f.gpu_types:
        st.caption(
            f"GPU type {', '.join(f.gpu_types)}: GPU-hours and job lists are of these GPU types only; "
            "CPU-hours, job counts, waits and efficiency have no GPU type and cover every type."
        )


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
        label,
        fmt_num(value, decimals),
        delta=delta_pct(value, previous),
        delta_color="inverse" if inverse else "normal",
        help=(help + " " if help else "") + f"Previous period: {fmt_num(previous, decimals)}.",
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "table"


def download(df: pd.DataFrame, name: str, f: data.Filters | None = None) -> None:
    """A CSV of exactly what is shown; the file name carries the period (``jobs-2026-03-01_2026-03-31.csv``)."""
    f = f or filters.current()
    stem = f"{_slug(name)}-{f.start.isoformat()}_{f.end.isoformat()}"
    st.download_button(
        f"Download CSV ({len(df):,} rows)",
        formats.with_counts(df).to_csv(index=False).encode(),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"dl-{_slug(name)}",
        on_click=audit.export,
        args=(name, len(df)),
    )


def _column_config(df: pd.DataFrame) -> dict:
    """Human headers, thousands separators and decimals; UTC days (midnight datetimes) as plain dates."""
    config = {}
    for col in df.columns:
        label = formats.header(str(col))
        if pd.api.types.is_datetime64_any_dtype(df[col]) and getattr(df[col].dt, "tz", None) is None:
            values = df[col].dropna()
            if (values == values.dt.normalize()).all():
                config[col] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
                continue
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            config[col] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss")
            continue
        fmt = formats.number_format(str(col), df[col])
        config[col] = st.column_config.NumberColumn(label, format=fmt) if fmt else label
    return config


def dataframe(df: pd.DataFrame, column_config: dict | None = None, **kwargs) -> None:
    """``st.dataframe`` with the dashboard's headers and number formats (a page's config overrides)."""
    df = formats.with_counts(df)
    st.dataframe(
        formats.styled(df),
        hide_index=True,
        width="stretch",
        column_config=_column_config(df) | (column_config or {}),
        **kwargs,
    )


LINK = "view"  # the drill-down column: a link per row, shown first, left out of the CSV


def with_links(df: pd.DataFrame, dim: str, path: str = "overview") -> pd.DataFrame:
    """``df`` plus a first column linking each ``dim`` value to its own view (the pages, filtered to it)."""
    out = df.copy()
    out.insert(0, LINK, [filters.link(path, **{dim: v}) for v in out[dim]])
    return out


def table(
    df: pd.DataFrame,
    name: str,
    *,
    empty_what: str | None = None,
    column_config: dict | None = None,
    link_text: str = "Open",
) -> bool:
    """Show ``df`` with a CSV download; an empty frame shows the explained empty state. Returns whether shown.

    A ``view`` column (``with_links``) is drawn as links reading ``link_text``.
    """
    if df.empty:
        empty(empty_what or name.lower())
        return False
    config = dict(column_config or {})
    if LINK in df.columns:
        config.setdefault(LINK, st.column_config.LinkColumn("", display_text=link_text, width="small"))
    dataframe(df, config)
    download(df.drop(columns=[LINK], errors="ignore"), name)
    return True


# Dimensions a chart's bar or point drills down into (each is a sidebar filter).
DRILL_DIMS = ("cluster", "account", "user", "partition", "qos", "state", "gpu_type")


def clicked(fig, event) -> str | None:
    """The entity (trace) of the first selected point: px names each trace after its colour value."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    for point in points:
        i = point.get("curve_number")
        if i is not None and 0 <= i < len(fig.data):
            name = fig.data[i].legendgroup or fig.data[i].name
            if name:
                return str(name)
    return None


def chart(fig, df: pd.DataFrame, name: str, *, hovermode: str = "x unified", drill: str | None = None) -> None:
    """A Plotly chart plus an expander with its data table and CSV download.

    ``drill``: the dimension the traces are values of; a click on a bar or point selects that trace and a
    link to the value's own view (the pages filtered to it, same period) appears under the chart. A link,
    not a page switch in place: it loads a fresh page as the table links do (st.switch_page raced the
    freshness fragment and left a blank page). Such charts hover one trace at a time, so the click selects
    the trace under the pointer.
    """
    drill = drill if drill in DRILL_DIMS else None
    fig.update_layout(
        margin={"t": 50, "l": 10, "r": 10, "b": 10}, legend_title_text="", hovermode="closest" if drill else hovermode
    )
    key = f"chart-{_slug(name)}"
    if not drill:
        st.plotly_chart(fig, width="stretch", key=key)
    else:
        event = st.plotly_chart(fig, width="stretch", key=key, on_select="rerun", selection_mode="points")
        value = clicked(fig, event)
        what = formats.header(drill).lower()
        if value is not None and value in known_values(drill):  # never "(other)" or a value outside the scope
            st.markdown(
                f":material/open_in_new: [Open the view of {what} **{filters.escape_markdown(value)}**]"
                f"({filters.link('overview', **{drill: value})})"
            )
        else:
            st.caption(
                f"Click a bar or point for a link to that {what}'s view (the pages filtered to it, same period)."
            )
    with st.expander(f"Data: {name}"):
        dataframe(df)
        download(df, name)


def known_values(dim: str | None) -> list[str]:
    """Every value of ``dim`` the dashboard knows (the sidebar's options): the palette ranks colours in it."""
    return list(data.filter_options(filters.current().scope).get(dim, [])) if dim else []


def time_chart(
    df: pd.DataFrame,
    *,
    y: str,
    title: str,
    y_label: str,
    color: str | None = None,
    color_label: str = "",
    kind: str = "bar",
    color_dim: str | None = None,
    known=None,
) -> None:
    """A chart over ``period`` (bars stack by ``color``); the title names what and the unit.

    ``color_dim`` names the dimension whose palette colours ``color`` (default: ``color`` itself).
    """
    f = filters.current()
    labels = {"period": "Period (UTC)", y: y_label}
    if color:
        labels[color] = color_label or color
    dim = color_dim or color
    fig, partial = charts.time_figure(
        df,
        y=y,
        title=title,
        labels=labels,
        color=color,
        color_dim=dim,
        known=known_values(dim) if known is None else known,
        kind=kind,
        grain=f.grain,
        start=f.start,
        end=f.end,
        today=filters.today(),
    )
    chart(fig, df, title, drill=dim)
    if partial and kind == "bar":
        st.caption(
            "Hatched, paler bars: a partial period (today is still being collected, or the date range "
            "covers only part of the period)."
        )
    elif any(charts.holds_today(p, f.grain, filters.today()) for p in partial):
        st.caption("Open markers: the period holding today (partial), not joined to the line.")


def bar_chart(
    df: pd.DataFrame, *, x: str, y: str, title: str, x_label: str, y_label: str, color_dim: str | None = None
) -> None:
    """Bars over categories; ``color_dim`` colours entity bars (users, clusters, ...) from the palette."""
    fig = charts.bar_figure(
        df,
        x=x,
        y=y,
        title=title,
        labels={x: x_label, y: y_label},
        color_dim=color_dim,
        known=known_values(color_dim) if color_dim else (),
    )
    chart(fig, df, title, hovermode="closest", drill=color_dim)
