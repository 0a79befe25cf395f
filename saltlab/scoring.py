"""From predicted probabilities to masks and scores: threshold, judge gate, honest and oracle scores.

For a judge model the honest score gates masks with the judge's own salt / no-salt call; the
oracle score gates them with the TRUE empty label (what the case study's validation did, 0.892
CV against 0.867 on the leaderboard). Per image the oracle is never below the honest score.
"""

from __future__ import annotations

import numpy as np

from saltlab.metric import image_scores, iou


def masks_from_probs(
    probs: np.ndarray, judge: np.ndarray | None = None, threshold: float = 0.5, judge_threshold: float = 0.5
) -> np.ndarray:
    """Bool masks: pixels above threshold, zeroed where the judge says no salt."""
    masks = probs > threshold
    if judge is not None:
        masks &= (judge > judge_threshold)[:, None, None]
    return masks


def score_predictions(probs: np.ndarray, judge: np.ndarray | None, truth: np.ndarray, threshold: float = 0.5) -> dict:
    """score and mean_iou; for judge models also score_oracle, score_ungated and judge_accuracy."""
    pred = masks_from_probs(probs, judge, threshold)
    scores = {"score": float(image_scores(pred, truth).mean()), "mean_iou": float(iou(pred, truth).mean())}
    if judge is not None:
        truly_empty = ~truth.reshape(len(truth), -1).any(1)
        ungated = probs > threshold
        scores["score_oracle"] = float(image_scores(ungated & ~truly_empty[:, None, None], truth).mean())
        scores["score_ungated"] = float(image_scores(ungated, truth).mean())
        scores["judge_accuracy"] = float(((judge > 0.5) == ~truly_empty).mean())
    return scores
