"""Shared Streamlit helpers for the pages: the active data set, loaded once and cached.

Not a page itself (the leading underscore keeps it out of the navigation).
"""

from __future__ import annotations

import streamlit as st

from saltlab.dataset import Dataset, load_dataset
from saltlab.paths import demo_data_path, resolve_data_path
from saltlab.sources import DataSetError, scan
from saltlab.table import image_table, summary

DATA_KEY = "data_path"


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(path: str, fingerprint: str) -> Dataset:
    # The fingerprint is part of the key so that changed files are reloaded.
    return load_dataset(path)


@st.cache_data(show_spinner=False, max_entries=4)
def _table_and_summary(path: str, fingerprint: str):
    ds = _load(path, fingerprint)
    table = image_table(ds)
    return table, summary(ds, table)


def active_path() -> str:
    if DATA_KEY not in st.session_state:
        st.session_state[DATA_KEY] = str(resolve_data_path())
    return st.session_state[DATA_KEY]


def active_dataset() -> tuple[Dataset, object, dict] | None:
    """(dataset, per-image table, summary) of the active data set, or None after showing the error."""
    path = active_path()
    try:
        fingerprint = scan(path).fingerprint()
        with st.spinner(f"Loading {path} (first load decodes every PNG; later loads come from the cache)..."):
            ds = _load(path, fingerprint)
            table, info = _table_and_summary(path, fingerprint)
    except DataSetError as exc:
        st.error(f"Cannot use this data set: {exc}")
        return None
    return ds, table, info


def _use_entered_path() -> None:
    entered = st.session_state.get("data_path_input", "").strip()
    if entered:
        st.session_state[DATA_KEY] = entered


def _use_demo() -> None:
    st.session_state[DATA_KEY] = str(resolve_data_path(demo_data_path()))
    st.session_state["data_path_input"] = st.session_state[DATA_KEY]


def data_set_picker() -> None:
    """Sidebar: which data set is active, a path entry, and a way back to the demo set."""
    with st.sidebar:
        st.markdown("### Data set")
        current = active_path()
        if "data_path_input" not in st.session_state:
            st.session_state["data_path_input"] = current
        st.text_input(
            "Folder (Kaggle layout)",
            key="data_path_input",
            on_change=_use_entered_path,
            help="A folder with train/images, train/masks, test/images (or train.zip, test.zip) and the CSVs. Press Enter to load it.",
        )
        st.button("Use the demo set", on_click=_use_demo)
        st.caption(f"Active: `{current}`")
