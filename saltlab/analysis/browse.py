"""Filtering, sorting and paging the per-image table: what the image browser and galleries show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from saltlab.core.metric import bucket_index

ANOMALIES = {
    "empty mask": "empty",
    "constant image": "constant_image",
    "vertical mask": "vertical_mask",
    "full mask": "full_mask",
}
SORT_KEYS = ("id", "coverage", "depth", "image_mean", "image_std")


@dataclass
class Filter:
    """What the image browser (Data set page) and the explorer's gallery show: one filter for both."""

    split: str | None = None  # "train", "test" or None for both
    coverage_classes: list[int] | None = None  # None: any (test images have none)
    depth_range: tuple[float, float] | None = None
    anomaly: str | None = None  # a key of ANOMALIES, or None
    sort_by: str = "id"  # one of SORT_KEYS, score_column, or the explorer's "uncertain NAME"
    descending: bool = False
    score_column: str | None = None  # the explorer: a model's per-image score ("score NAME")
    buckets: list[float] | None = None  # IoU buckets (0.0 .. 1.0) of score_column; None or empty: any
    ids: frozenset[str] | None = None  # only these images (an error slice's, saltlab.analysis.slices)


def filter_table(table: pd.DataFrame, f: Filter) -> pd.DataFrame:
    """The rows matching every condition of the filter, sorted."""
    keep = pd.Series(True, index=table.index)
    if f.split:
        keep &= table["split"] == f.split
    if f.coverage_classes is not None:
        keep &= table["coverage_class"].isin(f.coverage_classes).fillna(False).astype(bool)
    if f.depth_range is not None:
        low, high = f.depth_range
        keep &= table["depth"].between(low, high).fillna(False)
    if f.anomaly:
        if f.anomaly not in ANOMALIES:
            raise ValueError(f"unknown anomaly {f.anomaly!r}; one of {', '.join(ANOMALIES)}")
        keep &= table[ANOMALIES[f.anomaly]].fillna(False).astype(bool)
    if f.ids is not None:
        keep &= table["id"].isin(f.ids).to_numpy()
    if f.buckets:
        if f.score_column not in table.columns:
            raise ValueError(f"IoU buckets need a score column; {f.score_column!r} is not one")
        keep &= np.isin(bucket_index(table[f.score_column]), [round(10 * b) for b in f.buckets])
    if f.sort_by not in SORT_KEYS and f.sort_by != f.score_column and not f.sort_by.startswith("uncertain "):
        raise ValueError(f"cannot sort by {f.sort_by!r}; one of {', '.join(SORT_KEYS)}")
    out = table[keep.to_numpy()]
    return out.sort_values(f.sort_by, ascending=not f.descending, kind="stable", na_position="last")


def page_of(rows: pd.DataFrame, page: int, page_size: int) -> pd.DataFrame:
    """Rows of one page (0-based); an out-of-range page gives the last one."""
    pages = max(1, -(-len(rows) // page_size))
    page = min(max(page, 0), pages - 1)
    return rows.iloc[page * page_size : (page + 1) * page_size]


def anomaly_counts(table: pd.DataFrame) -> dict[str, int]:
    return {name: int(table[col].fillna(False).astype(bool).sum()) for name, col in ANOMALIES.items()}
