"""Predict page: pick checkpoints (averaged as an ensemble), predict uploaded PNGs or the data set's
test images, see each mask over its image, download the masks and a submission; the whole test set
as a background job with progress."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages._ui import (
    active_path,
    ensure_entry,
    no_runs_yet,
    reported,
    required_dataset,
)
from saltlab.analysis.render import prediction_pairs
from saltlab.core.definitions import coverage as coverage_of
from saltlab.core.rle import submission_csv
from saltlab.core.scoring import masks_from_probs
from saltlab.inference.predict import decode_uploads, masks_zip, predict_images, suggested_threshold
from saltlab.jobs.predict_jobs import cancel_job, list_jobs, start_job
from saltlab.runs.run_folder import RunFolder

GALLERY_LIMIT = 48  # overlays drawn; the table, zip and CSV cover every image


def checkpoint_options() -> dict[str, Path]:
    """'RUN/best.pt' -> path for every inference checkpoint of every run, and 'NAME (imported smp model)' for
    each imported model, newest first (imported predictions cannot predict other images)."""
    from saltlab.analysis.explore import explorable_models

    options = {}
    for name, path in explorable_models().items():
        if path.suffix == ".pt":
            options[name if "/" in name else f"{name}/best.pt"] = path
        elif path.name == "model.safetensors":
            options[f"{name} (imported smp model)"] = path
    return options


@st.cache_data(show_spinner=False, max_entries=8)
def _predict(paths: tuple[str, ...], stamps: tuple, images: np.ndarray, tta: bool):
    # stamps (size, mtime) are part of the key so that a retrained checkpoint predicts again.
    bar = st.progress(0.0, text="Predicting...")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Predicting ({stage}): {done}/{total} images")

    try:
        return predict_images(list(paths), images, tta=tta, progress=progress)
    finally:
        bar.empty()


def model_label(options: dict[str, Path], name: str) -> str:
    """A model with its run's best validation score beside the all-empty score of the same images."""
    status = RunFolder(options[name].parent).status(check_process=False)
    best, empty = (status.score("best_score"), status.score("empty_score")) if status else (None, None)
    if best is None:
        return name
    return f"{name} (best val {best:.3f}" + (f", all-empty {empty:.3f})" if empty is not None else ")")


def chosen_models() -> tuple[dict[str, Path], list[str]]:
    options = checkpoint_options()
    if not options:
        no_runs_yet()
        st.stop()
    names = list(options)
    chosen = st.multiselect(
        "Models (several are averaged: the K folds of a recipe, the snapshots of a run)",
        names,
        default=names[:1],
        key="predict_models",
        format_func=lambda name: model_label(options, name),
    )
    if not chosen:
        st.info("Pick at least one model.")
        st.stop()
    return options, chosen


def settings(paths: tuple[str, ...]) -> tuple[bool, float, int]:
    """hflip TTA, the pixel threshold (by default the validation sweep's best) and the minimum component."""
    c1, c2, c3 = st.columns([1, 2, 2])
    tta = c1.checkbox("hflip TTA", key="predict_tta")
    suggested = suggested_threshold(list(paths), tta)
    default_threshold = suggested[0] if suggested else 0.5
    threshold = c2.slider(
        "Pixel threshold",
        0.05,
        0.95,
        default_threshold,
        0.05,
        key=f"predict_threshold_{hash((paths, tta))}",
        help="default: the best threshold of the validation sweep when the models were evaluated (Explorer); "
        "tuned on those validation images, so their score at it is optimistic",
    )
    min_size = int(c3.number_input("Min component (px)", 0, 2000, 0, 5, key="predict_min_size"))
    st.caption(
        f"Default threshold {default_threshold}: "
        + (suggested[1] if suggested else "no validation sweep yet (open the models in the Explorer to get one)")
    )
    return tta, threshold, min_size


def trained_elsewhere(options: dict[str, Path], chosen: list[str]) -> None:
    trained_on = {}
    for name in chosen:
        data = RunFolder(options[name].parent).data_path()  # the data set its run trained on
        if data and Path(data).absolute() != Path(active_path()).absolute():
            trained_on[name] = data
    if trained_on:
        st.warning(
            f"The active data set is `{active_path()}`; "
            + "; ".join(f"{n} was trained on `{d}`" for n, d in trained_on.items())
            + ". Its test images are predicted all the same."
        )


def images_to_predict() -> tuple[list[str], np.ndarray]:
    """Uploaded PNGs (the bad ones named and left out), or the first test images of the data set."""
    source = st.segmented_control(
        "Images", ["Upload PNGs", "Test images of the data set"], default="Upload PNGs", key="predict_source"
    )
    if source == "Test images of the data set":
        ds = required_dataset()[0]
        if not ds.n_test:
            st.warning(f"{ds.root} has no test images.")
            return [], np.zeros((0, 101, 101), np.uint8)
        count = st.slider("Test images to show", 1, min(ds.n_test, 200), min(ds.n_test, 24), key="predict_count")
        return list(ds.test_ids[:count]), ds.test_images[:count]
    uploads = st.file_uploader(
        "Seismic images (101x101 PNG, grayscale or RGB)",
        type=["png"],
        accept_multiple_files=True,
        key="predict_uploads",
    )
    if not uploads:
        return [], np.zeros((0, 101, 101), np.uint8)
    ids, images, problems = decode_uploads([(f.name, f.getvalue()) for f in uploads])
    for name, reason in problems:
        st.error(f"{name} left out: {reason}")
    return ids, images


def predictions(paths, ids, images, tta: bool, threshold: float, min_size: int) -> None:
    """The masks over their images, the table, the submission CSV and the masks as a zip."""
    stamps = tuple((Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in paths)
    with reported("Cannot predict", stop=True):
        probs, judge = _predict(paths, stamps, images, tta)
    masks = masks_from_probs(probs, judge, threshold, min_size)
    coverage = coverage_of(masks)
    table = pd.DataFrame(
        {
            "id": ids,
            "predicted coverage %": np.round(100 * coverage, 2),
            "max probability": probs.reshape(len(probs), -1).max(1).round(3),
        }
    )
    if judge is not None:
        table["judge P(salt)"] = judge.round(3)
    st.markdown(f"**{len(ids)} image(s)**, {int((coverage > 0).sum())} with predicted salt")
    shown = min(len(ids), GALLERY_LIMIT)
    st.image(
        prediction_pairs(ids, images, masks, GALLERY_LIMIT),
        caption="predicted salt over each image (pairs: image, prediction with coverage)"
        + (f"; first {shown} of {len(ids)}" if shown < len(ids) else ""),
    )
    st.dataframe(table, hide_index=True, width="stretch")
    d1, d2, _ = st.columns([2, 2, 3])
    d1.download_button(
        "Download submission CSV", submission_csv(ids, masks), "submission.csv", "text/csv", key="predict_csv"
    )
    d2.download_button(
        "Download masks (zip of PNGs)", masks_zip(ids, masks), "masks.zip", "application/zip", key="predict_zip"
    )


def whole_test_set(paths, tta: bool, threshold: float, min_size: int) -> None:
    """Start a background job over every test image; the latest jobs, live while one runs."""
    st.subheader("Whole test set")
    st.caption(
        "Runs as a background process (it goes on if you leave the page or close the app); the submission CSV "
        "follows sample_submission.csv's order and is written only when every image is done."
    )
    st.caption(f"Data set: `{active_path()}`")
    if st.button("Predict every test image", key="predict_start"):
        with reported("Cannot start"):
            job = start_job(list(paths), active_path(), tta, threshold, min_size)
            st.session_state["predict_job"] = job.path.name
    if any((j.read_status() or {}).get("state") == "running" for j in list_jobs()[:5]):
        live_jobs()
    else:
        show_jobs()


@st.cache_data(show_spinner=False, max_entries=2)
def _zip_folder(folder: str, stamp: float) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for png in sorted(Path(folder).glob("*.png")):
            archive.write(png, png.name)
    return buffer.getvalue()


def _model_label(path: str) -> str:
    p = Path(path)
    if p.name == "model.safetensors":  # an imported smp model: ENTRY/model/model.safetensors
        return f"{p.parent.parent.name} (imported smp model)"
    return f"{p.parent.name}/{p.name}" if p.suffix == ".pt" else p.name


def show_jobs() -> bool:
    """Draw the latest jobs; True while one is running."""
    jobs = list_jobs()[:5]
    running = False
    for job in jobs:
        status = job.read_status() or {}
        state, options_ = status.get("state", "?"), job.options()
        running |= state == "running"
        with st.container(border=True):
            st.markdown(
                f"**{job.path.name}**: {state}, {len(options_['runs'])} model(s), threshold {options_['threshold']}"
                + (", TTA" if options_["tta"] else "")
            )
            st.caption(
                f"data set {options_.get('data')}"
                + (f" (fingerprint {str(options_['fingerprint'])[:12]})" if options_.get("fingerprint") else "")
                + "; models: "
                + ", ".join(_model_label(r) for r in options_["runs"])
            )
            if state == "running":
                done, total = status.get("done", 0), status.get("total", 0)
                st.progress(done / total if total else 0.0, text=f"{status.get('message', '')}: {done}/{total}")
                if st.button("Cancel", key=f"predict_cancel_{job.path.name}"):
                    st.toast(cancel_job(job))
            elif state == "done" and job.csv_path.is_file():
                st.caption(
                    f"{status.get('n_images')} test images, {status.get('n_empty')} predicted empty; "
                    f"files in {job.path}"
                )
                b1, b2, _ = st.columns([2, 2, 3])
                b1.download_button(
                    "Submission CSV",
                    job.csv_path.read_bytes(),
                    f"{job.path.name}-submission.csv",
                    "text/csv",
                    key=f"predict_csv_{job.path.name}",
                )
                if job.masks_dir.is_dir():
                    b2.download_button(
                        "Masks (zip)",
                        _zip_folder(str(job.masks_dir), job.masks_dir.stat().st_mtime),
                        f"{job.path.name}-masks.zip",
                        "application/zip",
                        key=f"predict_zip_{job.path.name}",
                    )
            elif state == "failed":
                st.error(f"Failed: {status.get('error')}")
            else:
                st.caption(status.get("message", ""))
    return running


@st.fragment(run_every=1.0)
def live_jobs() -> None:
    if not show_jobs():
        time.sleep(0.1)
        st.rerun()  # the job ended: redraw the page once, and stop polling


ensure_entry()
st.title("Predict")
options, chosen = chosen_models()
paths = tuple(str(options[n]) for n in chosen)
tta, threshold, min_size = settings(paths)
trained_elsewhere(options, chosen)
ids, images = images_to_predict()
if ids:
    predictions(paths, ids, images, tta, threshold, min_size)
whole_test_set(paths, tta, threshold, min_size)
