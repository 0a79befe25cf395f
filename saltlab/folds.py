"""Stratified K-fold on coverage class, identical on every run and every machine.

Within each coverage class the ids are ordered by a SHA-256 of "seed:id" (no random-number
generator whose stream could change between library versions); the classes are laid end to
end and dealt to folds round-robin. Each class is spread evenly over the folds and fold sizes
differ by at most one. The assignment is saved as folds-k{K}-s{seed}.csv beside the data set
cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from saltlab.dataset import Dataset
from saltlab.definitions import coverage, coverage_class

DEFAULT_FOLDS = 10
DEFAULT_SEED = 42


def assign_folds(
    ids: list[str], classes: np.ndarray, n_folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Fold number (0..n_folds-1) of each id, stratified on `classes`."""
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    classes = np.asarray(classes)
    if len(ids) != len(classes):
        raise ValueError(f"{len(ids)} ids but {len(classes)} classes")
    keys = [hashlib.sha256(f"{seed}:{id_}".encode()).hexdigest() for id_ in ids]
    order = sorted(range(len(ids)), key=lambda i: (int(classes[i]), keys[i]))
    folds = np.empty(len(ids), dtype=np.int64)
    folds[order] = np.arange(len(ids)) % n_folds
    return folds


def _folds_path(ds: Dataset, n_folds: int, seed: int) -> Path:
    from saltlab.dataset_cache import dataset_dir

    return dataset_dir(ds.fingerprint) / f"folds-k{n_folds}-s{seed}.csv"


def fold_table(ds: Dataset, n_folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """id, coverage_class, fold for every train image; read from beside the cache when saved."""
    path = _folds_path(ds, n_folds, seed)
    if path.is_file():
        try:
            saved = pd.read_csv(path, dtype={"id": str})
            if list(saved["id"]) == ds.train_ids:
                return saved
        except (OSError, ValueError, KeyError, pd.errors.ParserError):
            pass  # rebuilt below; it is deterministic
    classes = coverage_class(coverage(ds.train_masks))
    table = pd.DataFrame(
        {"id": ds.train_ids, "coverage_class": classes, "fold": assign_folds(ds.train_ids, classes, n_folds, seed)}
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs recomputing the folds next time
    return table


def fold_split(
    ds: Dataset, fold: int, n_folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED
) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) for fold `fold`: the validation ids are that fold's."""
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    table = fold_table(ds, n_folds, seed)
    held_out = table["fold"].to_numpy() == fold
    ids = table["id"].tolist()
    return [i for i, h in zip(ids, held_out) if not h], [i for i, h in zip(ids, held_out) if h]
