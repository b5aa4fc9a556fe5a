"""Sidebar filters, kept in the URL (``st.query_params``) so a link shares the view.

URL keys: ``range`` (7d, 30d, 90d, ytd, all, custom), ``start``/``end``
(YYYY-MM-DD, for custom), ``grain`` (day, week, month) and the repeatable
``cluster``, ``account``, ``user``, ``partition``, ``qos``, ``state``, ``gpu_type``. Presets
count back from today (UTC), the last day included; "all" spans the data.
"""

import datetime as dt
import re
import urllib.parse

import streamlit as st

from streamlit_app import data

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "ytd": "This year",
    "all": "All data",
    "custom": "Custom",
}
DEFAULT_PRESET = "30d"
MULTI = {
    "cluster": "Cluster",
    "account": "Account",
    "user": "User",
    "partition": "Partition",
    "qos": "QoS",
    "state": "State",
    "gpu_type": "GPU type",
}
HELP = {
    "state": "Applies to job counts, waits, efficiency and job lists (usage_daily has no state).",
    "gpu_type": "Applies to GPU-hours and job lists; CPU-hours, job counts, waits and efficiency have no GPU type "
    "and cover every type.",
}
_STATE_KEY = "_filters"
_INIT_KEY = "_filters_from_url"
EARLIEST = dt.date(1970, 1, 1)  # no accounting data is older; keeps "the period before" computable
# Markdown (and Streamlit's :color[...] / :icon: directives) in text that came from a URL: escaped.
_MARKDOWN_CHARS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def preset_range(preset: str, bounds: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date, dt.date]:
    """(start, end) of a preset; "all" falls back to the last 30 days on an empty warehouse."""
    end = today()
    if preset == "all" and bounds[0] and bounds[1]:
        return bounds
    if preset == "ytd":
        return dt.date(end.year, 1, 1), end
    days = {"7d": 7, "90d": 90}.get(preset, 30)
    return end - dt.timedelta(days=days - 1), end


def clamp_range(start: dt.date, end: dt.date, bounds: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date, dt.date]:
    """A custom range limited to the data when it overlaps it, and always to 1970 .. today (or the last data day).

    ``?range=custom&start=0001-01-01&end=9999-12-31`` crashed the Overview (the period before it is before year 1).
    A range wholly outside the data keeps its days (an empty view).
    """
    first, last = bounds
    latest = max(last or today(), today())
    start, end = min(max(start, EARLIEST), latest), min(max(end, EARLIEST), latest)
    if first and last and start <= last and end >= first:
        start, end = max(start, first), min(end, last)
    return start, end


def escape_markdown(text: str, limit: int = 80) -> str:
    """``text`` (from a URL) shown literally in a Markdown element: no links, images, emphasis or directives."""
    text = " ".join(str(text).split())  # no line breaks
    if len(text) > limit:
        text = text[:limit] + "…"
    return _MARKDOWN_CHARS.sub(r"\\\1", text)


def _parse_day(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _init_from_url(options: dict[str, list[str]], bounds: tuple[dt.date | None, dt.date | None]) -> None:
    """Seed the widgets once per session from the URL; unknown values are reported, not kept."""
    qp = st.query_params
    ss = st.session_state
    preset = qp.get("range", DEFAULT_PRESET)
    ss["flt_range"] = preset if preset in PRESETS else DEFAULT_PRESET
    start, end = _parse_day(qp.get("start", "")), _parse_day(qp.get("end", ""))
    if start and end:
        ss["flt_start"], ss["flt_end"] = clamp_range(min(start, end), max(start, end), bounds)
        if "range" not in qp:
            ss["flt_range"] = "custom"
    grain = qp.get("grain", "day")
    ss["flt_grain"] = grain if grain in data.GRAINS else "day"
    unknown = []
    for key in MULTI:
        values = qp.get_all(key)
        ss[f"flt_{key}"] = [v for v in values if v in options[key]]
        unknown += [f"{key}={v}" for v in values if v not in options[key]]
    ss["flt_unknown"] = unknown
    ss[_INIT_KEY] = True


def render_sidebar(scope: data.Scope) -> data.Filters:
    """Draw the filters (options within the viewer's ``scope``) in the sidebar, mirror them into the URL, return them."""
    options = data.filter_options(scope)
    bounds = data.date_bounds(scope)
    ss = st.session_state
    if not ss.get(_INIT_KEY):
        _init_from_url(options, bounds)
    sb = st.sidebar
    sb.header("Filters")
    preset = sb.selectbox("Date range", list(PRESETS), format_func=PRESETS.get, key="flt_range")
    if preset == "custom":
        default_start, default_end = preset_range(DEFAULT_PRESET, bounds)
        ss.setdefault("flt_start", default_start)
        ss.setdefault("flt_end", default_end)
        start = sb.date_input("From (UTC)", key="flt_start")
        end = sb.date_input("To (UTC, included)", key="flt_end")
        if start > end:
            sb.warning("'From' is after 'To': the two dates were swapped.")
            start, end = end, start
        if (start, end) != clamp_range(start, end, bounds):
            start, end = clamp_range(start, end, bounds)
            sb.caption(f"Limited to the data: {start} to {end} (UTC)")
    else:
        start, end = preset_range(preset, bounds)
        sb.caption(f"{start} to {end} (UTC)")
    grain = sb.radio("Time grain", data.GRAINS, horizontal=True, key="flt_grain", format_func=str.capitalize)
    selected = {}
    for key, label in MULTI.items():
        current = [v for v in ss.get(f"flt_{key}", []) if v in options[key]]
        ss[f"flt_{key}"] = current
        selected[key] = tuple(
            sb.multiselect(label, options[key], key=f"flt_{key}", placeholder="All", help=HELP.get(key))
        )
    if ss.get("flt_unknown"):
        shown = [escape_markdown(v) for v in ss["flt_unknown"][:10]]
        more = len(ss["flt_unknown"]) - len(shown)
        sb.warning("Ignored filter values not in the data: " + ", ".join(shown) + (f" and {more} more" if more else ""))
    if bounds[0]:
        sb.caption(f"Data: {bounds[0]} to {bounds[1]}")
    f = data.Filters(
        start=start,
        end=end,
        clusters=selected["cluster"],
        accounts=selected["account"],
        users=selected["user"],
        partitions=selected["partition"],
        qos=selected["qos"],
        states=selected["state"],
        grain=grain,
        scope=scope,
        gpu_types=selected["gpu_type"],
    )
    _write_url(preset, f)
    ss[_STATE_KEY] = f
    return f


def _write_url(preset: str, f: data.Filters) -> None:
    params: dict[str, str | list[str]] = {"range": preset, "grain": f.grain}
    if preset == "custom":
        params["start"], params["end"] = f.start.isoformat(), f.end.isoformat()
    for key, values in zip(MULTI, (f.clusters, f.accounts, f.users, f.partitions, f.qos, f.states, f.gpu_types)):
        if values:
            params[key] = list(values)
    for key in ("range", "grain", "start", "end", *MULTI):  # only the filters' keys: pages own theirs
        wanted = params.get(key, [])
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if st.query_params.get_all(key) == wanted:  # only touch the URL on a change
            continue
        if wanted:
            st.query_params[key] = wanted
        else:
            del st.query_params[key]


def current() -> data.Filters:
    """The filters the sidebar set in this run (pages call this)."""
    f = st.session_state.get(_STATE_KEY)
    if f is None:
        return render_sidebar(data.NOBODY_SCOPE)  # app.py sets the viewer's scope first; never reached there
    return f


def _params(**extra) -> dict[str, list[str]]:
    """The filters' URL keys now, each ``extra`` key replacing that filter (a drill-down: ``user="u03"``)."""
    keys = ("range", "grain", "start", "end", *MULTI)
    params = {k: st.query_params.get_all(k) for k in keys if k in st.query_params}
    for key, value in extra.items():
        params[key] = [str(value)]
    return params


def link(path: str, **extra) -> str:
    """Relative link to page ``path`` with the current filters plus ``extra`` (a drill-down: ``user="u03"``).

    An extra key replaces that filter (the entity's own view); a relative link keeps a ``baseUrlPath``.
    """
    return f"./{path}?{urllib.parse.urlencode(_params(**extra), doseq=True)}"
