"""Taking evaluated models apart, image by image: the numbers behind the explorer and compare views.

Everything here works on cached predictions (probabilities, judge outputs) and the truth, with
post-processing options that need no new inference: pixel threshold, minimum component size,
the judge gate. All functions are vectorised over the (N, 101, 101) stacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from saltlab.core.definitions import coverage, coverage_class, is_constant_image, is_empty, is_vertical_mask
from saltlab.core.metric import BUCKETS, bucket_index, image_scores, iou  # noqa: F401 (BUCKETS re-exported)
from saltlab.core.scoring import (  # noqa: F401 (re-exported)
    PostProcess,
    empty_score,
    masks_from_probs,
    predicted_masks,
    remove_small_components,
    score_predictions,
    threshold_sweep,
)


def bucket_counts(scores: np.ndarray) -> pd.Series:
    """Images per IoU bucket 0.0 .. 1.0 (every bucket present, zeros included)."""
    return pd.Series(np.bincount(bucket_index(scores), minlength=11)[:11], index=BUCKETS, name="images")


def image_confusion(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Image-level salt / no-salt confusion: predicted non-empty vs truly non-empty."""
    p = ~is_empty(pred)
    t = ~is_empty(truth)
    return {
        "true positive": int((p & t).sum()),
        "false positive": int((p & ~t).sum()),
        "false negative": int((~p & t).sum()),
        "true negative": int((~p & ~t).sum()),
    }


@dataclass
class ModelSummary:
    name: str
    score: float
    mean_iou: float
    buckets: pd.Series
    confusion: dict[str, int]
    judge: dict | None = None  # accuracy, honest and oracle scores, the gap
    extras: dict = field(default_factory=dict)
    empty_score: float = float("nan")  # the score of predicting every mask empty on the same images

    @property
    def below_empty(self) -> bool:
        """Worse than (or equal to) doing nothing: the all-empty prediction scores at least as well."""
        return self.score <= self.empty_score


def summarize(
    name: str, probs: np.ndarray, judge: np.ndarray | None, truth: np.ndarray, options: PostProcess = PostProcess()
) -> ModelSummary:
    pred = predicted_masks(probs, judge, options)
    scores = image_scores(pred, truth)
    judge_info = None
    if judge is not None:
        numbers = score_predictions(probs, judge, truth, options.threshold, options.min_size)
        judge_info = {
            "accuracy": numbers["judge_accuracy"],
            "honest score": numbers["score"],
            "oracle score": numbers["score_oracle"],
            "gap": numbers["score_oracle"] - numbers["score"],
            "ungated score": numbers["score_ungated"],
        }
    return ModelSummary(
        name,
        float(scores.mean()),
        float(iou(pred, truth).mean()),
        bucket_counts(scores),
        image_confusion(pred, truth),
        judge_info,
        empty_score=empty_score(truth),
    )


def bucket_table(summaries: list[ModelSummary]) -> pd.DataFrame:
    """The case study's table: images per score group, one column per model."""
    table = pd.DataFrame({s.name: s.buckets for s in summaries})
    table.index.name = "IoU bucket"
    return table


def per_image_table(
    ids: list[str], truth: np.ndarray, images: np.ndarray, depths: np.ndarray, preds: dict[str, np.ndarray]
) -> pd.DataFrame:
    """id, coverage, class, depth, anomalies, then per model iou/score/predicted coverage; delta for two models."""
    cov = coverage(truth)
    table = pd.DataFrame(
        {
            "id": ids,
            "coverage": cov,
            "coverage_class": coverage_class(cov),
            "depth": depths,
            "empty": is_empty(truth),
            "vertical_mask": is_vertical_mask(truth),
            "constant_image": is_constant_image(images),
        }
    )
    names = list(preds)
    for name in names:
        table[f"iou {name}"] = iou(preds[name], truth)
        table[f"score {name}"] = image_scores(preds[name], truth)
        table[f"predicted coverage {name}"] = coverage(preds[name])
    if len(names) == 2:
        a, b = names
        table[f"delta {b} - {a}"] = table[f"score {b}"] - table[f"score {a}"]
    return table


def bucket_transitions(scores_a: np.ndarray, scores_b: np.ndarray) -> pd.DataFrame:
    """Images moving from each bucket under model A (rows) to each bucket under model B (columns)."""
    matrix = np.zeros((11, 11), dtype=int)
    np.add.at(matrix, (bucket_index(scores_a), bucket_index(scores_b)), 1)
    return pd.DataFrame(matrix, index=pd.Index(BUCKETS, name="A"), columns=pd.Index(BUCKETS, name="B"))


def score_pair_counts(scores_a: np.ndarray, scores_b: np.ndarray) -> pd.DataFrame:
    """Images per pair of per-image scores (A rows, B columns, each 0.0..1.0 in steps of 0.1). Scores take 11
    values, so a scatter would pile images onto one point: counting them shows where they are."""
    matrix = np.zeros((11, 11), dtype=int)
    np.add.at(
        matrix, (np.rint(np.asarray(scores_a) * 10).astype(int), np.rint(np.asarray(scores_b) * 10).astype(int)), 1
    )
    steps = [round(0.1 * i, 1) for i in range(11)]
    return pd.DataFrame(matrix, index=pd.Index(steps, name="A"), columns=pd.Index(steps, name="B"))


def error_heatmap(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean error per pixel location (101, 101): where the model tends to be wrong (edges, corners)."""
    return (pred != truth).mean(axis=0)


def central_crop_scores(pred: np.ndarray, truth: np.ndarray, crop: int = 90) -> tuple[float, float]:
    """(score on the full image, score on the central crop x crop square)."""
    h = pred.shape[1]
    start = (h - crop) // 2
    window = (slice(None), slice(start, start + crop), slice(start, start + crop))
    return float(image_scores(pred, truth).mean()), float(image_scores(pred[window], truth[window]).mean())


def score_by_group(scores: np.ndarray, groups: np.ndarray, name: str) -> pd.DataFrame:
    frame = pd.DataFrame({name: groups, "score": scores})
    return (
        frame.groupby(name, observed=True)["score"]
        .agg(["mean", "count"])
        .rename(columns={"mean": "score", "count": "images"})
    )


def depth_bands(depths: np.ndarray, width: int = 100) -> np.ndarray:
    low = (np.nan_to_num(depths, nan=-1) // width * width).astype(int)
    return np.where(np.isnan(depths), "unknown", [f"{v}-{v + width - 1}" for v in low]).astype(object)


def depth_coverage_shares(table: pd.DataFrame, width: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled images per (coverage, depth band): (counts, shares of each depth band's images).

    Rows: "empty", then coverage class 0 without the empty masks ("0, not empty": salt under 5%), then
    classes 1..10; columns: depth bands of `width`, shallowest first ("unknown" last). Each column of
    the shares sums to 1, so a band with few images reads as clearly as a crowded one.
    """
    train = table[table["coverage"].notna()]
    empty = train["empty"].astype(bool).to_numpy()
    classes = train["coverage_class"].astype(int).to_numpy()
    rows = np.where(empty, "empty", np.where(classes == 0, "0, not empty", classes.astype(str)))
    depths = train["depth"].astype(float).to_numpy()
    bands = depth_bands(depths, width)
    order = ["empty", "0, not empty", *map(str, range(1, 11))]
    counts = pd.crosstab(pd.Series(rows, name="coverage"), pd.Series(bands, name="depth band"))
    shallowest = pd.Series(depths).groupby(bands).min().fillna(np.inf)
    columns = shallowest.sort_values(kind="stable").index.tolist()  # "unknown" (no depth) last
    counts = counts.reindex(index=order, columns=columns, fill_value=0)
    shares = counts / counts.sum(axis=0).replace(0, 1)
    return counts, shares


def where_beats(table: pd.DataFrame, a: str, b: str, limit: int = 50) -> pd.DataFrame:
    """Images where model b scores higher than model a, largest gain first."""
    delta = table[f"score {b}"] - table[f"score {a}"]
    rows = table.assign(delta=delta)[delta > 0]
    return rows.sort_values("delta", ascending=False, kind="stable").head(limit)
