"""Mosaic page: the seismic sections rebuilt from their tiles, with the truth, a run's predictions or
its outcome colours in place; a chosen tile opens in the Explorer."""

import numpy as np
import streamlit as st

from pages._ui import (
    active_dataset,
    ensure_entry,
    explored_runs,
    image_panel,
    inference_checkpoints,
    no_runs_yet,
    open_in_explorer,
    reported,
    section_mosaic,
)
from saltlab.analysis.render import OUTCOME_COLOURS, gray_to_rgb, mask_overlay, outcome_overlay, section_picture
from saltlab.analysis.summaries import PostProcess
from saltlab.core.mosaic import tile_at

ensure_entry()
st.title("Mosaic")
loaded = active_dataset()
if loaded is None:
    st.stop()
ds, table, _ = loaded
mosaic, numbers = section_mosaic(ds)

cols = st.columns(4)
cols[0].metric("Tiles placed", f"{numbers['placed']} of {numbers['tiles']}")
cols[1].metric("Sections", numbers["sections"])
largest = numbers["largest"][0] if numbers["largest"] else None
cols[2].metric("Largest section", f"{largest['tiles']} tiles ({largest['rows']}x{largest['cols']})" if largest else "-")
if numbers["salty_links"]:
    cols[3].metric(
        "Link precision proxy",
        f"IoU {numbers['linked_iou']:.2f}",
        f"random pairs {numbers['random_iou']:.2f}",
        delta_color="off",
        delta_arrow="off",
        help="Along the shared edge of two linked train tiles (where either edge has salt), how well their truth "
        "masks agree, against random pairs of train tiles: no ground-truth layout needed.",
    )
st.caption(
    "Every tile is a 101x101 cut of a larger seismic section. Tiles are linked where their edges continue into "
    "each other (each border extrapolated one step, correlation, mutual best match and a ratio test against the "
    "second best), then placed most confident first where no two tiles fall on one cell."
)
if not numbers["sections"]:
    st.info(
        "No two tiles of this data set share an edge that could be matched. (The default demo set draws every "
        "image on its own; `python -m saltlab demo-data OUT --sections 2` writes one cut from sections.)"
    )
    st.stop()

sections = mosaic.sections()
titles = {
    r.section: f"{r.section}: {r.tiles} tiles ({r.rows}x{r.cols}), {r.train_tiles} train" for r in sections.itertuples()
}
c1, c2, c3 = st.columns([3, 3, 1])
number = c1.selectbox("Section", list(titles), format_func=titles.get, key="mosaic_section")
layer = (
    c2.segmented_control("Show", ["image", "truth", "prediction", "outcome"], default="image", key="mosaic_layer")
    or "image"
)
show_ids = c3.checkbox("Tile ids", value=True, key="mosaic_ids")

grid = mosaic.grid(number)
members = grid[grid >= 0]
n_train = ds.n_train

ex, model = None, None
if layer in ("prediction", "outcome"):
    from saltlab.runs.run_folder import list_runs

    models = inference_checkpoints([r for r in list_runs() if r.best_path.is_file()])
    if not models:
        no_runs_yet("to show predictions here")
    else:
        model = st.selectbox("Run", list(models), key="mosaic_run", help="predictions on the run's validation images")
        path = models[model]
        with reported(f"Cannot evaluate {model}"):  # an unreadable checkpoint or another data set
            ex = explored_runs((str(path),), ((path.stat().st_size, path.stat().st_mtime_ns),), False)
evaluated = {id_: k for k, id_ in enumerate(ex.ids)} if ex is not None else {}
name = ex.names[0] if ex is not None else None
preds = ex.view(PostProcess()).preds[name] if ex is not None else None

drawn: dict[int, np.ndarray] = {}
for position in members:
    image, mask = tile_at(ds, position)
    id_ = mosaic.ids[position]
    if layer == "truth":
        drawn[position] = mask_overlay(image, mask, "fill") if mask is not None else gray_to_rgb(image)
    elif layer in ("prediction", "outcome") and id_ in evaluated:
        k = evaluated[id_]
        pred = preds[k]
        drawn[position] = (
            mask_overlay(image, pred, "fill", colour=(0, 200, 255))
            if layer == "prediction"
            else outcome_overlay(image, pred, ex.truth[k])
        )
    elif layer in ("prediction", "outcome"):
        drawn[position] = (gray_to_rgb(image) * 0.45).astype(np.uint8)  # not a validation image of the run
    else:
        drawn[position] = gray_to_rgb(image)
local = np.full(grid.shape, -1, dtype=np.int64)
stack = np.stack([drawn[p] for p in members])
for k, position in enumerate(members):
    local[grid == position] = k
labels = [mosaic.ids[p][:6] + ("" if p < n_train else " t") for p in members] if show_ids else None

chosen = st.selectbox(
    "Open a tile",
    [mosaic.ids[p] for p in members],
    key="mosaic_tile",
    help="framed in yellow in the picture; its numbers and neighbours below",
)
chosen_position = mosaic.position(chosen)
highlight = int(np.flatnonzero(members == chosen_position)[0])
picture = section_picture(stack, local, labels, highlight=highlight)
scale = max(1, min(3, 1000 // picture.shape[1]))
if scale > 1:
    picture = np.repeat(np.repeat(picture, scale, 0), scale, 1)
legend = ""
if layer == "outcome":
    legend = " · ".join(f"<span style='color:rgb{c}'>■</span> {k}" for k, c in OUTCOME_COLOURS.items())
elif layer == "prediction":
    legend = "<span style='color:rgb(0,200,255)'>■</span> predicted salt"
elif layer == "truth":
    legend = "<span style='color:rgb(255,200,0)'>■</span> true salt (train tiles)"
if layer in ("prediction", "outcome"):
    legend += " · dimmed: not a validation image of the run"
st.image(
    picture, caption=f"section {number}: {grid.shape[0]} x {grid.shape[1]} cells; ids: first 6 characters, t = test"
)
if legend:
    st.caption(legend, unsafe_allow_html=True)

neighbours = mosaic.neighbours(chosen_position)
st.caption(
    "Neighbours: "
    + (", ".join(f"{side} {mosaic.ids[p]}" for side, p in neighbours.items()) if neighbours else "none placed")
)
if ex is not None and chosen in evaluated:
    open_in_explorer(chosen, key="mosaic_open", run=model)
elif ex is not None:
    st.caption(f"{chosen} is not a validation image of {model}: the Explorer shows only those.")
row = table.set_index("id").loc[chosen]
image_panel(chosen, *tile_at(ds, chosen_position), row)
