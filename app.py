"""SaltLab's Streamlit entry point: navigation over the pages and the data set picker in the sidebar.

Run with `make run` (or `streamlit run app.py`). Pages are thin: they call `saltlab` and draw.
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages._ui import data_set_picker  # noqa: E402

st.set_page_config(page_title="SaltLab", page_icon=":material/layers:", layout="wide")

navigation = st.navigation(
    [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True)]
)
data_set_picker()
navigation.run()
