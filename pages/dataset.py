"""Data set page: headline numbers, health report, distributions, anomaly galleries, image browser."""

from functools import partial

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _state as state
from pages._ui import (
    clickable_gallery,
    ensure_entry,
    id_opener,
    image_panel,
    open_in_explorer,
    required_dataset,
    section_control,
    set_widget_value,
)
from saltlab.analysis.browse import ANOMALIES, SORT_KEYS, Filter, anomaly_counts, filter_table, page_of
from saltlab.analysis.render import mask_overlay
from saltlab.analysis.summaries import depth_coverage_shares

ensure_entry()
st.title("Data set")
ds, table, info = required_dataset()
index = {id_: i for i, id_ in enumerate(ds.train_ids)}
test_index = {id_: i for i, id_ in enumerate(ds.test_ids)}


def image_of(id_: str) -> tuple[np.ndarray, np.ndarray | None]:
    if id_ in index:
        return ds.train_images[index[id_]], ds.train_masks[index[id_]]
    return ds.test_images[test_index[id_]], None


def headline(info: dict) -> None:
    """Train and test images, empty and vertical masks, constant images, the depth range."""
    cols = st.columns(6)
    cols[0].metric("Train images", info["n_train"])
    cols[1].metric("Test images", info["n_test"])
    empty_note = f"{100 * info['empty_fraction']:.1f}% of train" if info["n_train"] else None
    cols[2].metric("Empty masks", info["empty_masks"], empty_note, delta_color="off", delta_arrow="off")
    cols[3].metric("Vertical masks", info["vertical_masks"])
    cols[4].metric(
        "Constant images",
        info["constant_images_train"] + info["constant_images_test"],
        f"{info['constant_images_train']} train, {info['constant_images_test']} test",
        delta_color="off",
        delta_arrow="off",
    )
    depth = "-" if info["depth_min"] is None else f"{info['depth_min']:.0f}–{info['depth_max']:.0f}"
    cols[5].metric("Depth range", depth)


def health_report() -> None:
    """Every bad item named with its file and reason (open by default when there are errors)."""
    with st.expander(f"Health report: {ds.health.describe()}", expanded=bool(ds.health.errors)):
        if ds.health.issues:
            st.dataframe(pd.DataFrame(ds.health.to_records()), width="stretch", hide_index=True)
        else:
            st.write("Every file read, every size right, every mask binary, every RLE matches its PNG.")


headline(info)
health_report()

# Sections, one drawn at a time: a browser takes seconds to draw every chart and gallery at once.
SECTIONS = ["Coverage", "Depth and intensity", "Anomalies", "Image browser"]
section = section_control(state.DATASET_SECTION, SECTIONS)
train = table[table["split"] == "train"]


def coverage_section() -> None:
    left, right = st.columns(2)
    if not len(train):
        st.caption("No labelled train images in this data set.")
        return
    counts = pd.DataFrame({"coverage class": range(11), "images": info["coverage_class_counts"]})
    fig = px.bar(counts, x="coverage class", y="images", title="Images per coverage class (0 = under 5% salt)")
    left.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10)), width="stretch")
    salty = train[~train["empty"].astype(bool)]
    fig = px.histogram(
        salty, x=salty["coverage"].astype(float), nbins=50, title=f"Coverage of the {len(salty)} non-empty masks"
    )
    right.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10), xaxis_title="coverage"), width="stretch")


def depth_intensity_section() -> None:
    left, right = st.columns(2)
    if table["depth"].notna().any():
        fig = px.histogram(table, x="depth", color="split", nbins=40, barmode="overlay", title="Depth")
        left.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10)), width="stretch")
        if len(train):
            # Shares per depth band, not counts: the crowded bands and the empty masks would drown the rest.
            counts, shares = depth_coverage_shares(train)
            fig = px.imshow(
                shares,
                origin="lower",
                aspect="auto",
                zmin=0,
                zmax=float(shares.drop(index="empty").to_numpy().max()) or 1.0,  # the empty row saturates
                text_auto=".0%",
                color_continuous_scale="Blues",
                labels=dict(x="depth band", y="coverage class", color="share"),
                title="Coverage per depth band (share of the band's train images)",
            )
            fig.update_traces(
                customdata=counts.to_numpy(),
                hovertemplate="depth %{x}, coverage %{y}: %{z:.0%} of the band (%{customdata} images)<extra></extra>",
            )
            fig.update_yaxes(type="category")  # "10" is a label here, not a number
            right.plotly_chart(fig.update_layout(height=440, margin=dict(t=40, b=10)), width="stretch")
            right.caption(
                f"Each column sums to 100% of its depth band ({counts.sum().min()}-{counts.sum().max()} images "
                "a band); empty masks have their own row (its colour saturates: the scale is set by the other "
                "rows), apart from the masks under 5% that share coverage class 0."
            )
    left, right = st.columns(2)
    fig = px.histogram(table, x="image_mean", color="split", nbins=50, barmode="overlay", title="Image mean intensity")
    left.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10)), width="stretch")
    fig = px.histogram(
        table, x="image_std", color="split", nbins=50, barmode="overlay", title="Image standard deviation"
    )
    right.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10)), width="stretch")


def _browse(anomaly: str) -> None:
    """A gallery's button: the image browser with the gallery's filter (every page of it)."""
    st.session_state["browse_anomaly"] = anomaly
    st.session_state["browse_split"] = "train"
    st.session_state[state.DATASET_SECTION] = "Image browser"


def _open_in_browser(anomaly: str, id_: str) -> None:
    """A gallery thumbnail's click: the image browser with the gallery's filter, that image open."""
    _browse(anomaly)
    st.session_state["browse_page"] = 1
    st.session_state["browse_open"] = id_


def anomalies_section() -> None:
    counts = anomaly_counts(train) if len(train) else {k: 0 for k in ANOMALIES}
    tabs = st.tabs([f"{name} ({counts[name]})" for name in ANOMALIES])
    for tab, name in zip(tabs, ANOMALIES):
        with tab:
            rows = filter_table(train, Filter(anomaly=name))
            if rows.empty:
                st.caption(f"No {name}s in this data set.")
                continue
            shown = rows.head(24)
            tiles = [mask_overlay(*image_of(i), mode="fill") for i in shown["id"]]
            salt_note = "" if name in ("empty mask", "constant image") else " (salt in yellow)"
            clickable_gallery(
                tiles,
                shown["id"].tolist(),
                8,
                f"anomaly_gallery_{name}",
                lambda id_, name=name: _open_in_browser(name, id_),
                [f"#{k + 1}" for k in range(len(tiles))],
            )
            st.caption(f"the first {len(shown)} of {len(rows)} {name}s{salt_note}; click one to open it")
            ids = rows[["id"] + [c for c in ("coverage", "depth", "image_mean", "image_std") if c in rows.columns]]
            st.dataframe(ids.round(4), hide_index=True, width="stretch", height=220)
            id_opener(ids["id"].tolist(), f"anomaly_open_{name}")
            st.button(
                f"Open the {len(rows)} {name}s in the image browser",
                key=f"anomaly_browse_{name}",
                on_click=_browse,
                args=(name,),
            )
            st.download_button(
                f"Download all {len(rows)} {name} ids (CSV)",
                ids.to_csv(index=False).encode(),
                f"{name.replace(' ', '_')}s.csv",
                "text/csv",
                key=f"anomaly_csv_{name}",
            )


def browser_section() -> None:
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([1, 2, 2, 1])
        split = c1.selectbox("Split", ["train", "test", "both"], key="browse_split")
        classes = c2.multiselect("Coverage classes", list(range(11)), key="browse_classes", help="Empty = all classes")
        anomaly = c3.selectbox("Anomaly", ["any"] + list(ANOMALIES), key="browse_anomaly")
        overlay = c4.radio("Mask", ["fill", "contour", "none"], horizontal=True, key="browse_overlay")
        c5, c6, c7, c8 = st.columns([2, 1, 1, 1])
        depths = table["depth"].dropna()
        depth_range = None
        if len(depths):
            lo, hi = float(depths.min()), float(depths.max())
            if hi > lo:
                depth_range = c5.slider("Depth", lo, hi, (lo, hi), key="browse_depth")
        sort_by = c6.selectbox("Sort by", SORT_KEYS, key="browse_sort")
        descending = c7.checkbox("Descending", key="browse_desc")
        page_size = c8.selectbox("Per page", [24, 48, 96], index=1, key="browse_page_size")

    f = Filter(
        split=None if split == "both" else split,
        coverage_classes=classes or None,
        depth_range=depth_range,
        anomaly=None if anomaly == "any" else anomaly,
        sort_by=sort_by,
        descending=descending,
    )
    rows = filter_table(table, f)
    pages = max(1, -(-len(rows) // page_size))
    page = st.number_input(f"Page (of {pages}; {len(rows)} images match)", 1, pages, 1, key="browse_page") - 1
    shown = page_of(rows, page, page_size)
    if shown.empty:
        st.info("No image matches these filters.")
    else:
        tiles = []
        for id_ in shown["id"]:
            image, mask = image_of(id_)
            tiles.append(
                mask_overlay(image, mask, mode=overlay)
                if mask is not None
                else mask_overlay(image, np.zeros_like(image, bool))
            )
        labels = [str(page * page_size + k + 1) for k in range(len(tiles))]
        on_page = shown["id"].tolist()
        clickable_gallery(tiles, on_page, 12, "browse_gallery", partial(set_widget_value, "browse_open"), labels)
        choice = st.selectbox(
            "Open one image",
            on_page,
            key="browse_open",
            format_func=lambda i: f"{labels[on_page.index(i)]}: {i}" if i in on_page else i,
        )
        if choice:
            image, mask = image_of(choice)
            image_panel(choice, image, mask, table.set_index("id").loc[choice], mode=overlay)
            if mask is not None:
                open_in_explorer(choice, key="browse_explorer")


{
    "Coverage": coverage_section,
    "Depth and intensity": depth_intensity_section,
    "Anomalies": anomalies_section,
    "Image browser": browser_section,
}[section]()
