"""Suspicious labels: labelled images whose mask confident out-of-fold predictions disagree with.

Out-of-fold: each image's probabilities come from a run that did not train on it (its validation
fold), so a model that memorised a wrong label cannot vouch for it. The rank is Cleanlab's label
quality score for segmentation (`cleanlab.segmentation.rank.get_label_quality_scores`, "softmin":
low where some pixels' given label has low predicted probability); the reason in words comes from
the confident disagreement areas, plus one shape check the probabilities cannot make (a mask cut
off by a straight horizontal line inside the tile, the TGS set's best-known bad labels).

Marks (a user's "this label is suspect") live in saltlab.core.suspect_marks, where training reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from saltlab.core.errors import SaltLabError
from saltlab.core.progress import Progress

CONFIDENT = 0.9  # a pixel the model is this sure of (salt) or 1 - this sure of (no salt)
MIN_AREA = 0.02  # confident disagreement on less of the tile than this is not a reason


class SuspectsError(SaltLabError, ValueError):
    """No out-of-fold predictions to rank with (no run covers the labelled images)."""


@dataclass
class OutOfFold:
    """Probabilities of labelled images from runs that held them out: ids aligned with probs and truth."""

    ids: list[str]
    probs: np.ndarray  # (N, 101, 101) float32
    truth: np.ndarray  # (N, 101, 101) bool
    source: list[str]  # the run (or runs, averaged) each image's probabilities come from
    images: np.ndarray | None = None  # (N, 101, 101) uint8, for galleries


def out_of_fold(runs: list[str | os.PathLike], tta: bool = False, progress: Progress | None = None) -> OutOfFold:
    """Every labelled image any of the runs held out, with its (averaged) validation probabilities."""
    from saltlab.inference.evaluate import evaluate_run, plan_evaluation

    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    sources: dict[str, list[str]] = {}
    dataset = None
    for k, run in enumerate(runs):
        plan = plan_evaluation(run)
        if dataset is not None and plan.dataset.fingerprint != dataset.fingerprint:
            raise SuspectsError(f"{run} was trained on {plan.dataset.root}, not on {dataset.root}: rank one data set")
        dataset = plan.dataset
        if progress:
            progress(f"run {k + 1}/{len(runs)}", k, len(runs))
        evaluation = evaluate_run(plan.run_dir, checkpoint=plan.checkpoint_path.name, tta=tta, plan=plan)
        for id_, p in zip(evaluation.ids, evaluation.probs):
            sums[id_] = sums.get(id_, 0) + p
            counts[id_] = counts.get(id_, 0) + 1
            sources.setdefault(id_, []).append(Path(plan.run_dir).name)
    if not sums or dataset is None:
        raise SuspectsError("the runs hold out no labelled image: train runs on folds first")
    ids = sorted(sums)
    probs = np.stack([sums[i] / counts[i] for i in ids]).astype(np.float32)
    positions = dataset.train_index(ids)
    sources_text = [" + ".join(sources[i]) for i in ids]
    return OutOfFold(ids, probs, dataset.train_masks[positions], sources_text, dataset.train_images[positions])


def cut_off_row(mask: np.ndarray) -> int | None:
    """The row at which a vertical mask (identical rows, each part salt and part not) stops mid-tile: a
    straight horizontal cut from the top or bottom edge. None for any other mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0 or len(rows) == mask.shape[0]:
        return None
    contiguous = rows[-1] - rows[0] + 1 == len(rows)
    touches = rows[0] == 0 or rows[-1] == mask.shape[0] - 1
    vertical_edges = not mask[rows[0]].all()  # a full-width block is a flat top of salt, not a vertical mask
    if contiguous and touches and vertical_edges and (mask[rows] == mask[rows[0]]).all() and len(rows) >= 5:
        return int(rows[-1] + 1 if rows[0] == 0 else rows[0])
    return None


def _reason(p: np.ndarray, label: np.ndarray) -> str:
    area = label.size
    salt_not_labelled = (p >= CONFIDENT) & ~label
    none_but_labelled = (p <= 1 - CONFIDENT) & label
    parts = []
    if salt_not_labelled.sum() / area >= MIN_AREA:
        where = "label empty" if not label.any() else "outside the labelled salt"
        parts.append(
            f"{p[salt_not_labelled].mean():.0%} sure of salt across {salt_not_labelled.sum() / area:.0%} of the tile, "
            f"{where}"
        )
    if none_but_labelled.sum() / area >= MIN_AREA:
        parts.append(
            f"label marks salt on {none_but_labelled.sum() / area:.0%} of the tile where the model is "
            f"{1 - p[none_but_labelled].mean():.0%} sure of none"
        )
    row = cut_off_row(label)
    if row is not None:
        parts.append(f"vertical mask that stops at row {row}, mid-tile")
    return "; ".join(parts) or "no confident disagreement"


def rank_labels(oof: OutOfFold) -> pd.DataFrame:
    """One row per image, most suspicious first: id, quality (Cleanlab, lower = more suspicious),
    the confident disagreement areas, the reason in words and the run the probabilities come from."""
    from cleanlab.segmentation.rank import get_label_quality_scores

    probs = np.clip(oof.probs, 1e-4, 1 - 1e-4)
    pred_probs = np.stack([1 - probs, probs], axis=1)
    quality, _ = get_label_quality_scores(oof.truth.astype(np.int64), pred_probs, verbose=False)
    area = oof.truth[0].size
    frame = pd.DataFrame(
        {
            "id": oof.ids,
            "quality": np.round(quality, 5),
            "confident salt, unlabelled": ((oof.probs >= CONFIDENT) & ~oof.truth).reshape(len(oof.ids), -1).sum(1)
            / area,
            "labelled salt, confidently none": ((oof.probs <= 1 - CONFIDENT) & oof.truth)
            .reshape(len(oof.ids), -1)
            .sum(1)
            / area,
            "label coverage": oof.truth.reshape(len(oof.ids), -1).mean(1),
            "reason": [_reason(p, t) for p, t in zip(oof.probs, oof.truth)],
            "run": oof.source,
        }
    )
    cut = np.array([cut_off_row(t) is not None for t in oof.truth])
    frame["quality"] = np.where(cut, np.minimum(frame["quality"], 0.0), frame["quality"])  # a cut mask ranks first
    return frame.sort_values(["quality", "id"], ignore_index=True)
