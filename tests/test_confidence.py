"""Per-pixel confidence: an image's score at every threshold (each equal to the metric's own reference at
that threshold), the uncertain band and its share, the outcome at a chosen threshold, and the order
"most uncertain first"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from saltlab.analysis.browse import Filter, filter_table
from saltlab.analysis.confidence import (
    BAND_COLOUR,
    THRESHOLDS,
    at_threshold,
    band_overlay,
    score_curve,
    uncertain_share,
)
from saltlab.core.metric import image_scores_per_image


def _case():
    rng = np.random.default_rng(3)
    truth = np.zeros((101, 101), bool)
    truth[20:70, 10:90] = True
    prob = np.clip(truth * 0.65 + rng.uniform(0, 0.4, truth.shape), 0, 1)  # sure outside, unsure on the salt
    image = rng.integers(0, 256, truth.shape).astype(np.uint8)
    return image, prob, truth


def test_the_score_curve_is_the_metric_at_each_threshold():
    image, prob, truth = _case()
    curve = score_curve(prob, truth)
    assert curve["threshold"].tolist() == THRESHOLDS.tolist()
    expected = [image_scores_per_image((prob > t)[None], truth[None])[0] for t in THRESHOLDS]
    assert curve["score"].tolist() == expected
    assert curve["predicted coverage"].tolist() == [float((prob > t).mean()) for t in THRESHOLDS]
    overlay, score = at_threshold(image, prob, truth, 0.6)
    assert score == image_scores_per_image((prob > 0.6)[None], truth[None])[0] and overlay.shape == (101, 101, 3)


def test_the_uncertain_band_and_its_share():
    image, prob, truth = _case()
    inside = (prob >= 0.3) & (prob <= 0.7)
    assert uncertain_share(prob) == inside.mean()
    assert uncertain_share(np.stack([prob, np.zeros_like(prob)])).tolist() == [inside.mean(), 0.0]
    drawn = band_overlay(image, prob)
    grey = ~inside
    assert (drawn[grey] == image[grey][:, None]).all()  # untouched outside the band
    magenta = drawn[inside].astype(int)
    assert (magenta[:, 1] < magenta[:, 0]).all() and (magenta[:, 1] < magenta[:, 2]).all()
    assert BAND_COLOUR == (200, 0, 200)


def test_most_uncertain_first():
    table = pd.DataFrame({"id": ["a", "b", "c"], "score m": [0.1, 0.5, 0.9], "uncertain m": [0.2, 0.6, 0.1]})
    order = filter_table(table, Filter(sort_by="uncertain m", descending=True, score_column="score m"))
    assert order["id"].tolist() == ["b", "a", "c"]
