"""Plotly figures that do not mislead: colours from the palette, date-only time axes, partial periods marked.

A period is partial when its days are not all inside the selected range up to
yesterday (UTC): today is still being collected, and a week or month cut by the
range holds only some of its days. Bars of a partial period are hatched and
paler; a line does not connect to the period holding today (its ratio mixes a
day in progress with whole days and would dive towards zero): that point is an
open marker instead.
"""

import datetime as dt
import math

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from streamlit_app import palette

DAY_MS = 86_400_000
MAX_TICKS = 12
PARTIAL_PATTERN = "/"
PARTIAL_OPACITY = 0.45


def bucket_end(start: dt.date, grain: str) -> dt.date:
    """Last day of the ``grain`` period that begins on ``start``."""
    if grain == "week":
        return start + dt.timedelta(days=6)
    if grain == "month":
        nxt = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)
    return start


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, (dt.datetime, pd.Timestamp)) else value


def partial_periods(periods, grain: str, start: dt.date, end: dt.date, today: dt.date) -> set[dt.date]:
    """Period starts whose days are not all within [start, min(end, today - 1)]."""
    complete_to = min(end, today - dt.timedelta(days=1))
    out = set()
    for p in {_as_date(p) for p in periods if not pd.isna(p)}:
        if p < start or bucket_end(p, grain) > complete_to:
            out.add(p)
    return out


def holds_today(p: dt.date, grain: str, today: dt.date) -> bool:
    return p <= today <= bucket_end(p, grain)


def date_axis(fig: go.Figure, periods, grain: str) -> None:
    """Ticks on period starts only, labelled with dates (never 12:00 or 23:59:59.9996)."""
    days = sorted({_as_date(p) for p in periods if not pd.isna(p)})
    if not days:
        return
    step = max(1, math.ceil(len(days) / MAX_TICKS))
    fmt = "%b %Y" if grain == "month" else "%Y-%m-%d"
    dtick = f"M{step}" if grain == "month" else DAY_MS * step * (7 if grain == "week" else 1)
    fig.update_xaxes(type="date", tick0=days[0].isoformat(), dtick=dtick, tickformat=fmt, hoverformat=fmt)


def _mark_bars(fig: go.Figure, partial: set[dt.date]) -> None:
    for trace in fig.data:
        flags = [_as_date(pd.Timestamp(x)) in partial for x in trace.x]
        trace.marker.pattern.shape = [PARTIAL_PATTERN if f else "" for f in flags]
        trace.marker.opacity = [PARTIAL_OPACITY if f else 1.0 for f in flags]


def _mark_lines(fig: go.Figure, grain: str, today: dt.date) -> None:
    """Cut each line before the period holding today; show that point as an open marker."""
    for trace in list(fig.data):
        xs = [_as_date(pd.Timestamp(x)) for x in trace.x]
        cut = [holds_today(x, grain, today) for x in xs]
        if not any(cut):
            continue
        ys = list(trace.y)
        trace.y = [None if c else y for c, y in zip(cut, ys)]
        fig.add_trace(
            go.Scatter(
                x=[x for x, c in zip(trace.x, cut) if c],
                y=[y for y, c in zip(ys, cut) if c],
                mode="markers",
                name=f"{trace.name} (partial)",
                legendgroup=trace.legendgroup,
                showlegend=False,
                marker={"symbol": "circle-open", "size": 10, "color": trace.line.color},
                hovertemplate=f"{trace.name} (partial period)<br>%{{x}}: %{{y}}<extra></extra>",
            )
        )


def time_figure(
    df: pd.DataFrame,
    *,
    y: str,
    title: str,
    labels: dict,
    color: str | None,
    color_dim: str | None,
    known=(),
    kind: str,
    grain: str,
    start: dt.date,
    end: dt.date,
    today: dt.date,
) -> tuple:
    """(figure, partial period starts) of ``y`` over ``period``, coloured by ``color`` (palette of ``color_dim``)."""
    plot = {"bar": px.bar, "line": px.line, "area": px.area}[kind]
    colors = palette.color_map(color_dim or color, df[color].dropna().unique(), known) if color else None
    order = {color: list(colors)} if color else None
    fig = plot(
        df, x="period", y=y, color=color, title=title, labels=labels, color_discrete_map=colors, category_orders=order
    )
    if kind == "line":
        fig.update_traces(mode="lines+markers")
    partial = partial_periods(df["period"], grain, start, end, today)
    if kind == "bar" and partial:
        _mark_bars(fig, partial)
    elif kind == "line":
        _mark_lines(fig, grain, today)
    date_axis(fig, df["period"], grain)
    return fig, partial


def bar_figure(
    df: pd.DataFrame, *, x: str, y: str, title: str, labels: dict, color_dim: str | None = None, known=()
) -> go.Figure:
    """Bars over categories; entity bars (users, clusters, states) take the palette's colours."""
    if color_dim:
        colors = palette.color_map(color_dim, df[x].dropna().unique(), known)
        fig = px.bar(df, x=x, y=y, title=title, labels=labels, color=x, color_discrete_map=colors)
        fig.update_layout(showlegend=False)
    else:
        fig = px.bar(df, x=x, y=y, title=title, labels=labels)
    fig.update_xaxes(type="category")
    return fig
