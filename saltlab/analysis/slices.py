"""Error slices: where a model does worst, or where model B beats model A most, said in words.

Each validation image is described by interpretable features (`image_features`): its depth band
(quartiles of these images' depths, in feet), coverage class, whether its true mask is empty, whether
it is a vertical mask, and its brightness, contrast, texture (mean gradient) and edge density, each in
thirds of these images (the ranges printed); for an explored run also where the tile sits in the
seismic sections rebuilt from the tiles (`mosaic_places`). Callers may add columns of their own (an
embedding cluster or a suspect-label rank would fit; neither is added yet). A slice is one level of
one feature, or two levels of two features together ("depth 712-959 ft and coverage class 0"), with
at least `min_size` images.

Every slice is scored at once (boolean membership times the per-image values, two matrix products):
its size, mean, the rest's mean, and how many standard errors apart they are; slices are ranked by
that distance, so that a small slice that is low by chance ranks below a large one that is low for a
reason; a slice under two standard errors from the rest is not listed at all. The top ones get a
bootstrap 95% interval of their mean and the all-empty score of their images. A slice that shares
more than half of its images (Jaccard) with one already listed is left out, so one failure mode is
not listed five times.

Not `sliceline` (on PyPI): it searches the same lattice (SliceLine) as a black box over one-hot
columns with its own error-size trade-off and gives no intervals; with about ten features of at most
five levels, the one- and two-feature slices are about a thousand boolean columns, scored here in
milliseconds with numpy, with intervals and plain-language definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from saltlab.core.definitions import coverage, coverage_class, is_empty, is_vertical_mask

THIRDS = ("lowest third", "middle third", "highest third")
EDGE_LEVEL = 20  # grey levels between neighbouring pixels that count as an edge


@dataclass
class Slice:
    definition: str  # in words: "depth 712-959 ft and coverage class 0"
    ids: list[str]
    size: int
    mean: float  # of the per-image values (scores, or B - A) in the slice
    rest: float  # of the other images
    z: float  # (rest - mean) / standard error for a model's scores; (mean - rest) / SE for B - A
    low: float  # bootstrap 95% interval of the slice's mean
    high: float
    empty_score: float  # the all-empty score of the slice's images: the share whose true mask is empty


def _thirds(values: np.ndarray, name: str, fmt: str) -> np.ndarray:
    """Each value's third ("brightness 12-87 (lowest third)"), by these images' own terciles."""
    edges = np.quantile(values, [1 / 3, 2 / 3])
    index = np.searchsorted(edges, values, side="right")
    labels = np.empty(len(values), dtype=object)
    for k in range(3):
        inside = values[index == k]
        if len(inside):
            labels[index == k] = f"{name} {inside.min():{fmt}}-{inside.max():{fmt}} ({THIRDS[k]})"
    return labels


def _depth_bands(depths: np.ndarray) -> np.ndarray:
    known = ~np.isnan(depths)
    labels = np.full(len(depths), "depth unknown", dtype=object)
    if known.sum() >= 4:
        edges = np.unique(np.quantile(depths[known], [0.25, 0.5, 0.75]))
        index = np.searchsorted(edges, depths[known], side="right")
        values = depths[known]
        band = np.empty(known.sum(), dtype=object)
        for k in np.unique(index):
            inside = values[index == k]
            band[index == k] = f"depth {inside.min():.0f}-{inside.max():.0f} ft"
        labels[known] = band
    return labels


def image_features(images: np.ndarray, truth: np.ndarray, depths: np.ndarray) -> pd.DataFrame:
    """One row per image, one categorical (text) column per interpretable feature."""
    pixels = images.astype(np.float32)
    dx, dy = np.abs(np.diff(pixels, axis=2)), np.abs(np.diff(pixels, axis=1))
    texture = (dx.mean(axis=(1, 2)) + dy.mean(axis=(1, 2))) / 2
    edges = ((dx[:, :-1, :] > EDGE_LEVEL) | (dy[:, :, :-1] > EDGE_LEVEL)).mean(axis=(1, 2))
    classes = coverage_class(coverage(truth))
    return pd.DataFrame(
        {
            "depth": _depth_bands(np.asarray(depths, dtype=float)),
            "coverage class": [f"coverage class {c}" for c in classes],
            "salt": np.where(is_empty(truth), "true mask empty", "true mask has salt"),
            "vertical": np.where(is_vertical_mask(truth), "vertical mask", "not a vertical mask"),
            "brightness": _thirds(pixels.mean(axis=(1, 2)), "brightness", ".0f"),
            "contrast": _thirds(pixels.std(axis=(1, 2)), "contrast (std)", ".1f"),
            "texture": _thirds(texture, "texture (mean gradient)", ".1f"),
            "edges": _thirds(edges * 100, "edge pixels %", ".1f"),
        }
    )


def _candidates(features: pd.DataFrame, min_size: int) -> tuple[list[str], np.ndarray]:
    """(definitions, membership bool (N, S)) of every one- and two-feature slice of min_size images or more."""
    levels = []
    for column in features.columns:
        values = features[column].astype(str).to_numpy()
        for level in pd.unique(values):
            levels.append((column, level, values == level))
    names, columns = [], []
    for _, level, member in levels:
        if member.sum() >= min_size:
            names.append(level)
            columns.append(member)
    for (ca, la, ma), (cb, lb, mb) in combinations(levels, 2):
        if ca != cb:
            both = ma & mb
            if both.sum() >= min_size:
                names.append(f"{la} and {lb}")
                columns.append(both)
    return names, np.stack(columns, axis=1) if columns else np.zeros((len(features), 0), bool)


def _distances(values: np.ndarray, member: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, ...]:
    """(mean, rest mean, z) per slice: two matrix products over all slices at once."""
    m = member.astype(np.float64)
    n, total = m.sum(axis=0), len(values)
    sums, squares = values @ m, (values**2) @ m
    rest_n = np.maximum(total - n, 1)
    mean, rest = sums / n, (values.sum() - sums) / rest_n
    var_in = np.maximum(squares / n - mean**2, 0)
    var_out = np.maximum(((values**2).sum() - squares) / rest_n - rest**2, 0)
    se = np.maximum(np.sqrt(var_in / n + var_out / rest_n), 1e-12)
    gap = rest - mean if higher_is_better else mean - rest
    gap = np.where(np.abs(gap) < 1e-9, 0.0, gap)  # equal but for rounding: nothing stands out
    return mean, rest, np.where(n < total, gap / se, -np.inf)


def _bootstrap(values: np.ndarray, rng: np.random.Generator, draws: int = 1000) -> tuple[float, float]:
    picks = rng.integers(0, len(values), size=(draws, len(values)))
    means = values[picks].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def find_slices(
    ids: list[str],
    values: np.ndarray,
    features: pd.DataFrame,
    empty: np.ndarray,
    higher_is_better: bool = True,
    top: int = 5,
    min_size: int = 20,
    seed: int = 0,
    min_z: float = 2.0,
) -> list[Slice]:
    """The `top` slices where `values` (per-image scores, higher_is_better; or B - A deltas, False) stand
    furthest from the rest, at least min_z standard errors, overlapping ones left out; [] when none does."""
    values = np.asarray(values, dtype=np.float64)
    names, member = _candidates(features, min_size)
    if not names:
        return []
    mean, rest, z = _distances(values, member, higher_is_better)
    rng, found, kept = np.random.default_rng(seed), [], []
    for s in np.argsort(-z, kind="stable"):
        if len(found) == top or not z[s] >= min_z:
            break
        inside = member[:, s]
        if any((inside & other).sum() / (inside | other).sum() > 0.5 for other in kept):
            continue
        low, high = _bootstrap(values[inside], rng)
        chosen = [i for i, keep in zip(ids, inside) if keep]
        found.append(
            Slice(
                names[s],
                chosen,
                int(inside.sum()),
                float(mean[s]),
                float(rest[s]),
                float(z[s]),
                low,
                high,
                float(empty[inside].mean()),
            )
        )
        kept.append(inside)
    return found


def slices_table(found: list[Slice], what: str = "score") -> pd.DataFrame:
    """The slices as a table: definition, images, the slice's mean and interval, the rest's, all-empty."""
    return pd.DataFrame(
        {
            "slice": [s.definition for s in found],
            "images": [s.size for s in found],
            what: [round(s.mean, 4) for s in found],
            "95% interval": [f"{s.low:.3f}-{s.high:.3f}" for s in found],
            f"{what} of the rest": [round(s.rest, 4) for s in found],
            "all-empty score": [round(s.empty_score, 4) for s in found],
            "standard errors apart": [round(s.z, 1) for s in found],
        }
    )


def mosaic_places(ids: list[str], dataset) -> np.ndarray:
    """Where each image sits in the seismic sections rebuilt from the tiles (saltlab.core.mosaic, cached):
    not placed, the top row of its section, or below it."""
    from saltlab.core.mosaic import load_mosaic

    mosaic, _ = load_mosaic(dataset)
    where = {id_: k for k, id_ in enumerate(mosaic.ids)}
    places = []
    for id_ in ids:
        k = where.get(id_)
        if k is None or mosaic.section[k] < 0:
            places.append("not placed in a mosaic section")
        else:
            places.append("top row of its mosaic section" if mosaic.row[k] == 0 else "below the top row of its section")
    return np.array(places, dtype=object)


def explored_slices(ex, options, name: str, against: str | None = None, top: int = 5, min_size: int = 20):
    """Slices of an Explored set (saltlab.analysis.explore): where `name` scores lowest, or, `against` another
    model, where `name` beats it most. Returns (slices, what the values are)."""
    table = ex.view(options).table
    features = image_features(ex.images, ex.truth, ex.depths)
    if ex.dataset is not None:
        features["mosaic"] = mosaic_places(list(ex.ids), ex.dataset)
    empty = table["empty"].to_numpy(dtype=bool)
    if against is None:
        values, what, better = table[f"score {name}"].to_numpy(), "score", True
    else:
        values = (table[f"score {name}"] - table[f"score {against}"]).to_numpy()
        what, better = f"{name} - {against}", False
    return find_slices(list(ex.ids), values, features, empty, better, top, min_size), what
