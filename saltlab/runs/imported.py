"""Predictions or models made outside SaltLab, kept as entries of the runs folder beside SaltLab's runs.

An entry is a folder ROOT/NAME holding `import.json` (where it came from, for which data set, how many
images, whether it holds probabilities or masks, which images it is held out on, and its score beside
the all-empty score of the same images) and either `predictions.npz` (`ids`, and `probs` as uint8
p * 255, as SaltLab's own evaluations store them) or `model/` (an smp `save_pretrained` folder, copied,
with the input convention it was trained with in import.json). Every page and command that explores a
run accepts an entry (saltlab.inference.evaluate scores it); an imported model also predicts and embeds
images, imported predictions cannot.

Held-out images: the user lists the images the predictions were made without seeing (out-of-fold
predictions), or the entry says "unknown" and every score of it carries that warning. Nothing is
written until the whole import has been read and checked; the folder appears at once (renamed into
place) or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from saltlab.core.dataset import load_dataset
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import read_json, write_json_atomic
from saltlab.core.paths import checkpoints_root
from saltlab.core.prediction_files import read_predictions
from saltlab.core.scoring import empty_score, score_predictions
from saltlab.runs.run_folder import RunFolder

if TYPE_CHECKING:
    from saltlab.models.imported_smp import InputConvention

RECORD_FILE = "import.json"
PREDICTIONS_FILE = "predictions.npz"
MODEL_DIR = "model"  # an imported smp model: its config.json and model.safetensors, copied
UNKNOWN_HELD_OUT = (
    "the images this entry was held out on are unknown: its model may have trained on these labels, "
    "so its scores may flatter it"
)


class ImportRefused(SaltLabError, ValueError):
    """An import that cannot be made (no usable item, a name taken, a held-out list that fits nothing)."""


@dataclass
class ImportRecord:
    name: str
    source: str
    format: str  # csv, png, npz, npy; smp for a model
    binary: bool  # masks only: no probabilities, no threshold sweep
    data: str  # the data set's root, as loaded
    fingerprint: str
    n_ids: int
    held_out: str  # "listed" (held_out_ids says which) or "unknown"
    held_out_ids: list[str] | None = None
    imported: float = 0.0
    score: float | None = None  # at threshold 0.5, on the held-out images (all of them when unknown)
    score_empty: float | None = None
    problems: list[str] = field(default_factory=list)  # the items left out, one line each
    kind: str = "predictions"  # or "smp-model": a model folder (MODEL_DIR) that SaltLab runs itself
    convention: dict | None = None  # a model's input convention (saltlab.models.imported_smp.InputConvention)

    @classmethod
    def from_dict(cls, values: dict) -> ImportRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def entry_folder(path: str | os.PathLike) -> Path:
    """An entry's folder, from the folder or the file that stands for it (predictions.npz, model/)."""
    path = Path(path)
    if path.name == PREDICTIONS_FILE or path.name == MODEL_DIR:
        return path.parent
    if path.name == "model.safetensors" and path.parent.name == MODEL_DIR:
        return path.parent.parent
    return path


def is_model_folder(path: str | os.PathLike) -> bool:
    """A folder written by smp's save_pretrained (config.json and model.safetensors), by its files alone."""
    return all((Path(path) / name).is_file() for name in ("config.json", "model.safetensors"))


def is_import(path: str | os.PathLike) -> bool:
    """Whether `path` is an imported entry (its folder, or the file that stands for it)."""
    return (entry_folder(path) / RECORD_FILE).is_file()


def entry_file(path: str | os.PathLike) -> Path:
    """The file that stands for an entry in the pickers: its predictions, or its model's weights."""
    folder = entry_folder(path)
    model = folder / MODEL_DIR / "model.safetensors"
    return model if model.is_file() else folder / PREDICTIONS_FILE


def read_record(path: str | os.PathLike) -> ImportRecord:
    """The entry's import.json; ImportRefused (one line) when it is torn or not an entry's."""
    folder = entry_folder(path)
    try:
        values = read_json(folder / RECORD_FILE)
        if not isinstance(values, dict):
            raise ValueError(f"holds a {type(values).__name__}, not an object")
        return ImportRecord.from_dict(values)
    except (OSError, ValueError, TypeError) as exc:
        raise ImportRefused(f"{folder / RECORD_FILE}: unreadable ({type(exc).__name__}: {exc})") from None


def read_predictions_of(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """(ids, uint8 probabilities) of an entry; ImportRefused when predictions.npz is torn."""
    file = entry_folder(path) / PREDICTIONS_FILE
    try:
        with np.load(file, allow_pickle=False) as z:
            ids, probs = [str(i) for i in z["ids"].tolist()], z["probs"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ImportRefused(f"{file}: unreadable ({type(exc).__name__}: {exc})") from None
    if probs.dtype != np.uint8 or probs.shape[1:] != (101, 101) or len(probs) != len(ids):
        raise ImportRefused(f"{file}: not an import's predictions (shape {probs.shape}, type {probs.dtype})")
    return ids, probs


def validation_ids_of(run: str | os.PathLike) -> list[str]:
    """The images a SaltLab run held out (its split.json): out-of-fold predictions of the same fold."""
    split = RunFolder(run).split()
    if split is None or not split.val_ids:
        raise ImportRefused(f"{run}: records no validation images (no readable split.json)")
    return list(split.val_ids)


def held_out_ids(record: ImportRecord, ids: list[str]) -> list[str]:
    """The ids an entry is scored on: those listed as held out, else all of them."""
    if record.held_out == "listed" and record.held_out_ids is not None:
        listed = set(record.held_out_ids)
        return [i for i in ids if i in listed]
    return list(ids)


def import_predictions(
    source: str | os.PathLike,
    data: str | os.PathLike | None,
    name: str,
    root: str | os.PathLike | None = None,
    held_out: list[str] | str | None = None,
    kind: str | None = None,
    ids_file: str | os.PathLike | None = None,
) -> tuple[Path, ImportRecord]:
    """Read, check and store predictions as the entry ROOT/NAME; returns its folder and record.
    held_out: the ids they were made without seeing, "all" (every predicted image), or None (unknown)."""
    root = Path(root) if root else checkpoints_root()
    target = root / name
    _check_name(name, target)
    ds = load_dataset(data)
    read = read_predictions(source, set(ds.train_ids), kind, ids_file)
    problems = list(read.problems)
    if held_out == "all":
        held_out = list(read.ids)
    if held_out is not None:
        imported = set(read.ids)
        missing = [i for i in dict.fromkeys(held_out) if i not in imported]
        problems += [f"{i}: listed as held out but has no prediction" for i in missing[:50]]
        if len(missing) > 50:
            problems.append(f"... and {len(missing) - 50} more held-out ids with no prediction")
    if not read.ids:
        raise ImportRefused(
            f"{source}: nothing to import ({len(problems)} items refused; the first: "
            f"{problems[0] if problems else 'no items'})"
        )
    record = ImportRecord(
        name=name,
        source=str(Path(source).resolve()),
        format=read.kind,
        binary=read.binary,
        data=str(ds.root),
        fingerprint=ds.fingerprint,
        n_ids=len(read.ids),
        held_out="listed" if held_out is not None else "unknown",
        held_out_ids=sorted(set(held_out) & set(read.ids)) if held_out is not None else None,
        imported=time.time(),
        problems=problems,
    )
    scored = held_out_ids(record, read.ids)
    if not scored:
        raise ImportRefused(f"{source}: none of the {len(read.ids)} predicted images is in the held-out list")
    _add_scores(record, read.ids, read.probs, scored, ds)
    _write_entry(target, record, read.ids, read.probs)
    return target, record


def import_model(
    source: str | os.PathLike,
    data: str | os.PathLike | None,
    name: str,
    convention: InputConvention,
    root: str | os.PathLike | None = None,
    held_out: list[str] | str | None = None,
) -> tuple[Path, ImportRecord]:
    """Check and store an smp `save_pretrained` folder as the entry ROOT/NAME (its files copied, the input
    convention recorded); its scores come from evaluating it (saltlab.inference.evaluate)."""
    from saltlab.models.imported_smp import load_smp  # torch and smp: only when a model is imported

    root = Path(root) if root else checkpoints_root()
    target = root / name
    _check_name(name, target)
    load_smp(source, convention)  # ModelImportError, before anything is written
    ds = load_dataset(data)
    known = set(ds.train_ids)
    if held_out == "all":
        held_out = list(ds.train_ids)
    problems = [f"{i}: listed as held out but not an image of the data set" for i in (held_out or []) if i not in known]
    listed = sorted(set(held_out or []) & known)
    if held_out is not None and not listed:
        raise ImportRefused(f"{source}: none of the {len(held_out)} held-out ids is an image of {ds.root}")
    record = ImportRecord(
        name=name,
        source=str(Path(source).resolve()),
        format="smp",
        binary=False,
        data=str(ds.root),
        fingerprint=ds.fingerprint,
        n_ids=len(listed) if held_out is not None else ds.n_train,
        held_out="listed" if held_out is not None else "unknown",
        held_out_ids=listed if held_out is not None else None,
        imported=time.time(),
        problems=problems[:50],
        kind="smp-model",
        convention=convention.as_dict(),
    )
    _write_entry(target, record, copy_model=Path(source))
    return target, record


def set_scores(entry: str | os.PathLike, score: float, score_empty: float) -> None:
    """Keep an entry's score beside its all-empty score (shown by the registry), once it has been evaluated."""
    folder = entry_folder(entry)
    record = read_record(folder)
    record.score, record.score_empty = float(score), float(score_empty)
    write_json_atomic(folder / RECORD_FILE, asdict(record))


def model_convention(record: ImportRecord) -> InputConvention:
    from saltlab.models.imported_smp import InputConvention

    return InputConvention(**(record.convention or {}))


def _check_name(name: str, target: Path) -> None:
    if not name or name.startswith(".") or "/" in name or os.sep in name or name in (".", ".."):
        raise ImportRefused(f"{name!r}: not usable as an entry name (a plain folder name, not starting with '.')")
    if target.exists():
        raise ImportRefused(f"{target} exists already: choose another name, or delete that entry first")


def _add_scores(record: ImportRecord, ids: list[str], probs: np.ndarray, scored: list[str], ds) -> None:
    where = {id_: k for k, id_ in enumerate(ids)}
    rows = np.array([where[i] for i in scored], dtype=np.int64)
    truth = ds.train_masks[ds.train_index(scored)]
    record.score = score_predictions(probs[rows].astype(np.float32) / 255.0, None, truth, 0.5)["score"]
    record.score_empty = empty_score(truth)


def _write_entry(
    target: Path,
    record: ImportRecord,
    ids: list[str] | None = None,
    probs: np.ndarray | None = None,
    copy_model: Path | None = None,
) -> None:
    """The folder made beside its place and renamed into it: it appears whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if probs is not None:
            np.savez(staging / PREDICTIONS_FILE, ids=np.array(ids), probs=probs)
        if copy_model is not None:
            (staging / MODEL_DIR).mkdir()
            for file in ("config.json", "model.safetensors"):
                shutil.copyfile(copy_model / file, staging / MODEL_DIR / file)
        write_json_atomic(staging / RECORD_FILE, asdict(record))
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
