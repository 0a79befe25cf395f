"""Explorer page: where each model fails, image by image (summary, gallery, error anatomy)."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _state as state
from pages._ui import (
    COLUMN_NAMES,
    active_dataset,
    clickable_gallery,
    ensure_entry,
    import_predictions_control,
    neighbourhood,
    readable,
    reported,
    run_picker,
    section_control,
)
from saltlab.analysis import summaries as analysis
from saltlab.analysis.browse import ANOMALIES, Filter, filter_table
from saltlab.analysis.confidence import UNCERTAIN, at_threshold, band_overlay, score_curve, uncertain_share
from saltlab.analysis.render import (
    OUTCOME_COLOURS,
    PANEL_CAPTION,
    PANELS_PER_ROW,
    gray_to_rgb,
    image_panels,
    mosaic,
    outcome_overlay,
)
from saltlab.analysis.report import html_report
from saltlab.analysis.similar import map_2d, nearest
from saltlab.analysis.slices import explored_slices, slices_table

ensure_entry()
st.title("Explorer")
import_predictions_control("explorer")
picked = run_picker("explorer")
if picked is None:
    st.stop()
ex, options = picked
view = ex.view(options)  # computed once per (runs, options); a click that changes neither reuses it
preds, summaries, table = view.preds, view.summaries, view.table

SECTIONS = ["Summary", "Images", "Slices", "Map", "Error anatomy"]
focus = state.take_explorer_focus()  # an image opened by a click, a button or another page
if focus in ex.ids:
    st.session_state["explorer_open"] = focus
elif focus is not None:
    st.warning(
        f"{focus} is not one of the {len(ex.ids)} validation images of the chosen runs: the Explorer shows only "
        "images a run held out."
    )


def thumb_label(rank: int, score: float) -> str:
    """A thumbnail's corner label: "#1 · 0.00" (not "1 0.0", which reads as 10.0)."""
    return f"#{rank} · {score:.2f}"


def jump_to() -> None:
    """The "Jump to an id" box's callback: open that image if the runs validated it, else say so."""
    wanted = st.session_state.get("explorer_jump", "").strip()
    if wanted in ex.ids:
        open_image(wanted)
        st.session_state["explorer_jump_error"] = None
    elif wanted:
        st.session_state["explorer_jump_error"] = f"{wanted}: not one of these {len(ex.ids)} validation images"


def open_image(id_: str) -> None:
    """A button's callback (before the widgets exist again): show this image in the Images section."""
    state.focus_image(id_)


def embeddings_of(name: str):
    bar = st.progress(0.0, text="Embedding the images (once per run; cached on disk)...")
    try:
        return ex.embeddings(name, progress=lambda what, done, total: bar.progress(done / max(total, 1)))
    finally:
        bar.empty()


def more_like_this(name: str, id_: str, k: int = 8) -> None:
    """The k images most like this one (cosine similarity of the model's deepest encoder features)."""
    unit = embeddings_of(name)
    at = ex.ids.index(id_)
    near, similarity = nearest(unit, at, k)
    scores = table[f"score {name}"].to_numpy()
    st.markdown(f"**More like {id_}** (by {name}'s deepest encoder features)")
    tiles = [outcome_overlay(ex.images[j], preds[name][j], ex.truth[j]) for j in near]
    labels = [thumb_label(n, s) for n, s in enumerate(similarity, 1)]  # rank · similarity
    clickable_gallery(tiles, [ex.ids[j] for j in near], 8, f"explorer_similar_gallery_{id_}", open_image, labels)
    st.dataframe(
        pd.DataFrame(
            {
                "id": [ex.ids[j] for j in near],
                "similarity": np.round(similarity, 3),
                "score": scores[near],
                "coverage": table["coverage"].to_numpy()[near],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    c1, c2 = st.columns([3, 1])
    target = c1.selectbox("Open one of them", [ex.ids[j] for j in near], key=f"explorer_similar_{id_}")
    c2.button("Open this image", key=f"explorer_similar_open_{id_}", on_click=open_image, args=(target,))


def summary_metrics() -> None:
    """The scores beside the all-empty line, the confusion counts, the judge's gap."""
    empty = summaries[0].empty_score if summaries else float("nan")
    st.caption(
        f"{len(ex.ids)} validation images. Predicting every mask empty scores {empty:.4f} on them: "
        "the line every model must beat."
    )
    for s in summaries:
        cols = st.columns(5)
        cols[0].metric(
            f"{s.name[:40]}",
            f"{s.score:.4f}",
            f"{s.score - s.empty_score:+.4f} vs all-empty",
            delta_color="normal",
            delta_arrow="off",
        )
        if s.below_empty:
            st.error(
                f"{s.name}: {s.score:.4f} is not above the all-empty score {s.empty_score:.4f}: this model is worse "
                "than predicting nothing on these images."
            )
        cols[1].metric("mean IoU", f"{s.mean_iou:.4f}")
        c = s.confusion
        cols[2].metric("salt found / missed", f"{c['true positive']} / {c['false negative']}")
        cols[3].metric("false alarms / right empties", f"{c['false positive']} / {c['true negative']}")
        if s.judge:
            j = s.judge
            cols[4].metric("judge accuracy", f"{j['accuracy']:.4f}")
            st.warning(
                f"{s.name}: honest (judge-gated) score {j['honest score']:.4f}; oracle-gated score (masks gated "
                f"with the TRUE empty label) {j['oracle score']:.4f}. Validating with the oracle gate would "
                f"overstate this model by {j['gap']:+.4f}."
            )


def summary_buckets_and_table() -> None:
    """Images per IoU bucket, the neighbour rules on demand, the per-image table."""
    buckets = analysis.bucket_table(summaries)
    left, right = st.columns([1, 2])
    left.dataframe(buckets, width="stretch")
    long = buckets.reset_index().melt(id_vars="IoU bucket", var_name="model", value_name="images")
    fig = px.bar(long, x="IoU bucket", y="images", color="model", barmode="group", title="Images per IoU bucket")
    right.plotly_chart(
        fig.update_layout(height=320, margin=dict(t=40, b=10), legend=dict(orientation="h")), width="stretch"
    )
    if st.checkbox(
        "Score the mosaic's neighbour rules (a constant image has no salt; a vertical mask continues into the tile "
        "below) as post-processing",
        key="explorer_rules",
        help="Before and after on these validation images. The tile above is trusted for its label only where the "
        "run trained on it; a held-out neighbour counts with the run's own prediction.",
    ):
        for s in summaries:
            st.markdown(f"Neighbour rules on **{s.name}**")
            st.dataframe(ex.rules(s.name, options), hide_index=True, width="stretch")
    st.markdown("**Per image** (sort by a column header; the filters below apply)")
    st.dataframe(table.rename(columns=COLUMN_NAMES), width="stretch", hide_index=True)
    st.download_button(
        "Download the per-image table (CSV)",
        table.to_csv(index=False).encode(),
        "per_image.csv",
        "text/csv",
        key="explorer_csv",
    )


def image_filters() -> tuple[str, pd.DataFrame, pd.DataFrame, bool]:
    """The Images section's model and filters: (model, matching rows in order, rows shown, side by side)."""
    name = st.selectbox("Model", ex.names, key="explorer_model")
    c1, c2, c3, c4 = st.columns(4)
    buckets = c1.multiselect(
        "IoU buckets", analysis.BUCKETS, key="explorer_buckets", help="Empty = all; e.g. 0.0 for the total misses"
    )
    classes = c2.multiselect("Coverage classes", list(range(11)), key="explorer_classes")
    anomalies = [name for name, column in ANOMALIES.items() if column in table.columns]
    anomaly = c3.selectbox("Anomaly", ["any", *anomalies], key="explorer_anomaly")
    order = c4.selectbox("Order", ["worst first", "best first", "most uncertain first", "id"], key="explorer_order")
    known = table["depth"].dropna()
    depth_range = None
    if len(known) and known.max() > known.min():
        low, high = int(np.floor(known.min())), int(np.ceil(known.max()))  # depths are whole feet: 841, not 841.00
        depth_range = st.slider("Depth", low, high, (low, high), key="explorer_depth")
    side_by_side = len(ex.names) > 1 and st.checkbox(
        "Side by side: the same images, one column per model", key="explorer_side"
    )
    score_col = f"score {name}"
    limited = state.shown_slice()
    if limited is not None:
        c1, c2 = st.columns([4, 1])
        c1.info(f"Only the error slice **{limited[0]}** ({len(limited[1])} images), from the Slices section.")
        c2.button("Show every image", key="explorer_clear_slice", on_click=state.clear_slice)
    chosen = Filter(
        coverage_classes=classes or None,
        depth_range=depth_range,
        anomaly=None if anomaly == "any" else anomaly,
        sort_by={"id": "id", "most uncertain first": f"uncertain {name}"}.get(order, score_col),
        descending=order in ("best first", "most uncertain first"),
        score_column=score_col,
        buckets=buckets or None,
        ids=frozenset(limited[1]) if limited is not None else None,
    )
    rows = filter_table(table, chosen)  # the image browser's filter (saltlab.analysis.browse)
    shown = rows.head(16 if side_by_side else 48)
    st.caption(
        f"{len(rows)} images match; the first {len(shown)} shown (labels: #rank · score). "
        + " · ".join(f"<span style='color:rgb{c}'>■</span> {k}" for k, c in OUTCOME_COLOURS.items()),
        unsafe_allow_html=True,
    )
    return name, rows, shown, side_by_side


def image_galleries(name: str, shown: pd.DataFrame, side_by_side: bool) -> None:
    """The outcome thumbnails of the rows shown: one gallery, or one column per model."""
    score_col = f"score {name}"
    pos = {id_: k for k, id_ in enumerate(ex.ids)}
    if len(shown) and side_by_side:
        for column, model in zip(st.columns(len(ex.names)), ex.names):
            tiles = [outcome_overlay(ex.images[pos[i]], preds[model][pos[i]], ex.truth[pos[i]]) for i in shown["id"]]
            labels = [thumb_label(n, table[f"score {model}"].iloc[pos[i]]) for n, i in enumerate(shown["id"], 1)]
            with column:
                st.markdown(f"**{model}**")
                clickable_gallery(tiles, shown["id"].tolist(), 4, f"explorer_gallery_{model}", open_image, labels)
    if len(shown):
        idx = [pos[i] for i in shown["id"]]
        if not side_by_side:
            tiles = [outcome_overlay(ex.images[k], preds[name][k], ex.truth[k]) for k in idx]
            labels = [thumb_label(n, s) for n, s in enumerate(shown[score_col], 1)]
            clickable_gallery(tiles, shown["id"].tolist(), 12, "explorer_gallery", open_image, labels)


def image_picker(rows: pd.DataFrame, shown: pd.DataFrame) -> str:
    """The rows as CSV, the image to open, previous / next in the filter's order, jump to an id."""
    pos = {id_: k for k, id_ in enumerate(ex.ids)}
    csv = rows.to_csv(index=False).encode()
    st.download_button("Download these rows (CSV)", csv, "filtered.csv", "text/csv", key="explorer_rows_csv")
    options = shown["id"].tolist()
    if st.session_state.get("explorer_open") not in options and st.session_state.get("explorer_open") in pos:
        options = [st.session_state["explorer_open"]] + options  # reached by a click, next / previous, jump
    order_ids = rows["id"].tolist()
    rank = {id_: n for n, id_ in enumerate(order_ids, 1)}
    c1, c2, c3, c4 = st.columns([4, 1, 1, 2])
    choice = c1.selectbox(
        "Open one image",
        options,
        key="explorer_open",
        format_func=lambda i: f"#{rank[i]} · {i}" if i in rank else i,
    )
    here = order_ids.index(choice) if choice in rank else 0
    c2.button(
        "Previous",
        key="explorer_prev",
        on_click=open_image,
        args=(order_ids[max(here - 1, 0)],),
        disabled=here == 0,
    )
    c3.button(
        "Next",
        key="explorer_next",
        on_click=open_image,
        args=(order_ids[min(here + 1, len(order_ids) - 1)],),
        disabled=here >= len(order_ids) - 1,
    )
    c4.text_input("Jump to an id", key="explorer_jump", on_change=jump_to, placeholder="e.g. " + ex.ids[0])
    if st.session_state.get("explorer_jump_error"):
        st.warning(st.session_state["explorer_jump_error"])
    return choice


def image_confidence(name: str, k: int, zoom: int) -> None:
    """How sure the model is of this image: the outcome at a threshold of the user's, the image's score
    against the threshold, and the uncertain pixels (saltlab.analysis.confidence)."""
    prob, truth = ex.probs[name][k], ex.truth[k]
    c1, c2 = st.columns([1, 1])
    threshold = c1.slider(
        "Threshold for this image", 0.05, 0.95, float(options.threshold), 0.05, key="explorer_pixel_t"
    )
    overlay, score = at_threshold(ex.images[k], prob, truth, threshold)
    band = uncertain_share(prob)
    c1.image(mosaic([overlay, band_overlay(ex.images[k], prob)], 2, scale=zoom))
    c1.caption(
        f"Outcome at {threshold:.2f}: score {score:.2f}. In magenta, the {100 * band:.1f}% of pixels the model is "
        f"unsure of (probability {UNCERTAIN[0]} to {UNCERTAIN[1]})."
    )
    curve = score_curve(prob, truth)
    fig = px.line(curve, x="threshold", y="score", markers=True, title="This image's score against the threshold")
    fig.add_vline(x=threshold, line_dash="dot")
    c2.plotly_chart(
        fig.update_layout(height=280, margin=dict(t=40, b=10), yaxis_range=[-0.05, 1.05]),
        width="stretch",
        config={"displayModeBar": False},
    )


def image_detail(name: str, choice: str) -> None:
    """One image: its panels, its numbers, its neighbours in the section, the images most like it."""
    pos = {id_: k for k, id_ in enumerate(ex.ids)}
    k = pos[choice]
    zoom = st.select_slider("Zoom", list(PANELS_PER_ROW), value=3, key="explorer_zoom", format_func=lambda z: f"{z}x")
    panels = image_panels(ex.images[k], ex.truth[k], preds[name][k], ex.probs[name][k], zoom)
    st.image(panels, caption=PANEL_CAPTION)
    image_confidence(name, k, zoom)
    row = table.iloc[k]
    st.dataframe(
        pd.DataFrame({"value": [readable(v) for v in row]}, index=[COLUMN_NAMES.get(c, c) for c in row.index]),
        width="stretch",
    )
    loaded = active_dataset()
    around = neighbourhood(loaded[0], choice) if loaded else None
    if around is not None:
        st.image(around, caption=f"{choice} in its section (Mosaic page): its neighbours, true salt in yellow")
    else:
        st.caption(f"{choice} has no placed neighbour in the active data set (Mosaic page).")
    with reported("No images like this one"):  # imported predictions: no model to embed the images with
        more_like_this(name, choice)


def images_section() -> None:
    name, rows, shown, side_by_side = image_filters()
    image_galleries(name, shown, side_by_side)
    if not len(shown):
        st.info("No image matches these filters.")
        return
    image_detail(name, image_picker(rows, shown))


def map_section() -> None:
    """The images by the model's encoder features in 2-D; a chosen point, its outcome and the images like it."""
    name = st.selectbox("Model", ex.names, key="explorer_map_model")
    unit = None
    with reported("No map for this model"):  # imported predictions: no model to embed the images with
        unit = embeddings_of(name)
    if unit is None:
        return
    coords, share = map_2d(unit)
    colour = (
        st.segmented_control("Colour by", ["score", "coverage", "depth"], default="score", key="explorer_map_colour")
        or "score"
    )
    column = {"score": f"score {name}", "coverage": "coverage", "depth": "depth"}[colour]
    frame = pd.DataFrame({"id": ex.ids, "x": coords[:, 0], "y": coords[:, 1], colour: table[column].to_numpy()})
    fig = px.scatter(
        frame,
        x="x",
        y="y",
        color=colour,
        custom_data=["id"],
        hover_data={"id": True, "x": False, "y": False},
        color_continuous_scale="Viridis",
        title=f"{len(ex.ids)} validation images by {name}'s deepest encoder features (PCA: "
        f"{share[0]:.0%} + {share[1]:.0%} of the variance); choose a point",
    )
    event = st.plotly_chart(
        fig.update_layout(height=520, margin=dict(t=40, b=10)),
        width="stretch",
        on_select="rerun",
        selection_mode="points",
        key="explorer_map_plot",
    )
    points = event.selection.points if event else []
    if points:
        picked = points[0]["customdata"][0]
        k = ex.ids.index(picked)
        st.image(
            mosaic([gray_to_rgb(ex.images[k]), outcome_overlay(ex.images[k], preds[name][k], ex.truth[k])], 2, scale=3),
            caption=f"{picked}: image · outcome (score {table[f'score {name}'].iloc[k]:.2f})",
        )
        st.button(f"Open {picked} in Images", key="explorer_map_open", on_click=open_image, args=(picked,))
        more_like_this(name, picked)
    else:
        st.caption("Choose a point to see the image and the images most like it.")


def anatomy_section() -> None:
    """Where the errors sit: per pixel, the central crop, the threshold sweep, by coverage class and depth."""
    name = st.selectbox("Model", ex.names, key="explorer_anatomy_model")
    left, right = st.columns(2)
    heat = analysis.error_heatmap(preds[name], ex.truth)
    fig = px.imshow(heat, color_continuous_scale="Reds", title="Mean error per pixel (edges and corners show up here)")
    left.plotly_chart(fig.update_layout(height=380, margin=dict(t=40, b=10)), width="stretch")
    full, centre = analysis.central_crop_scores(preds[name], ex.truth)
    right.metric("Score, full image", f"{full:.4f}")
    right.metric(
        "Score, central 90x90 crop",
        f"{centre:.4f}",
        f"{centre - full:+.4f}",
        help="a diagnostic that leaves the edges out: not a competition score",
    )
    anatomy_sweep(name)
    anatomy_groups(name)


def anatomy_sweep(name: str) -> None:
    sweep = analysis.threshold_sweep(ex.probs[name], ex.judges[name], ex.truth, min_size=options.min_size)
    best = sweep[sweep["best"]].iloc[0]
    fig = px.line(
        sweep,
        x="threshold",
        y="score",
        markers=True,
        title=f"Score vs pixel threshold (best {best['threshold']:.2f}: {best['score']:.4f}, tuned on these "
        "same images, so optimistic)",
    )
    fig.add_vline(x=float(best["threshold"]), line_dash="dot")
    st.plotly_chart(fig.update_layout(height=300, margin=dict(t=40, b=10)), width="stretch")


def anatomy_groups(name: str) -> None:
    left, right = st.columns(2)
    by_class = analysis.score_by_group(
        table[f"score {name}"].to_numpy(), table["coverage_class"].to_numpy(), "coverage class"
    )
    left.plotly_chart(
        px.bar(
            by_class.reset_index(),
            x="coverage class",
            y="score",
            hover_data=["images"],
            title="Score by coverage class",
        ).update_layout(height=300, margin=dict(t=40, b=10)),
        width="stretch",
    )
    by_depth = analysis.score_by_group(table[f"score {name}"].to_numpy(), analysis.depth_bands(ex.depths), "depth band")
    right.plotly_chart(
        px.bar(
            by_depth.reset_index(), x="depth band", y="score", hover_data=["images"], title="Score by depth band"
        ).update_layout(height=300, margin=dict(t=40, b=10)),
        width="stretch",
    )


def slices_section() -> None:
    """Where a model fails, said in words (saltlab.analysis.slices); each slice's images one click away."""
    c1, c2, c3 = st.columns([2, 2, 1])
    name = c1.selectbox("Model", ex.names, key="explorer_slices_model")
    others = [n for n in ex.names if n != name]
    against = c2.selectbox("Against", ["(where it does worst)", *others], key="explorer_slices_against")
    against = None if against not in others else against
    min_size = c3.number_input("Images per slice, at least", 5, 500, 20, 5, key="explorer_slices_min")
    found, what = explored_slices(ex, options, name, against, top=8, min_size=int(min_size))
    summary = next(s for s in summaries if s.name == name)
    st.caption(
        f"{len(ex.ids)} validation images; {name} scores {summary.score:.4f}, predicting every mask empty "
        f"{summary.empty_score:.4f}. "
        + ("Slices where it scores lowest" if against is None else f"Slices where it beats {against} most")
        + ", at least two standard errors from the rest; 95% intervals by bootstrap; overlapping slices once."
    )
    if not found:
        st.info("No slice stands out from the rest by two standard errors or more.")
        return
    st.dataframe(slices_table(found, what), hide_index=True, width="stretch")
    for k, piece in enumerate(found):
        st.button(
            f"Show the {piece.size} images of: {piece.definition}",
            key=f"explorer_slice_{k}",
            on_click=state.show_slice,
            args=(piece.definition, piece.ids),
        )


def summary_report() -> None:
    """A self-contained HTML report of these models to share (saltlab.analysis.report), made on demand."""
    key = f"explorer_report_{'+'.join(ex.names)}_{options}"
    if st.button("Make a report to share (one HTML file, images inside)", key="explorer_make_report"):
        with st.spinner("Writing the report (slices, worst images, overlays)..."):
            st.session_state[key] = html_report(ex, options).encode()
    if key in st.session_state:
        st.download_button(
            "Download the report (HTML)",
            st.session_state[key],
            "saltlab-report.html",
            "text/html",
            key="explorer_report_download",
        )


SECTION_VIEWS = {
    "Summary": lambda: (summary_metrics(), summary_buckets_and_table(), summary_report()),
    "Images": images_section,
    "Slices": slices_section,
    "Map": map_section,
    "Error anatomy": anatomy_section,
}
SECTION_VIEWS[section_control(state.EXPLORER_SECTION, SECTIONS)]()
