"""The competition metric, vectorised over stacks of masks (N, H, W).

Per-image IoU is |P∩T| / |P∪T|, 1 when both are empty. The per-image competition score is
the mean over t in {0.50, 0.55, ..., 0.95} of [IoU > t] (strictly greater); both empty gives
1, exactly one empty gives 0. The thresholds are compared in exact integer arithmetic
(100·|P∩T| > t·100·|P∪T|), so an IoU of exactly 0.5 or 0.55 never passes its threshold
through floating-point noise.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS_PERCENT = np.arange(50, 100, 5, dtype=np.int64)
THRESHOLDS = THRESHOLDS_PERCENT / 100.0


def _counts(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(true, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {true.shape}")
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    n = len(pred)
    p = pred.reshape(n, -1)
    t = true.reshape(n, -1)
    inter = np.count_nonzero(p & t, axis=1).astype(np.int64)
    union = np.count_nonzero(p | t, axis=1).astype(np.int64)
    return inter, union


def iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-image IoU of bool masks (N, H, W) -> (N,) float64; 1.0 where both are empty."""
    inter, union = _counts(pred, true)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def image_scores(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-image competition score (N,) float64, each one of 0.0, 0.1, ..., 1.0."""
    inter, union = _counts(pred, true)
    return _scores_from_counts(inter, union)


def _scores_from_counts(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    hits = (inter[:, None] * 100) > (THRESHOLDS_PERCENT[None, :] * union[:, None])
    tenths = np.count_nonzero(hits, axis=1)
    tenths = np.where(union == 0, len(THRESHOLDS_PERCENT), tenths)
    return tenths / len(THRESHOLDS_PERCENT)


def image_scores_per_image(pred: np.ndarray, true: np.ndarray) -> list[float]:
    """The obvious per-image Python loop with float thresholds, kept as the independent reference
    that tests check `image_scores` against and the baseline the benchmarks measure it against."""
    out = []
    for p, t in zip(np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)):
        if not p.any() and not t.any():
            out.append(1.0)
        elif not p.any() or not t.any():
            out.append(0.0)
        else:
            value = (p & t).sum() / (p | t).sum()
            out.append(float(np.mean([value > th for th in np.arange(0.5, 1.0, 0.05).round(2)])))
    return out


def dataset_score(pred: np.ndarray, true: np.ndarray) -> float:
    """The data set score: the mean of the per-image competition scores."""
    scores = image_scores(pred, true)
    return float(scores.mean()) if len(scores) else float("nan")


BUCKETS = [round(0.1 * k, 1) for k in range(11)]  # the explorer's IoU buckets: per-image scores to the nearest tenth


def bucket_index(scores: np.ndarray) -> np.ndarray:
    """The IoU bucket of each per-image score as an index 0..10 into BUCKETS."""
    return np.rint(np.asarray(scores, dtype=np.float64) * 10).astype(int)


def iou_bucket(scores: np.ndarray) -> np.ndarray:
    """The IoU bucket of each per-image score: one of 0.0, 0.1, ..., 1.0 (rounded to tenths)."""
    return bucket_index(scores) / 10
