"""The one owner of the Streamlit session keys that cross pages, and of the navigation between pages.

Each page's own widget keys start with its prefix (PAGE_PREFIXES; tests/test_layers.py checks every
literal key in the pages). What one page sets for another (open image X of run Y in the Explorer, a
section to show) goes through the functions here, never through another page's key names.
"""

from __future__ import annotations

import streamlit as st

DATA_KEY = "data_path"  # the active data set folder (the sidebar picker)
APP_KEY = "_saltlab_entry_ran"  # set by app.py: a page opened on its own URL goes through the entry first
EXPLORER_FOCUS = "explorer_focus"  # an image to open in the Explorer's Images section
EXPLORER_SECTION = "explorer_section"
EXPLORER_SLICE = "explorer_slice"  # (definition, ids) of an error slice shown in the Images section
DATASET_SECTION = "dataset_section"

# A page's own widget and state keys start with one of its prefixes.
PAGE_PREFIXES = {
    "_ui": ("data_path", "_saltlab"),  # the shared widgets' keys are built from a page's prefix
    "compare": ("compare_",),
    "dataset": ("dataset_", "browse_", "anomaly_"),
    "explorer": ("explorer_",),
    "mosaic": ("mosaic_",),
    "predict": ("predict_",),
    "suspects": ("suspects_",),
    "train": ("train_", "_train_"),
}


def picker_key(page: str) -> str:
    """The session key of a page's run picker (pages._ui.run_picker(page))."""
    return f"{page}_runs"


def open_in_explorer(id_: str, run: str) -> None:
    """Go to the Explorer's Images section with image `id_` of run `run` open."""
    st.session_state[EXPLORER_FOCUS] = id_
    st.session_state[picker_key("explorer")] = [run]
    st.session_state[EXPLORER_SECTION] = "Images"
    st.switch_page("pages/explorer.py")


def focus_image(id_: str) -> None:
    """Within the Explorer (a button's callback): show this image in the Images section."""
    st.session_state[EXPLORER_FOCUS] = id_
    st.session_state[EXPLORER_SECTION] = "Images"


def show_slice(definition: str, ids: list[str]) -> None:
    """Within the Explorer (a button's callback): the Images section showing only an error slice's images."""
    st.session_state[EXPLORER_SLICE] = (definition, tuple(ids))
    st.session_state[EXPLORER_SECTION] = "Images"


def clear_slice() -> None:
    st.session_state.pop(EXPLORER_SLICE, None)


def shown_slice() -> tuple[str, tuple[str, ...]] | None:
    """The error slice the Images section is limited to, if any."""
    return st.session_state.get(EXPLORER_SLICE)


def take_explorer_focus() -> str | None:
    """The image another page or a click asked the Explorer to open, once."""
    return st.session_state.pop(EXPLORER_FOCUS, None)


def show_section(key: str, section: str) -> None:
    """A button's callback: switch a page's section control (pages._ui.section_control) to `section`."""
    st.session_state[key] = section
