"""Folds: stratified on coverage class, balanced, disjoint, and the same on every machine."""

import numpy as np
import pandas as pd
import pytest

from saltlab.definitions import coverage, coverage_class
from saltlab.folds import assign_folds, fold_split, fold_table


def test_assignment_is_a_fixed_function_of_ids():
    # A golden value: any change in the algorithm (or a platform dependence) breaks this.
    ids = [f"{i:010x}" for i in range(0, 20 * 7919, 7919)]
    classes = np.array([i % 3 for i in range(20)])
    folds = assign_folds(ids, classes, n_folds=5, seed=42)
    assert folds.tolist() == assign_folds(list(ids), classes.copy(), n_folds=5, seed=42).tolist()
    assert folds.tolist() == GOLDEN


GOLDEN = [1, 0, 2, 1, 1, 1, 2, 3, 4, 4, 2, 3, 0, 2, 4, 0, 4, 0, 3, 3]


def test_seed_changes_assignment():
    ids = [f"id{i}" for i in range(100)]
    classes = np.zeros(100, int)
    assert assign_folds(ids, classes, 5, seed=1).tolist() != assign_folds(ids, classes, 5, seed=2).tolist()


def test_balanced_and_stratified(demo_ds):
    table = fold_table(demo_ds, n_folds=10)
    sizes = table.groupby("fold").size()
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == demo_ds.n_train
    per_class = pd.crosstab(table["fold"], table["coverage_class"])
    assert (per_class.max() - per_class.min()).max() <= 1
    np.testing.assert_array_equal(table["coverage_class"], coverage_class(coverage(demo_ds.train_masks)))


def test_split_is_disjoint_and_complete(demo_ds):
    all_val = []
    for k in range(5):
        train, val = fold_split(demo_ds, k, n_folds=5)
        assert not set(train) & set(val)
        assert sorted(train + val) == sorted(demo_ds.train_ids)
        all_val += val
    assert sorted(all_val) == sorted(demo_ds.train_ids)


def test_saved_beside_cache_and_reused(demo_ds):
    from saltlab.dataset_cache import dataset_dir

    first = fold_table(demo_ds, n_folds=4, seed=7)
    path = dataset_dir(demo_ds.fingerprint) / "folds-k4-s7.csv"
    assert path.is_file()
    pd.testing.assert_frame_equal(pd.read_csv(path, dtype={"id": str}), first)
    path.write_text("garbage\n")
    pd.testing.assert_frame_equal(fold_table(demo_ds, n_folds=4, seed=7), first)


@pytest.mark.real_data
def test_real_fold_sizes(real_ds):
    train, val = fold_split(real_ds, 0)
    assert len(val) in (349, 350) and len(train) + len(val) == 3499


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(["a"], np.array([0]), n_folds=1)
    with pytest.raises(ValueError, match="fold must be in 0..9"):
        fold_split(None, 10)
