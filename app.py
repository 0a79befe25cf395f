"""SaltLab's Streamlit entry point: navigation over the pages and the data set picker in the sidebar.

Run with `make run` (or `streamlit run app.py`). Pages are thin: they call `saltlab` and draw.
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages._ui import app_pages, data_set_picker, mark_entry  # noqa: E402
from saltlab.jobs.launcher import recover  # noqa: E402


@st.cache_resource(show_spinner=False)
def _recover_queue_once() -> bool:
    """Once per app process: runs whose trainer died while no one watched (a reboot, the OOM killer) are
    marked failed and the next queued run starts (saltlab.jobs.launcher.recover)."""
    try:
        recover()
    except OSError:
        pass  # an unwritable runs folder: the pages say so where it matters
    return True


st.set_page_config(page_title="SaltLab", page_icon=":material/layers:", layout="wide")
_recover_queue_once()
mark_entry()

navigation = st.navigation(app_pages())
data_set_picker()
navigation.run()
