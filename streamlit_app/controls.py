"""Page controls kept in the URL, like the sidebar filters: a link or a bookmark restores the whole view.

Each control has a widget key (session state) and a URL key. The first time a
session draws it, the URL's value seeds it (a value that is not an option is
ignored, the default stays); after each run its value is written back to the
URL. Only the control's own URL key is touched; filters.py owns the filter keys.
"""

import streamlit as st


def _seed(key: str, url: str, default, parse) -> None:
    """Session value for ``key``: the URL's (when ``parse`` accepts it) on first use, else ``default``."""
    if key in st.session_state:
        return
    raw = st.query_params.get(url)
    value = None
    if raw is not None:
        try:
            value = parse(raw)
        except (TypeError, ValueError):
            value = None
    st.session_state[key] = default if value is None else value


def _sync(url: str, value) -> None:
    """Write ``value`` to the URL (an empty text removes the key)."""
    text = "" if value is None else str(value)
    if text == "":
        if url in st.query_params:
            del st.query_params[url]
    elif st.query_params.get(url) != text:
        st.query_params[url] = text


def _choice(options):
    by_text = {str(o): o for o in options}

    def parse(raw):
        return by_text.get(raw)

    return parse


def selectbox(container, label: str, options, *, key: str, url: str, default=None, **kwargs):
    options = list(options)
    default = options[0] if default is None else default
    _seed(key, url, default, _choice(options))
    value = container.selectbox(label, options, key=key, **kwargs)
    _sync(url, value)
    return value


def radio(container, label: str, options, *, key: str, url: str, default=None, **kwargs):
    options = list(options)
    default = options[0] if default is None else default
    _seed(key, url, default, _choice(options))
    value = container.radio(label, options, key=key, **kwargs)
    _sync(url, value)
    return value


def number(
    container, label: str, *, key: str, url: str, default: int, min_value: int, max_value: int | None = None, **kwargs
) -> int:
    def parse(raw):
        n = int(raw)
        return n if n >= min_value and (max_value is None or n <= max_value) else None

    _seed(key, url, int(default), parse)
    value = container.number_input(label, min_value=min_value, max_value=max_value, key=key, **kwargs)
    _sync(url, int(value))
    return int(value)


def text(container, label: str, *, key: str, url: str, **kwargs) -> str:
    _seed(key, url, "", str)
    value = container.text_input(label, key=key, **kwargs)
    _sync(url, value)
    return value
