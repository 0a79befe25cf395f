"""Mosaic page: the seismic sections rebuilt from their tiles, with the truth, a run's predictions or
its outcome colours in place; a chosen tile opens in the Explorer."""

import numpy as np
import streamlit as st

from pages._ui import (
    ensure_entry,
    explored_runs,
    image_panel,
    no_runs_yet,
    open_in_explorer,
    reported,
    required_dataset,
    section_mosaic,
)
from saltlab.analysis.render import LAYERS, layer_legend, layer_tile, section_picture
from saltlab.analysis.summaries import PostProcess
from saltlab.core.mosaic import tile_at


def headline(numbers: dict) -> None:
    """Tiles placed, sections, the largest, and how well linked tiles' masks agree (against random pairs)."""
    cols = st.columns(4)
    cols[0].metric("Tiles placed", f"{numbers['placed']} of {numbers['tiles']}")
    cols[1].metric("Sections", numbers["sections"])
    largest = numbers["largest"][0] if numbers["largest"] else None
    cols[2].metric(
        "Largest section", f"{largest['tiles']} tiles ({largest['rows']}x{largest['cols']})" if largest else "-"
    )
    if numbers["salty_links"]:
        cols[3].metric(
            "Link precision proxy",
            f"IoU {numbers['linked_iou']:.2f}",
            f"random pairs {numbers['random_iou']:.2f}",
            delta_color="off",
            delta_arrow="off",
            help="Along the shared edge of two linked train tiles (where either edge has salt), how well their "
            "truth masks agree, against random pairs of train tiles: no ground-truth layout needed.",
        )
    st.caption(
        "Every tile is a 101x101 cut of a larger seismic section. Tiles are linked where their edges continue into "
        "each other (each border extrapolated one step, correlation, mutual best match and a ratio test against "
        "the second best), then placed most confident first where no two tiles fall on one cell."
    )
    if not numbers["sections"]:
        st.info(
            "No two tiles of this data set share an edge that could be matched. (The default demo set draws every "
            "image on its own; `python -m saltlab demo-data OUT --sections 2` writes one cut from sections.)"
        )
        st.stop()


def section_and_layer(mosaic) -> tuple[int, str, bool]:
    sections = mosaic.sections()
    titles = {
        r.section: f"{r.section}: {r.tiles} tiles ({r.rows}x{r.cols}), {r.train_tiles} train"
        for r in sections.itertuples()
    }
    c1, c2, c3 = st.columns([3, 3, 1])
    number = c1.selectbox("Section", list(titles), format_func=titles.get, key="mosaic_section")
    layer = c2.segmented_control("Show", list(LAYERS), default="image", key="mosaic_layer") or "image"
    show_ids = c3.checkbox("Tile ids", value=True, key="mosaic_ids")
    return number, layer, show_ids


def run_for_layer(layer: str):
    """(the run's Explored view or None, its name): the run whose validation predictions the layer shows."""
    if layer not in ("prediction", "outcome"):
        return None, None
    from saltlab.analysis.explore import explorable_models

    models = explorable_models()
    if not models:
        no_runs_yet("to show predictions here")
        return None, None
    model = st.selectbox("Run", list(models), key="mosaic_run", help="predictions on the run's validation images")
    path = models[model]
    ex = None
    with reported(f"Cannot evaluate {model}"):  # an unreadable checkpoint or another data set
        ex = explored_runs((str(path),), ((path.stat().st_size, path.stat().st_mtime_ns),), False)
    return ex, model


def draw_section(ds, mosaic, number: int, layer: str, show_ids: bool, ex) -> str:
    """The section picture in the chosen layer, the chosen tile framed; returns the chosen tile's id."""
    grid = mosaic.grid(number)
    members = grid[grid >= 0]
    evaluated = {id_: k for k, id_ in enumerate(ex.ids)} if ex is not None else {}
    preds = ex.view(PostProcess()).preds[ex.names[0]] if ex is not None else None
    tiles = []
    for position in members:
        image, mask = tile_at(ds, position)
        k = evaluated.get(mosaic.ids[position])
        pred, truth = (preds[k], ex.truth[k]) if k is not None else (None, None)
        tiles.append(layer_tile(image, layer, mask, pred, truth))
    local = np.full(grid.shape, -1, dtype=np.int64)
    for k, position in enumerate(members):
        local[grid == position] = k
    labels = [mosaic.ids[p][:6] + ("" if p < ds.n_train else " t") for p in members] if show_ids else None
    chosen = st.selectbox(
        "Open a tile",
        [mosaic.ids[p] for p in members],
        key="mosaic_tile",
        help="framed in yellow in the picture; its numbers and neighbours below",
    )
    highlight = int(np.flatnonzero(members == mosaic.position(chosen))[0])
    picture = section_picture(np.stack(tiles), local, labels, highlight=highlight)
    scale = max(1, min(3, 1000 // picture.shape[1]))
    if scale > 1:
        picture = np.repeat(np.repeat(picture, scale, 0), scale, 1)
    st.image(
        picture, caption=f"section {number}: {grid.shape[0]} x {grid.shape[1]} cells; ids: first 6 characters, t = test"
    )
    if layer_legend(layer):
        st.caption(layer_legend(layer), unsafe_allow_html=True)
    return chosen


def chosen_tile(ds, table, mosaic, chosen: str, ex, model: str | None) -> None:
    """The chosen tile's neighbours, the way to the Explorer, its numbers."""
    position = mosaic.position(chosen)
    neighbours = mosaic.neighbours(position)
    st.caption(
        "Neighbours: "
        + (", ".join(f"{side} {mosaic.ids[p]}" for side, p in neighbours.items()) if neighbours else "none placed")
    )
    if ex is not None and chosen in ex.ids:
        open_in_explorer(chosen, key="mosaic_open", run=model)
    elif ex is not None:
        st.caption(f"{chosen} is not a validation image of {model}: the Explorer shows only those.")
    image_panel(chosen, *tile_at(ds, position), table.set_index("id").loc[chosen])


ensure_entry()
st.title("Mosaic")
ds, table, _ = required_dataset()
mosaic, numbers = section_mosaic(ds)
headline(numbers)
number, layer, show_ids = section_and_layer(mosaic)
ex, model = run_for_layer(layer)
chosen = draw_section(ds, mosaic, number, layer, show_ids, ex)
chosen_tile(ds, table, mosaic, chosen, ex, model)
