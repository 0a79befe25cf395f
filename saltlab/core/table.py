"""The per-image table of a data set (pandas) and its summary numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from saltlab.core.dataset import Dataset
from saltlab.core.definitions import (
    N_COVERAGE_CLASSES,
    coverage,
    coverage_class,
    image_mean_std,
    is_constant_image,
    is_empty,
    is_full,
    is_vertical_mask,
)

COLUMNS = (
    "id",
    "split",
    "depth",
    "coverage",
    "coverage_class",
    "empty",
    "constant_image",
    "vertical_mask",
    "full_mask",
    "image_mean",
    "image_std",
)


def image_table(ds: Dataset) -> pd.DataFrame:
    """One row per image, train then test. Mask columns are <NA> for test images."""
    n_train, n_test = ds.n_train, ds.n_test
    cov = coverage(ds.train_masks)
    images = np.concatenate([ds.train_images, ds.test_images])
    mean, std = image_mean_std(images)

    def train_only(values: np.ndarray, dtype: str) -> pd.array:
        padded = pd.array(np.concatenate([values, np.zeros(n_test, dtype=values.dtype)]), dtype=dtype)
        padded[n_train:] = pd.NA
        return padded

    table = pd.DataFrame(
        {
            "id": ds.train_ids + ds.test_ids,
            "split": pd.Categorical(["train"] * n_train + ["test"] * n_test, categories=["train", "test"]),
            "depth": np.concatenate([ds.train_depths, ds.test_depths]),
            "coverage": train_only(cov, "Float64"),
            "coverage_class": train_only(coverage_class(cov), "Int64"),
            "empty": train_only(is_empty(ds.train_masks), "boolean"),
            "constant_image": is_constant_image(images),
            "vertical_mask": train_only(is_vertical_mask(ds.train_masks), "boolean"),
            "full_mask": train_only(is_full(ds.train_masks), "boolean"),
            "image_mean": mean,
            "image_std": std,
        },
        columns=list(COLUMNS),
    )
    return table


def summary(ds: Dataset, table: pd.DataFrame | None = None) -> dict:
    """Headline numbers: counts per split, per anomaly, per coverage class, depth range, health."""
    table = image_table(ds) if table is None else table
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    depths = table["depth"].dropna()
    classes = np.bincount(train["coverage_class"].to_numpy(dtype=np.int64), minlength=N_COVERAGE_CLASSES)
    return {
        "root": str(ds.root),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "empty_masks": int(train["empty"].sum()),
        "empty_fraction": float(train["empty"].mean()) if len(train) else float("nan"),
        "vertical_masks": int(train["vertical_mask"].sum()),
        "full_masks": int(train["full_mask"].sum()),
        "constant_images_train": int(train["constant_image"].sum()),
        "constant_images_test": int(test["constant_image"].sum()),
        "coverage_class_counts": [int(c) for c in classes],
        "depth_min": float(depths.min()) if len(depths) else None,
        "depth_max": float(depths.max()) if len(depths) else None,
        "depth_unknown": int(table["depth"].isna().sum()),
        "health": ds.health.describe(),
        "errors": len(ds.health.errors),
        "warnings": len(ds.health.warnings),
    }
