"""SaltLab's Streamlit entry point: navigation over the pages and the data set picker in the sidebar.

Run with `make run` (or `streamlit run app.py`). Pages are thin: they call `saltlab` and draw.
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages._ui import app_pages, data_set_picker, mark_entry  # noqa: E402

st.set_page_config(page_title="SaltLab", page_icon=":material/layers:", layout="wide")
mark_entry()

navigation = st.navigation(app_pages())
data_set_picker()
navigation.run()
