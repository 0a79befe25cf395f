"""Definitions: coverage, coverage class, anomalies and the per-image table, on hand-made cases."""

import numpy as np
import pandas as pd

from saltlab.core.definitions import (
    coverage,
    coverage_class,
    image_mean_std,
    is_constant_image,
    is_empty,
    is_full,
    is_vertical_mask,
)
from saltlab.core.table import COLUMNS, image_table, summary


def test_coverage_and_class():
    masks = np.zeros((4, 101, 101), bool)
    masks[1, :10] = True  # 1010 / 10201 = 0.099 -> class 1
    masks[2, :, :50] = True  # 0.495 -> rint(4.95) = 5
    masks[3] = True
    cov = coverage(masks)
    np.testing.assert_allclose(cov, [0, 1010 / 10201, 5050 / 10201, 1])
    assert coverage_class(cov).tolist() == [0, 1, 5, 10]
    assert coverage_class(np.array([0.04, 0.05, 0.06, 0.95])).tolist() == [0, 0, 1, 10]  # rint: half to even


def test_anomalies():
    masks = np.zeros((4, 101, 101), bool)
    masks[1, :, 30:60] = True  # vertical: every row the same
    masks[2, 40:, 30:60] = True  # not vertical
    masks[3] = True  # full (and vertical)
    assert is_empty(masks).tolist() == [True, False, False, False]
    assert is_vertical_mask(masks).tolist() == [False, True, False, True]
    assert is_full(masks).tolist() == [False, False, False, True]
    images = np.zeros((3, 101, 101), np.uint8)
    images[1] = 17
    images[2, 5, 5] = 1
    assert is_constant_image(images).tolist() == [True, True, False]


def test_mean_std_match_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1100, 101, 101), dtype=np.uint8)
    mean, std = image_mean_std(images)
    flat = images.reshape(1100, -1).astype(np.float64)
    np.testing.assert_allclose(mean, flat.mean(1), rtol=1e-6)
    np.testing.assert_allclose(std, flat.std(1), rtol=1e-5)


def test_table_columns_and_values(demo_ds):
    table = image_table(demo_ds)
    assert tuple(table.columns) == COLUMNS
    assert len(table) == demo_ds.n_train + demo_ds.n_test
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    assert train["id"].tolist() == demo_ds.train_ids and test["id"].tolist() == demo_ds.test_ids
    np.testing.assert_allclose(train["coverage"].to_numpy(float), coverage(demo_ds.train_masks))
    assert test["coverage"].isna().all() and test["empty"].isna().all()
    assert train["empty"].sum() == is_empty(demo_ds.train_masks).sum()
    np.testing.assert_allclose(table["depth"], np.concatenate([demo_ds.train_depths, demo_ds.test_depths]))
    info = summary(demo_ds, table)
    assert info["n_train"] == 200 and sum(info["coverage_class_counts"]) == 200
    assert info["empty_masks"] == int(is_empty(demo_ds.train_masks).sum())
    assert isinstance(table, pd.DataFrame)
