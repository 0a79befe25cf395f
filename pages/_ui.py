"""Shared Streamlit helpers for the pages: the active data set, loaded once and cached.

Not a page itself (the leading underscore keeps it out of the navigation).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from pages import _state as state
from pages._state import APP_KEY, DATA_KEY
from saltlab.core.dataset import Dataset, load_dataset
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import first_line
from saltlab.core.paths import demo_data_path, load_settings, resolve_data_path, save_settings
from saltlab.core.sources import DataSetError, scan
from saltlab.core.table import image_table, summary


def mark_entry() -> None:
    """Called by app.py: this session runs through the entry script."""
    st.session_state[APP_KEY] = True


def ensure_entry() -> None:
    """Re-route a page that Streamlit ran without app.py.

    With a `pages/` folder beside the entry script, Streamlit starts each new server process in
    its legacy multipage mode: a deep link such as /train runs pages/train.py directly, without
    the navigation and the data set picker, until some run has called st.navigation. Calling it
    here switches the process to st.navigation mode and the rerun goes through app.py.
    """
    if not st.session_state.get(APP_KEY):
        st.navigation(app_pages(), position="hidden")
        st.rerun()


def app_pages() -> list:
    """The app's pages, in navigation order (app.py and the re-route above share this list)."""
    return [
        st.Page("pages/dataset.py", title="Data set", icon=":material/dataset:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/explorer.py", title="Explorer", icon=":material/troubleshoot:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/mosaic.py", title="Mosaic", icon=":material/grid_view:"),
        st.Page("pages/suspects.py", title="Suspects", icon=":material/report:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
    ]


BIG = 3  # enlargement of the single-image view


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
    """The data set of this session: the one last chosen in the sidebar (saved, so that a reload or a new tab
    keeps it) while that folder exists, else the default (SALTLAB_DATA, data/tgs, the demo set)."""
    if DATA_KEY not in st.session_state:
        saved = load_settings().get("data")
        chosen = saved if isinstance(saved, str) and Path(saved).is_dir() else None
        st.session_state[DATA_KEY] = str(Path(chosen).absolute()) if chosen else str(resolve_data_path().absolute())
    return st.session_state[DATA_KEY]


def _choose(path: str) -> None:
    st.session_state[DATA_KEY] = str(Path(path).expanduser().absolute())
    save_settings(data=st.session_state[DATA_KEY])


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


def required_dataset() -> tuple[Dataset, object, dict]:
    """The active data set, or the page stops here after showing why it cannot be used."""
    loaded = active_dataset()
    if loaded is None:
        st.stop()
    return loaded


def _use_entered_path() -> None:
    entered = st.session_state.get("data_path_input", "").strip()
    if entered:
        _choose(entered)


def _use_demo() -> None:
    _choose(str(resolve_data_path(demo_data_path())))
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
            help="A folder with train/images, train/masks, test/images (or train.zip, test.zip) and the CSVs. "
            "Press Enter to load it.",
        )
        st.button("Use the demo set", on_click=_use_demo)
        st.caption(f"Active: `{current}`")
        try:
            fingerprint = scan(current).fingerprint()
            with st.spinner("Loading the data set..."):
                ds = _load(current, fingerprint)
            st.caption(f"{ds.n_train} train, {ds.n_test} test images; health: {ds.health.describe()}")
        except DataSetError as exc:
            st.caption(f":red[Not a usable data set: {exc}]")


@st.cache_resource(show_spinner=False, max_entries=4)
def _mosaic(path: str, fingerprint: str):
    from saltlab.core.mosaic import load_mosaic, summary

    ds = _load(path, fingerprint)
    mosaic, _ = load_mosaic(ds)
    return mosaic, summary(mosaic, ds)


def section_mosaic(ds: Dataset):
    """(Mosaic, its summary numbers) of a loaded data set: matched once, then from the disk cache."""
    with st.spinner("Matching tile edges (once per data set; cached on disk)..."):
        return _mosaic(str(ds.root), ds.fingerprint)


def neighbourhood(ds: Dataset, id_: str, scale: int = 2):
    """A 3x3 picture of a tile and its placed neighbours (None where the tile is in no section)."""
    import numpy as np

    from saltlab.analysis.render import gray_to_rgb, mask_overlay, section_picture
    from saltlab.core.mosaic import tile_at

    mosaic, _ = section_mosaic(ds)
    if id_ not in mosaic.ids:
        return None
    centre = mosaic.position(id_)
    if mosaic.section[centre] < 0:
        return None
    full = mosaic.grid(int(mosaic.section[centre]))
    r, c = int(mosaic.row[centre]), int(mosaic.col[centre])
    local = np.full((3, 3), -1, dtype=np.int64)
    tiles, labels = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            rr, cc = r + dr, c + dc
            if 0 <= rr < full.shape[0] and 0 <= cc < full.shape[1] and full[rr, cc] >= 0:
                p = int(full[rr, cc])
                image, mask = tile_at(ds, p)
                tiles.append(mask_overlay(image, mask) if mask is not None else gray_to_rgb(image))
                labels.append(mosaic.ids[p][:6])
                local[dr + 1, dc + 1] = len(tiles) - 1
    picture = section_picture(np.stack(tiles), local, labels, highlight=int(local[1, 1]))
    return np.repeat(np.repeat(picture, scale, 0), scale, 1)


def readable(value) -> str:
    """A value rounded to what it means: integers as integers (a depth of 841, not 841.0000), other
    numbers to 4 decimals, booleans as yes / no."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "-" if np.isnan(value) else (f"{value:.0f}" if float(value).is_integer() else f"{value:.4f}")
    return str(value)


def image_panel(id_: str, image, mask, row, mode: str = "fill") -> None:
    """One image large: the image, its mask overlay (fill or contour, as chosen) and mask, with its numbers."""
    import numpy as np

    from saltlab.analysis.render import SALT_COLOUR, gray_to_rgb, mask_overlay, mosaic

    st.markdown(f"#### {id_}")
    left, right = st.columns([3, 1])
    tiles = [gray_to_rgb(image)]
    if mask is not None:
        mask_rgb = np.where(mask[..., None], np.array(SALT_COLOUR, np.uint8), np.array([40, 40, 40], np.uint8))
        tiles += [mask_overlay(image, mask, "fill" if mode == "none" else mode), mask_rgb]
    left.image(
        mosaic(tiles, 3, scale=BIG), caption="image, overlay, mask" if mask is not None else "test image (no mask)"
    )
    numbers = {k: row[k] for k in row.index if not (isinstance(row[k], float) and np.isnan(row[k]))}
    right.dataframe({"value": {k: readable(v) for k, v in numbers.items()}}, width="stretch")


@st.cache_resource(show_spinner=False, max_entries=8)
def explored_runs(runs: tuple[str, ...], stamps: tuple, tta: bool):
    # stamps (checkpoint size and mtime) are in the key so that a retrained run is evaluated again.
    from saltlab.analysis.explore import explore

    bar = st.progress(0.0, text="Evaluating on the validation fold (cached on disk afterwards)...")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Evaluating {stage}: {done}/{total} images")

    try:
        return explore(list(runs), tta=tta, progress=progress)
    finally:
        bar.empty()


def inference_checkpoints(runs: list) -> dict:
    """{model name: checkpoint file} for each run's best.pt, swa.pt and snapshots (no imported entries: they
    hold predictions, not a model)."""
    from saltlab.analysis.explore import explorable_models

    names = {r.path.name for r in runs}
    return {n: p for n, p in explorable_models().items() if p.suffix == ".pt" and p.parent.name in names}


def run_picker(key: str, multiple: bool = True, default_count: int = 1):
    """Pick finished runs (with a best.pt); returns (Explored, PostProcess) or None after explaining why."""
    from saltlab.analysis.explore import explorable_models
    from saltlab.analysis.summaries import PostProcess

    models = explorable_models()
    if not models:
        no_runs_yet()
        return None
    names = list(models)
    best_names = [n for n in names if "/" not in n]  # the default: the newest runs' best.pt
    c1, c2, c3, c4 = st.columns([4, 1, 1, 1])
    chosen = c1.multiselect(
        "Runs",
        names,
        default=None if f"{key}_runs" in st.session_state else best_names[:default_count],
        key=f"{key}_runs",
        max_selections=None if multiple else 1,
        help="a run's best.pt, or RUN/swa.pt and RUN/snapshot-eNNN.pt, or imported predictions (`import`)",
    )
    tta = c2.checkbox("hflip TTA", key=f"{key}_tta")
    threshold = c3.slider("Pixel threshold", 0.05, 0.95, 0.5, 0.05, key=f"{key}_threshold")
    min_size = c4.number_input("Min component (px)", 0, 2000, 0, 5, key=f"{key}_min_size")
    if not chosen:
        st.info("Pick at least one run.")
        return None
    paths = tuple(str(models[n]) for n in chosen)
    stamps = tuple((models[n].stat().st_size, models[n].stat().st_mtime_ns) for n in chosen)
    ex = None
    with reported("Cannot evaluate"):
        ex = explored_runs(paths, stamps, tta)
    if ex is None:
        return None
    for note in ex.notes:
        st.warning(note)
    best = ex.evaluations[ex.names[0]].scores.get("sweep_threshold")
    if best is not None:
        st.button(
            f"Use the best threshold of {ex.names[0]}'s sweep: {best:.2f} (tuned on these same images)",
            key=f"{key}_best_threshold",
            on_click=set_widget_value,
            args=(f"{key}_threshold", float(best)),
            disabled=abs(best - threshold) < 1e-9,
        )
    return ex, PostProcess(threshold, int(min_size))


def no_runs_yet(what: str = "") -> None:
    """What an empty page says: where runs come from, with a link there (one recommendation everywhere)."""
    st.info(
        "No trained run yet" + (f" {what}" if what else "") + ". For a first model worth exploring, start the "
        "`tiny` preset on the Train page (5 minutes on a CPU); `cpu_hour` is the one-hour recipe."
    )
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")


def section_control(key: str, sections: list[str]) -> str:
    """The page's section buttons: the first selected at the start, a section set by another page (or a
    callback) respected, and a click on the selected button keeping it selected."""
    return (
        st.segmented_control(
            "Section",
            sections,
            default=None if key in st.session_state else sections[0],
            key=key,
            label_visibility="collapsed",
            on_change=keep_selected,
            args=(key, sections[0]),
        )
        or sections[0]
    )


def keep_selected(key: str, default: str) -> None:
    """on_change of a segmented control: a click on the selected button would deselect it (no section
    at all); keep the last choice selected instead."""
    last = f"_{key}_last"
    if st.session_state.get(key) is None:
        st.session_state[key] = st.session_state.get(last, default)
    else:
        st.session_state[last] = st.session_state[key]


# How the per-image tables' columns read on the pages (the CSV exports keep the library's names).
COLUMN_NAMES = {
    "coverage_class": "coverage class",
    "empty": "empty mask",
    "vertical_mask": "vertical mask",
    "constant_image": "constant image",
    "full_mask": "full mask",
    "image_mean": "image mean",
    "image_std": "image std",
}


def open_in_explorer(id_: str, key: str, run: str | None = None) -> None:
    """A button that opens this image in the Explorer's Images section, with `run` or else the newest run that
    held it out (the Explorer shows validation images only); a caption instead where no run held it out."""
    from saltlab.runs.registry import runs_holding_out

    holder = run or next(iter(runs_holding_out(id_)), None)
    if holder is None:
        st.caption(f"{id_} is a validation image of no trained run, so the Explorer cannot show it.")
        return
    if st.button(f"Open {id_} in the Explorer", key=key, help=f"with {holder}, which held it out for validation"):
        state.open_in_explorer(id_, holder)


def id_opener(ids: list[str], key: str) -> None:
    """Below a table of images: choose one of its ids (type to search) and open it in the Explorer."""
    if not ids:
        return
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    chosen = left.selectbox("Open an image of this table", ids, key=key)
    with right:
        open_in_explorer(chosen, key=f"{key}_open")


def clickable_gallery(tiles: list, ids: list[str], columns: int, key: str, on_pick, labels=None) -> None:
    """Thumbnails that open on a click: the mosaic drawn by Plotly (its toolbar zooms and pans) with one
    invisible point at each tile's centre; a click anywhere picks the nearest centre, that is the tile under
    the pointer, and calls on_pick(id) before the page is drawn again."""
    import plotly.express as px
    import plotly.graph_objects as go

    from saltlab.analysis.render import mosaic

    gap = 4  # render.mosaic's default
    picture = mosaic(tiles, columns, labels, gap=gap)
    columns = max(1, min(columns, len(tiles)))
    h, w = tiles[0].shape[:2]
    fig = px.imshow(picture, binary_string=True, binary_format="png")
    fig.add_trace(
        go.Scatter(
            x=[(k % columns) * (w + gap) + w / 2 for k in range(len(ids))],
            y=[(k // columns) * (h + gap) + h / 2 for k in range(len(ids))],
            mode="markers",
            marker=dict(size=max(8, w // 3), opacity=0),
            customdata=list(ids),
            hovertemplate="%{customdata}: click to open<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        margin=dict(l=0, r=0, t=0, b=0),
        hoverdistance=-1,
        height=int(picture.shape[0] * min(1.0, 950 / picture.shape[1])),  # 950: about the main column
    )

    def picked() -> None:
        state = st.session_state.get(key)
        points = state.selection.points if state else []
        if points:
            value = points[0]["customdata"]
            on_pick(value[0] if isinstance(value, list) else value)

    st.plotly_chart(
        fig,
        key=key,
        on_select=picked,
        selection_mode="points",
        width="stretch",
        config={"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]},
    )


def set_widget_value(key: str, value) -> None:
    """A button's callback: set a widget's value before the widgets are drawn again."""
    st.session_state[key] = value


@contextmanager
def reported(action: str, stop: bool = False):
    """Every page's error report: what failed inside the block is one line under `action` ("Cannot rank:
    ..."), the page stays up. A SaltLabError names the item and the reason itself; anything else (a file
    torch cannot read, a run of another data set) also shows its type. stop=True ends the page's run there."""
    try:
        yield
    except SaltLabError as exc:
        st.error(f"{action}: {first_line(exc)}")
        if stop:
            st.stop()
    except Exception as exc:  # noqa: BLE001 (one line instead of a page-wide traceback)
        st.error(f"{action}: {type(exc).__name__}: {first_line(exc)}")
        if stop:
            st.stop()


HELD_OUT_UNKNOWN, HELD_OUT_ALL = "unknown (the scores will say so)", "every predicted image (made without their labels)"


def import_predictions_control(key: str) -> None:
    """Import predictions or an smp model made elsewhere as an entry beside the runs; what happened is kept
    for the next run of the page."""
    with st.expander("Import predictions or a model made elsewhere (a Kaggle CSV, an .npz, PNGs, an smp folder)"):
        for kind, line in st.session_state.pop(f"{key}_import_result", []):
            getattr(st, kind)(line)
        upload = st.file_uploader(
            "A CSV (id,rle_mask) or an .npz of probabilities", ["csv", "npz"], key=f"{key}_upload"
        )
        folder = st.text_input(
            "... or a folder: PNGs named by id (masks or 8/16-bit probabilities), or an smp save_pretrained model",
            key=f"{key}_png",
        ).strip()
        convention = _convention_widgets(key, folder)
        name = st.text_input("Name of the entry", key=f"{key}_import_name")
        held = _held_out_widget(key)
        if st.button("Import", key=f"{key}_import") and (upload or folder):
            st.session_state[f"{key}_import_result"] = _imported(upload, folder, name.strip(), held, convention)
            st.rerun()


def _convention_widgets(key: str, folder: str):
    """An smp model folder's input convention (None for anything else): how the model was fed in training."""
    from saltlab.runs.imported import is_model_folder

    if not folder or not is_model_folder(folder):
        return None
    from saltlab.core.fileio import read_json
    from saltlab.models.imported_smp import NORMALISATIONS, PADS, InputConvention

    st.caption("An smp model: say how it was fed in training (SaltLab gives it 101x101 tiles scaled to [0, 1]).")
    c1, c2, c3, c4 = st.columns(4)
    channels = int(read_json(Path(folder) / "config.json").get("in_channels", 1))
    return InputConvention(
        c1.selectbox("Channels", [1, 3], index=0 if channels == 1 else 1, key=f"{key}_channels"),
        c2.selectbox("Trained at (px)", [101, 128, 160, 224, 256], index=1, key=f"{key}_size"),
        c3.selectbox("101 brought to it by", PADS, key=f"{key}_pad"),
        c4.selectbox("Normalisation", NORMALISATIONS, key=f"{key}_normalise"),
    )


def _held_out_widget(key: str) -> str:
    from saltlab.runs.run_folder import list_runs

    runs = [r.path.name for r in list_runs() if r.split() is not None]
    return st.selectbox(
        "Held out on",
        [HELD_OUT_UNKNOWN, HELD_OUT_ALL, *[f"the validation images of {r}" for r in runs]],
        key=f"{key}_held_out",
        help="the images the predictions (or the model) never saw: their scores and the label ranking rely on it",
    )


def _imported(upload, folder: str, name: str, held: str, convention) -> list[tuple[str, str]]:
    """Run the import; the lines to show: (st function name, text)."""
    import tempfile

    from saltlab.runs.imported import import_model, import_predictions, validation_ids_of
    from saltlab.runs.run_folder import checkpoints_root

    with tempfile.TemporaryDirectory() as tmp:
        source = folder
        if upload is not None:
            source = str(Path(tmp) / Path(upload.name).name)
            Path(source).write_bytes(upload.getvalue())
        try:
            held_out = {HELD_OUT_UNKNOWN: None, HELD_OUT_ALL: "all"}.get(held)
            if held.startswith("the validation images of "):
                held_out = validation_ids_of(checkpoints_root() / held.removeprefix("the validation images of "))
            name = name or Path(source).stem
            if convention is not None:
                entry, record = import_model(source, active_path(), name, convention, held_out=held_out)
            else:
                entry, record = import_predictions(source, active_path(), name, held_out=held_out)
        except (SaltLabError, OSError) as exc:
            return [("error", f"Cannot import: {first_line(exc)}")]
    what = (
        "an smp model"
        if convention is not None
        else f"{record.n_ids} " + ("masks (no probabilities)" if record.binary else "probabilities")
    )
    lines = [("success", f"Imported {what} as {entry.name}: pick it under Runs.")]
    lines += [("warning", f"Left out: {problem}") for problem in record.problems[:20]]
    if len(record.problems) > 20:
        lines.append(("warning", f"... and {len(record.problems) - 20} more left out"))
    return lines
