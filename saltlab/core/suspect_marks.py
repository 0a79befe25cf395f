"""Suspect-label marks: the labelled images a user marked as probably mislabelled, per data set.

Kept in a small JSON file under the cache root (keyed by the data set's folder, so a changed file
keeps its marks); a training run with `exclude_suspects = true` leaves them out of its training
images and records their ids in its config.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from saltlab.core.dataset import Dataset
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import read_json, write_json_atomic
from saltlab.core.paths import cache_root


class MarksError(SaltLabError, ValueError):
    """An unknown image id, or an unreadable marks file."""


def _marks_path(ds: Dataset | str | Path) -> Path:
    root = Path(ds.root if isinstance(ds, Dataset) else ds).resolve()
    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return cache_root() / "suspects" / f"{root.name}-{key}.json"


def marked(ds: Dataset | str | Path) -> dict[str, dict]:
    """{id: {"reason": ..., "marked": unix time}} of the images marked as suspect labels in this data set
    (a loaded Dataset or its folder)."""
    path = _marks_path(ds)
    try:
        data = read_json(path)
        return {str(k): dict(v) for k, v in data.get("marked", {}).items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise MarksError(f"{path}: unreadable suspect marks ({exc}); delete the file to start again") from exc


def set_marked(ds: Dataset, id_: str, reason: str = "", mark: bool = True) -> dict[str, dict]:
    """Mark (or unmark) one labelled image as a suspect label; returns the marks."""
    if id_ not in set(ds.train_ids):
        raise MarksError(f"{id_}: not a labelled image of {ds.root}")
    marks = marked(ds)
    if mark:
        marks[id_] = {"reason": reason, "marked": round(time.time())}
    else:
        marks.pop(id_, None)
    path = _marks_path(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"data": str(Path(ds.root).resolve()), "marked": marks})
    return marks
