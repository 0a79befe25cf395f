"""Per-pixel confidence: how sure a model is, image by image and pixel by pixel.

For one image: its competition score and predicted coverage at every threshold (the score-versus-
threshold curve), the pixels in the uncertain band (probability between 0.3 and 0.7 by default) drawn
over the image, and the outcome at any threshold. For a set: each image's share of uncertain pixels,
the Explorer's "most uncertain first" order. All pure numpy; a threshold change redraws in
milliseconds (bench/bench_confidence.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saltlab.analysis.render import gray_to_rgb, outcome_overlay
from saltlab.core.definitions import coverage
from saltlab.core.metric import image_scores

UNCERTAIN = (0.3, 0.7)
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
BAND_COLOUR = (200, 0, 200)  # magenta: apart from every outcome colour


def uncertain_share(probs: np.ndarray, band: tuple[float, float] = UNCERTAIN) -> np.ndarray:
    """Per image (N, H, W) -> (N,), or one image -> a float: the share of pixels with band[0] <= p <= band[1]."""
    inside = (probs >= band[0]) & (probs <= band[1])
    return inside.mean(axis=(-2, -1))


def score_curve(prob: np.ndarray, truth: np.ndarray, thresholds: np.ndarray = THRESHOLDS) -> pd.DataFrame:
    """One image's score and predicted coverage at each threshold (all thresholds at once)."""
    masks = prob[None] > np.asarray(thresholds)[:, None, None]
    scores = image_scores(masks, np.broadcast_to(truth, masks.shape))
    return pd.DataFrame({"threshold": thresholds, "score": scores, "predicted coverage": coverage(masks)})


def at_threshold(image: np.ndarray, prob: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[np.ndarray, float]:
    """(the outcome overlay, the image's score) with the mask taken at `threshold`."""
    pred = prob > threshold
    return outcome_overlay(image, pred, truth), float(image_scores(pred[None], truth[None])[0])


def band_overlay(image: np.ndarray, prob: np.ndarray, band: tuple[float, float] = UNCERTAIN) -> np.ndarray:
    """The image in grey with the uncertain pixels in magenta."""
    rgb = gray_to_rgb(image).astype(np.float32)
    inside = (prob >= band[0]) & (prob <= band[1])
    rgb[inside] = 0.4 * rgb[inside] + 0.6 * np.array(BAND_COLOUR, np.float32)
    return np.rint(rgb).astype(np.uint8)
