"""On-disk cache of decoded data sets, one folder per fingerprint under the cache root.

Arrays are plain .npy files (fast to read back), the rest is meta.json. A cache folder is
written under a temporary name and renamed into place, so a crash never leaves a torn entry;
an unreadable entry is ignored and rebuilt. Only the KEEP most recently used entries are kept
(every change to a data set's files makes a new fingerprint, so a new entry of up to ~90 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from saltlab.core.fileio import read_json, usual_dir_permissions
from saltlab.core.health import HealthReport
from saltlab.core.paths import cache_root

KEEP = 4  # cache entries kept, the most recently used
ARRAYS = ("train_images", "train_masks", "train_depths", "test_images", "test_depths")
LISTS = ("train_ids", "train_rle", "test_ids", "submission_ids")


def dataset_dir(fingerprint: str) -> Path:
    """The cache folder of one data set fingerprint (folds are saved here too)."""
    return cache_root() / "datasets" / fingerprint


def load(fingerprint: str, root: Path) -> dict | None:
    """The cached data set's fields for this fingerprint (`Dataset(**fields)`), or None when absent or unreadable.

    Fields, not the Dataset: this module sits below `dataset`, which calls it."""
    folder = dataset_dir(fingerprint)
    if not (folder / "meta.json").is_file():
        return None
    try:
        os.utime(folder / "meta.json")  # marks it recently used, for prune()
        meta = read_json(folder / "meta.json")
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in ARRAYS}
        return dict(
            root=Path(root),
            fingerprint=fingerprint,
            health=HealthReport.from_records(meta["health"]),
            from_cache=True,
            **arrays,
            **{name: meta[name] for name in LISTS},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"ignoring unreadable data set cache {folder}: {exc}", stacklevel=2)
        return None


def save(dataset) -> Path | None:
    """Write the cache entry of a loaded Dataset; a failure to write only warns (the data is still loaded)."""
    folder = dataset_dir(dataset.fingerprint)
    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dataset.fingerprint}.", dir=folder.parent))
        usual_dir_permissions(tmp)
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(dataset, name), allow_pickle=False)
        meta = {name: getattr(dataset, name) for name in LISTS}
        meta["health"] = dataset.health.to_records()
        meta["root"] = str(dataset.root.resolve())
        (tmp / "meta.json").write_text(json.dumps(meta))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        prune(keep=KEEP)
        return folder
    except OSError as exc:
        warnings.warn(f"could not write the data set cache at {folder}: {exc}", stacklevel=2)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return None


def prune(keep: int = KEEP) -> list[Path]:
    """Delete all but the `keep` most recently used entries (and temp folders a crash left); returns those deleted."""
    base = cache_root() / "datasets"
    if not base.is_dir():
        return []
    entries, removed = [], []
    for folder in base.iterdir():
        if not folder.is_dir():
            continue
        meta = folder / "meta.json"
        if folder.name.startswith("."):
            try:
                if folder.stat().st_mtime < time.time() - 3600:  # a temp folder older than an hour: abandoned
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
            except OSError:
                pass
            continue
        try:
            entries.append((meta.stat().st_mtime, folder))
        except OSError:
            entries.append((0.0, folder))  # no meta.json: a broken entry, oldest of all
    for _, folder in sorted(entries, reverse=True)[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
