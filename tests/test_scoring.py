"""Scores from probabilities: threshold, judge gate, and the honest vs oracle gap."""

import numpy as np

from saltlab.core.metric import image_scores
from saltlab.core.scoring import masks_from_probs, score_predictions


def test_judge_gate_zeroes_masks():
    probs = np.full((3, 101, 101), 0.9, np.float32)
    judge = np.array([0.9, 0.1, 0.6])
    masks = masks_from_probs(probs, judge)
    assert masks[0].all() and not masks[1].any() and masks[2].all()
    assert not masks_from_probs(probs, None, threshold=0.95).any()


def test_oracle_never_below_honest():
    rng = np.random.default_rng(0)
    truth = rng.random((200, 101, 101)) < rng.random((200, 1, 1))
    truth[:80] = False
    probs = np.clip(truth + rng.normal(0, 0.4, truth.shape), 0, 1).astype(np.float32)
    judge = rng.random(200)
    scores = score_predictions(probs, judge, truth)
    assert scores["score_oracle"] >= scores["score"]
    per_image_honest = image_scores(masks_from_probs(probs, judge), truth)
    oracle_masks = (probs > 0.5) & truth.reshape(200, -1).any(1)[:, None, None]
    assert (image_scores(oracle_masks, truth) >= per_image_honest).all()
    expected_accuracy = ((judge > 0.5) == truth.reshape(200, -1).any(1)).mean()
    assert scores["judge_accuracy"] == expected_accuracy


def test_no_judge_keys_without_judge():
    truth = np.zeros((2, 101, 101), bool)
    scores = score_predictions(np.zeros((2, 101, 101), np.float32), None, truth)
    assert scores == {"score": 1.0, "mean_iou": 1.0}
