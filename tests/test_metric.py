"""The competition metric: the strict Kaggle definition, edge cases and a direct computation."""

import numpy as np
import pytest

from saltlab.core.metric import THRESHOLDS, dataset_score, image_scores, image_scores_per_image, iou, iou_bucket


def masks_with_iou(inter: int, union: int, size: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """A prediction and a truth whose IoU is exactly inter/union (truth ⊂ prediction)."""
    pred = np.zeros((size, size), bool)
    true = np.zeros((size, size), bool)
    pred.flat[:union] = True
    true.flat[:inter] = True
    return pred, true


def test_both_empty_scores_one():
    z = np.zeros((1, 101, 101), bool)
    assert iou(z, z)[0] == 1.0
    assert image_scores(z, z)[0] == 1.0


def test_exactly_one_empty_scores_zero():
    z = np.zeros((1, 101, 101), bool)
    one = z.copy()
    one[0, 50, 50] = True
    assert image_scores(one, z)[0] == 0.0
    assert image_scores(z, one)[0] == 0.0
    assert iou(one, z)[0] == 0.0


def test_iou_exactly_half_scores_zero():
    pred, true = masks_with_iou(500, 1000)
    assert iou(pred[None], true[None])[0] == 0.5
    assert image_scores(pred[None], true[None])[0] == 0.0


def test_iou_096_scores_one():
    pred, true = masks_with_iou(960, 1000)
    assert image_scores(pred[None], true[None])[0] == 1.0


@pytest.mark.parametrize("percent", [55, 60, 65, 70, 75, 80, 85, 90, 95])
def test_iou_exactly_on_a_threshold_does_not_pass_it(percent):
    pred, true = masks_with_iou(percent * 20, 2000)
    # IoU > t strictly: thresholds 0.50 .. (percent-5)/100 pass, percent/100 does not.
    expected = (percent - 50) / 5 / 10
    assert image_scores(pred[None], true[None])[0] == pytest.approx(expected)


def test_iou_just_above_a_threshold_passes_it():
    pred, true = masks_with_iou(1101, 2000)  # 0.5505
    assert image_scores(pred[None], true[None])[0] == pytest.approx(0.2)


def test_matches_direct_computation_on_random_masks():
    rng = np.random.default_rng(0)
    true = rng.random((300, 101, 101)) < rng.random((300, 1, 1))
    noise = rng.random((300, 101, 101)) < rng.random((300, 1, 1)) * 0.3
    pred = true ^ noise
    pred[:20] = False
    true[10:30] = False
    scores = image_scores(pred, true)
    expected = image_scores_per_image(pred, true)
    np.testing.assert_allclose(scores, expected)
    assert dataset_score(pred, true) == pytest.approx(np.mean(expected))


def test_buckets_are_tenths():
    scores = np.array([0.0, 0.1, 0.30000000000000004, 0.7, 1.0])
    np.testing.assert_array_equal(iou_bucket(scores), [0.0, 0.1, 0.3, 0.7, 1.0])
    assert len(THRESHOLDS) == 10


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        iou(np.zeros((2, 101, 101), bool), np.zeros((3, 101, 101), bool))
