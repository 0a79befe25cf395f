"""Overview page: headline numbers and the health report of the active data set."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._ui import active_dataset

st.title("SaltLab")
st.caption("Seismic salt segmentation workbench for the TGS Salt Identification data.")

loaded = active_dataset()
if loaded is not None:
    ds, table, info = loaded
    cols = st.columns(6)
    cols[0].metric("Train images", info["n_train"])
    cols[1].metric("Test images", info["n_test"])
    cols[2].metric("Empty masks", info["empty_masks"], f"{100 * info['empty_fraction']:.1f}% of train" if info["n_train"] else None, delta_color="off", delta_arrow="off")
    cols[3].metric("Vertical masks", info["vertical_masks"])
    cols[4].metric("Constant images", info["constant_images_train"] + info["constant_images_test"])
    depth = "-" if info["depth_min"] is None else f"{info['depth_min']:.0f}–{info['depth_max']:.0f}"
    cols[5].metric("Depth range", depth)

    if info["n_train"]:
        counts = pd.DataFrame({"coverage class": range(11), "images": info["coverage_class_counts"]})
        fig = px.bar(counts, x="coverage class", y="images", title="Images per coverage class")
        fig.update_layout(height=320, margin=dict(t=40, b=10))
        st.plotly_chart(fig, width="stretch")

    issues = ds.health.issues
    with st.expander(f"Health report: {ds.health.describe()}", expanded=bool(ds.health.errors)):
        if issues:
            st.dataframe(pd.DataFrame(ds.health.to_records()), width="stretch", hide_index=True)
        else:
            st.write("Every file read, every size right, every mask binary, every RLE matches its PNG.")
