"""Pseudo-labelling: confident test-set predictions of chosen runs, as extra training data for a new run.

The runs' probabilities on the test images are averaged (hflip TTA by default). A pixel is
confident when p <= low (background) or p >= high (salt); an image is used when at least
`min_confident` of its pixels are. For judge models the judge must be confident too: an image
it calls empty with P(salt) <= low is labelled all background, one with P(salt) between low
and high is not used. In "pixels" mode the unconfident pixels of a used image are labelled
IGNORE and the loss skips them; in "images" mode the whole image is labelled p >= 0.5.

The selection is saved in the run folder (pseudo-labels.npz), so a resumed run trains on the
same labels without predicting again, and config.json records the runs and the thresholds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.fileio import atomic_write
from saltlab.runs.config import PseudoConfig

IGNORE = 255  # the label of a pixel the loss skips
FILE_NAME = "pseudo-labels.npz"

log = logging.getLogger("saltlab.train")


@dataclass
class PseudoLabels:
    ids: list[str]  # test ids used, in test-set order
    masks: np.ndarray  # uint8 (N, 101, 101): 0, 1, or IGNORE
    confident: np.ndarray  # float32 (N,): fraction of confident pixels per used image
    n_candidates: int  # test images looked at

    def describe(self) -> str:
        ignored = float((self.masks == IGNORE).mean()) if len(self.masks) else 0.0
        return (
            f"{len(self.ids)} of {self.n_candidates} test images pseudo-labelled "
            f"({100 * ignored:.1f}% of their pixels ignored as unconfident)"
        )


def select_confident(
    probs: np.ndarray, judge: np.ndarray | None, options: PseudoConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions of the images used, their labels uint8 0/1/IGNORE, their confident fraction)."""
    probs = np.asarray(probs, np.float32)
    usable = np.ones(len(probs), bool)
    if judge is not None:
        judged_empty = judge <= options.low
        usable &= judged_empty | (judge >= options.high)
        probs = np.where(judged_empty[:, None, None], np.float32(0), probs)
    salt, background = probs >= options.high, probs <= options.low
    confident = (salt | background).reshape(len(probs), -1).mean(1)
    usable &= confident >= options.min_confident
    positions = np.flatnonzero(usable)
    if options.max_images is not None and len(positions) > options.max_images:
        most_confident = np.argsort(-confident[positions], kind="stable")[: options.max_images]
        positions = np.sort(positions[most_confident])
    if options.mode == "images":
        labels = (probs[positions] >= 0.5).astype(np.uint8)
    else:
        labels = np.full(probs[positions].shape, IGNORE, np.uint8)
        labels[salt[positions]] = 1
        labels[background[positions]] = 0
    return positions, labels, confident[positions].astype(np.float32)


def make_pseudo_labels(
    options: PseudoConfig, test_ids: list[str], test_images: np.ndarray, device: str = "auto", progress=None
) -> PseudoLabels:
    from saltlab.inference.predict import PredictError, predict_images

    if not len(test_images):
        raise PredictError("pseudo-labelling needs test images, and this data set has none")
    probs, judge = predict_images(
        options.runs, test_images, tta=options.tta, device=device, checkpoint=options.checkpoint, progress=progress
    )
    positions, labels, confident = select_confident(probs, judge, options)
    return PseudoLabels([test_ids[p] for p in positions], labels, confident, len(test_images))


def save(labels: PseudoLabels, folder: str | os.PathLike) -> Path:
    path = Path(folder) / FILE_NAME
    return atomic_write(
        path,
        lambda f: np.savez_compressed(
            f,
            ids=np.array(labels.ids, dtype=str),
            masks=labels.masks,
            confident=labels.confident,
            n_candidates=np.int64(labels.n_candidates),
        ),
    )


def load(folder: str | os.PathLike) -> PseudoLabels | None:
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return PseudoLabels(z["ids"].tolist(), z["masks"], z["confident"], int(z["n_candidates"]))
    except (OSError, ValueError, KeyError):
        return None  # a damaged file: made again


def pseudo_training_data(
    options: PseudoConfig, run_dir: str | os.PathLike, ds, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the pseudo-labelled test images for a run: from its folder, else predicted and saved."""
    labels = load(run_dir)
    if labels is None:
        log.info("pseudo-labelling the %d test images of %s with %d run(s)", ds.n_test, ds.root, len(options.runs))
        labels = make_pseudo_labels(options, list(ds.test_ids), ds.test_images, device)
        save(labels, run_dir)
    log.info("pseudo-labels: %s", labels.describe())
    positions = {id_: k for k, id_ in enumerate(ds.test_ids)}
    missing = [i for i in labels.ids if i not in positions]
    if missing:
        raise ValueError(f"{len(missing)} pseudo-labelled ids are not test images of {ds.root} (first: {missing[0]})")
    images = (
        ds.test_images[[positions[i] for i in labels.ids]]
        if labels.ids
        else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    )
    return images, labels.masks
