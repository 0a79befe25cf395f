"""Test-set prediction: one run or an ensemble (K folds, snapshots), TTA, judge gate, submission CSV.

Probabilities of every run are averaged (and the judges of judge models); the mask is the
averaged probability above the pixel threshold, small components removed, zeroed where the
averaged judge says no salt. The default threshold is the best of the explorer's sweep when the
runs have a cached evaluation (`suggested_threshold`). The submission is written to a temp file and renamed, so a crash
mid-way leaves no half-written CSV.
"""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from saltlab.core.dataset import load_dataset
from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import atomic_write, read_json
from saltlab.core.pngs import BadFile, decode_image
from saltlab.core.progress import Progress
from saltlab.core.rle import write_submission
from saltlab.core.scoring import masks_from_probs
from saltlab.inference.evaluate import resolve_checkpoint
from saltlab.inference.network import load_for_inference, predict, resolve_device
from saltlab.runs.imported import is_import


class PredictError(SaltLabError, ValueError):
    """A prediction that cannot be made (no test images, no runs...), with the reason."""


@dataclass
class Prediction:
    ids: list[str]
    probs: np.ndarray  # float32 (N, 101, 101), averaged over runs
    judge: np.ndarray | None
    masks: np.ndarray  # bool (N, 101, 101)
    threshold: float
    min_size: int
    runs: list[str]


def _model_of(run: str | os.PathLike, checkpoint: str, device) -> tuple[object, int, bool]:
    """(model, input size, channels_last) of a run's checkpoint, or of an imported smp model entry."""
    return load_for_inference(run if is_import(run) else resolve_checkpoint(run, checkpoint)[1], device)


def predict_images(
    runs: list[str | os.PathLike],
    images: np.ndarray,
    tta: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    checkpoint: str = "best",
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Averaged probabilities (and judge, when any run has one) of the runs on uint8 images."""
    if not runs:
        raise PredictError("no runs given")
    dev = resolve_device(device)
    total = None
    judges = []
    for k, run in enumerate(runs):
        model, input_size, channels_last = _model_of(run, checkpoint, dev)
        probs, judge = predict(
            model,
            images,
            input_size,
            dev,
            batch_size,
            dev.type == "cuda",
            channels_last,
            tta,
            progress=progress,
            label=f"run {k + 1}/{len(runs)}",
        )
        total = probs if total is None else total + probs
        if judge is not None:
            judges.append(judge)
    return total / len(runs), (np.mean(judges, axis=0) if judges else None)


def predict_test_set(
    runs: list[str | os.PathLike],
    data: str | None = None,
    tta: bool = False,
    threshold: float = 0.5,
    min_size: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    progress: Progress | None = None,
) -> Prediction:
    ds = load_dataset(data)
    if not ds.n_test:
        raise PredictError(f"{ds.root} has no test images (test/images or test.zip)")
    # The submission follows sample_submission.csv's order when it has one; otherwise sorted ids.
    ids = [i for i in ds.submission_ids if i in set(ds.test_ids)] or list(ds.test_ids)
    positions = {id_: k for k, id_ in enumerate(ds.test_ids)}
    images = ds.test_images[[positions[i] for i in ids]]
    probs, judge = predict_images(runs, images, tta, batch_size, device, progress=progress)
    masks = masks_from_probs(probs, judge, threshold, min_size)
    return Prediction(ids, probs, judge, masks, threshold, min_size, [str(r) for r in runs])


def check_request(
    out: str | os.PathLike, png_dir: str | os.PathLike | None, threshold: float | None, batch_size: int, min_size: int
) -> None:
    """Refuse, before any inference, options and output paths that would fail or write nonsense later."""
    if threshold is not None and not (math.isfinite(threshold) and 0 < threshold < 1):
        raise PredictError(f"--threshold must be between 0 and 1 (exclusive), got {threshold}")
    if batch_size < 1:
        raise PredictError(f"--batch-size must be at least 1, got {batch_size}")
    if min_size < 0:
        raise PredictError(f"--min-size must be >= 0, got {min_size}")
    out = Path(out)
    if out.is_dir():
        raise PredictError(f"--out {out} is a folder; give a file name such as {out / 'submission.csv'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise PredictError(f"--out {out}: cannot write in {parent} (missing or not writable)")
    if png_dir is not None:
        folder = Path(png_dir)
        if folder.exists() and not folder.is_dir():
            raise PredictError(f"--png-dir {folder} is an existing file, not a folder")
        existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
        if not os.access(existing, os.W_OK):
            raise PredictError(f"--png-dir {folder}: {existing} is not writable")


def write_outputs(prediction: Prediction, out: str | os.PathLike, png_dir: str | os.PathLike | None = None) -> Path:
    """The submission CSV, and optionally one PNG mask per image (0/255), each written atomically: a full
    disk raises WriteError naming the file and leaves no torn PNG (the ones written before it stay whole)."""
    path = write_submission(out, prediction.ids, prediction.masks)
    if png_dir:
        folder = Path(png_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for id_, mask in zip(prediction.ids, prediction.masks):
            data = mask_png(mask)
            # No fsync per file: the rename alone keeps a reader from a torn PNG, and 18,000 fsyncs are slow.
            atomic_write(folder / f"{id_}.png", lambda f, data=data: f.write(data), fsync=False)
    return path


def suggested_threshold(
    runs: list[str | os.PathLike], tta: bool = False, checkpoint: str = "best"
) -> tuple[float, str] | None:
    """The pixel threshold the validation sweep found best, averaged over the runs that have one.

    Read from the runs' cached evaluations (RUN/eval/*/scores.json, written by the Explorer,
    `compare` and `evaluate`); an evaluation with the same TTA setting is preferred. None when
    no run has been evaluated yet.
    """
    found = []
    for run in runs:
        try:
            run_dir, ckpt = resolve_checkpoint(run, checkpoint)
        except Exception:  # noqa: BLE001 - a missing run is reported by the prediction itself
            continue
        candidates = []
        for path in run_dir.glob("eval/*/scores.json"):
            try:
                scores = read_json(path)
            except (OSError, ValueError):
                continue
            if "sweep_threshold" in scores and Path(scores.get("checkpoint", "")).name == ckpt.name:
                candidates.append((scores.get("tta") == tta, path.stat().st_mtime, scores["sweep_threshold"]))
        if candidates:
            found.append(max(candidates)[2])
    if not found:
        return None
    value = round(float(np.mean(found)) / 0.05) * 0.05
    return round(value, 2), f"the best threshold of the validation sweep ({len(found)} of {len(runs)} run(s) evaluated)"


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def decode_uploads(files: list[tuple[str, bytes]]) -> tuple[list[str], np.ndarray, list[tuple[str, str]]]:
    """Uploaded PNG files -> (ids from the file names, uint8 images (N, 101, 101), problems).

    A file that cannot be used (not a PNG, corrupt, not 101x101, a repeated name) is left out
    and listed in problems as (file name, reason); the others go on.
    """
    ids, images, problems = [], [], []
    for name, data in files:
        # The base name under either separator: a browser may send "..\\..\\x.png" from Windows, and the
        # id names a file inside masks.zip and the submission, never a path.
        id_ = Path(name.replace("\\", "/").rsplit("/", 1)[-1]).stem
        if not SAFE_ID.fullmatch(id_):
            problems.append((name, "the file name is not a usable image id (letters, digits, '.', '_', '-')"))
            continue
        if id_ in ids:
            problems.append((name, "a file with the same name was uploaded earlier"))
            continue
        try:
            images.append(decode_image(data))
            ids.append(id_)
        except BadFile as exc:
            problems.append((name, str(exc)))
    stack = np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return ids, stack, problems


def mask_png(mask: np.ndarray) -> bytes:
    """One mask as an 8-bit PNG, 0 and 255."""
    return cv2.imencode(".png", mask.astype(np.uint8) * 255)[1].tobytes()


def masks_zip(ids: list[str], masks: np.ndarray) -> bytes:
    """A zip of one PNG mask (0/255) per id."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for id_, mask in zip(ids, masks):
            archive.writestr(f"{id_}.png", mask_png(mask))
    return buffer.getvalue()
