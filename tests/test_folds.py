"""Folds: an image's fold depends on its id alone (images added or removed never move another),
every coverage class within the stated bound, disjoint, and the same on every machine."""

import numpy as np
import pandas as pd
import pytest

from saltlab.core.definitions import coverage, coverage_class
from saltlab.core.folds import DEFAULT_SEED, assign_folds, fold_of, fold_split, fold_table, stratification_bound


def test_assignment_is_a_fixed_function_of_ids():
    # A golden value: any change in the algorithm (or a platform dependence) breaks this.
    ids = [f"{i:010x}" for i in range(0, 20 * 7919, 7919)]
    folds = assign_folds(ids, n_folds=5, seed=42)
    assert folds.tolist() == GOLDEN
    assert [fold_of(i, 5, 42) for i in ids] == GOLDEN


GOLDEN = [1, 2, 4, 3, 4, 0, 3, 4, 4, 1, 3, 3, 0, 3, 2, 2, 3, 2, 4, 2]


def test_seed_changes_assignment():
    ids = [f"id{i}" for i in range(100)]
    assert assign_folds(ids, 5, seed=1).tolist() != assign_folds(ids, 5, seed=2).tolist()


def test_removing_or_adding_images_moves_no_other(demo_ds):
    """The issue's case: removing one image moved 626 others to another fold. Now none moves."""
    table = fold_table(demo_ds, n_folds=10)
    ids = table["id"].tolist()
    before = dict(zip(ids, table["fold"]))
    fewer = ids[:3] + ids[4:-50]  # one removed in the middle, 50 at the end
    more = ids + [f"new{k:04d}" for k in range(200)]
    for changed in (fewer, more):
        after = dict(zip(changed, assign_folds(changed, 10, DEFAULT_SEED)))
        assert all(after[i] == before[i] for i in changed if i in before)


def _within_bound(table: pd.DataFrame, n_folds: int) -> list[str]:
    out = []
    groups = [("all", table)] + [(f"class {c}", g) for c, g in table.groupby("coverage_class")]
    for name, group in groups:
        low, high = stratification_bound(len(group), n_folds)
        counts = np.bincount(group["fold"], minlength=n_folds)
        out += [
            f"{name}: fold {k} holds {v}, bound {low:.1f}-{high:.1f}"
            for k, v in enumerate(counts)
            if not low <= v <= high
        ]
    return out


def test_stratification_within_bound(demo_ds):
    table = fold_table(demo_ds, n_folds=10)
    # 110 fold-class cells at about 0.3 % each: one outside is chance (it is: a class of 4 images with 3 in one fold).
    assert len(_within_bound(table, 10)) <= 2
    np.testing.assert_array_equal(table["coverage_class"], coverage_class(coverage(demo_ds.train_masks)))


def test_stratification_bound_on_synthetic_ids():
    """Over many random id sets, the bound (mean +- 3 sd per fold and class) fails about as rarely as stated."""
    rng = np.random.default_rng(0)
    outside = cells = 0
    for trial in range(40):
        n = int(rng.integers(200, 5000))
        ids = [f"{rng.integers(1 << 40):010x}" for _ in range(n)]
        table = pd.DataFrame(
            {"id": ids, "coverage_class": rng.integers(0, 11, n), "fold": assign_folds(ids, 10, DEFAULT_SEED)}
        )
        outside += len(_within_bound(table, 10))
        cells += 10 * (1 + table["coverage_class"].nunique())
    assert outside / cells < 0.01, f"{outside} of {cells} fold-class counts outside the bound"


def test_split_is_disjoint_and_complete(demo_ds):
    all_val = []
    for k in range(5):
        train, val = fold_split(demo_ds, k, n_folds=5)
        assert not set(train) & set(val)
        assert sorted(train + val) == sorted(demo_ds.train_ids)
        all_val += val
    assert sorted(all_val) == sorted(demo_ds.train_ids)


def test_saved_beside_cache_and_reused(demo_ds):
    from saltlab.core.dataset_cache import dataset_dir

    first = fold_table(demo_ds, n_folds=4, seed=7)
    path = dataset_dir(demo_ds.fingerprint) / "folds-v2-k4-s7.csv"
    assert path.is_file()
    pd.testing.assert_frame_equal(pd.read_csv(path, dtype={"id": str}), first)
    path.write_text("garbage\n")
    pd.testing.assert_frame_equal(fold_table(demo_ds, n_folds=4, seed=7), first)


@pytest.mark.real_data
def test_real_folds_within_bound(real_ds):
    table = fold_table(real_ds)
    assert _within_bound(table, 10) == []
    sizes = table.groupby("fold").size()
    assert sizes.min() >= 329 and sizes.max() <= 371 and sizes.sum() == 3499  # the default seed's folds


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(["a"], n_folds=1)
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_split(None, 0, n_folds=1)
    with pytest.raises(ValueError, match="fold must be in 0..9"):
        fold_split(None, 10)
