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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saltlab.core.errors import SaltLabError
from saltlab.core.progress import Progress
from saltlab.runs.imported import UNKNOWN_HELD_OUT

CONFIDENT = 0.9  # the level where a class has no labelled pixel to take the model's mean from
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
    dataset: object = None  # the Dataset the ids belong to (for marks and pages)
    notes: list[str] = field(default_factory=list)  # what the ranking cannot vouch for (imports of unknown origin)


def out_of_fold(runs: list[str | os.PathLike], tta: bool = False, progress: Progress | None = None) -> OutOfFold:
    """Every labelled image any of the runs held out, with its (averaged) validation probabilities."""
    from saltlab.inference.evaluate import evaluate_run, plan_evaluation

    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    sources: dict[str, list[str]] = {}
    notes: list[str] = []
    dataset = None
    for k, run in enumerate(runs):
        plan = plan_evaluation(run)
        if dataset is not None and plan.dataset.fingerprint != dataset.fingerprint:
            raise SuspectsError(f"{run} was trained on {plan.dataset.root}, not on {dataset.root}: rank one data set")
        dataset = plan.dataset
        if progress:
            progress(f"run {k + 1}/{len(runs)}", k, len(runs))
        evaluation = evaluate_run(plan.run_dir, checkpoint=plan.checkpoint_path.name, tta=tta, plan=plan)
        if plan.imported is not None and plan.imported.held_out != "listed":
            notes.append(f"{Path(plan.run_dir).name}: {UNKNOWN_HELD_OUT}; a label it agrees with is not vouched for")
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
    return OutOfFold(
        ids, probs, dataset.train_masks[positions], sources_text, dataset.train_images[positions], dataset, notes
    )


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


def _reason(p: np.ndarray, label: np.ndarray, salt_level: float, none_level: float) -> str:
    area = label.size
    salt_not_labelled = (p >= salt_level) & ~label
    none_but_labelled = (1 - p >= none_level) & label
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


def confident_levels(probs: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Confident learning's per-class thresholds: the mean predicted probability of salt over the pixels
    labelled salt, and of no salt over the pixels labelled none. A Lovász-trained model's probabilities
    rarely pass 0.8, so a fixed 0.9 would find nothing; these levels follow the model's own scale."""
    salt = float(probs[truth].mean()) if truth.any() else CONFIDENT
    none = float((1 - probs[~truth]).mean()) if (~truth).any() else CONFIDENT
    return salt, none


def rank_labels(oof: OutOfFold) -> pd.DataFrame:
    """One row per image, most suspicious first: id, the share of the tile where the model confidently
    disagrees with the label (confident learning, the rank), Cleanlab's label quality score (lower =
    more suspicious; the tie-break), the two disagreement areas, the reason in words, the source run.
    Masks cut off by a straight line mid-tile rank first whatever the model says."""
    from cleanlab.segmentation.rank import get_label_quality_scores

    probs = np.clip(oof.probs, 1e-4, 1 - 1e-4)
    quality, _ = get_label_quality_scores(
        oof.truth.astype(np.int64), np.stack([1 - probs, probs], axis=1), verbose=False
    )
    salt_level, none_level = confident_levels(oof.probs, oof.truth)
    n = len(oof.ids)
    salt_unlabelled = ((oof.probs >= salt_level) & ~oof.truth).reshape(n, -1).mean(1)
    labelled_none = ((1 - oof.probs >= none_level) & oof.truth).reshape(n, -1).mean(1)
    cut = np.array([cut_off_row(t) is not None for t in oof.truth])
    frame = pd.DataFrame(
        {
            "id": oof.ids,
            "disagreement": np.round(np.where(cut, 1.0, salt_unlabelled + labelled_none), 4),
            "quality": np.round(quality, 5),
            "confident salt, unlabelled": np.round(salt_unlabelled, 4),
            "labelled salt, confidently none": np.round(labelled_none, 4),
            "label coverage": np.round(oof.truth.reshape(n, -1).mean(1), 4),
            "reason": [_reason(p, t, salt_level, none_level) for p, t in zip(oof.probs, oof.truth)],
            "run": oof.source,
        }
    )
    frame.attrs["levels"] = {"salt": salt_level, "none": none_level}
    return frame.sort_values(["disagreement", "quality", "id"], ascending=[False, True, True], ignore_index=True)
