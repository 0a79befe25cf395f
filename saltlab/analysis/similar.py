"""More like this: nearest images by cosine similarity of their embeddings, and a 2-D map (PCA)."""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def centred_unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows minus their mean, scaled to length 1. Pooled ReLU features share a large common direction
    (every cosine near 1 on the raw rows); without it the similarities spread over [-1, 1]."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return unit_rows(vectors - vectors.mean(axis=0, keepdims=True))


def nearest(unit: np.ndarray, index: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(positions, cosine similarities) of the k rows most like row `index`, itself left out, most alike first."""
    similarity = unit @ unit[index]
    similarity[index] = -np.inf
    k = min(k, len(unit) - 1)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-similarity, k - 1)[:k]
    order = top[np.argsort(-similarity[top], kind="stable")]
    return order, similarity[order]


def map_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) coordinates on the first two principal components of the unit rows, and the share of the
    variance each explains."""
    unit = unit_rows(vectors)
    centred = unit - unit.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2), np.float32), np.zeros(2)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    share = (s**2 / max((s**2).sum(), 1e-12))[:2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        share = np.pad(share, (0, 2 - len(share)))
    return coords.astype(np.float32), share
