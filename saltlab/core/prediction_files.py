"""Reading predictions made elsewhere: a Kaggle CSV (id,rle_mask), a folder of PNGs named by id
(binary masks, or 8- or 16-bit probabilities), or an .npz of probabilities keyed by id (one array per
id, or the arrays `ids` and `probs`), or an .npy stack of probabilities with its ids given in order.

Every item is checked (its id in the data set, once only; its size; its RLE; probabilities finite and
within [0, 1]); a bad one becomes a one-line problem naming it and the reason, and the others are
read. Probabilities are kept as uint8 (p * 255, rounded), as SaltLab's own evaluations are; binary
masks as 0 / 255, and the result says that they have no probabilities. Nothing is written here.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saltlab.core import rle
from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError
from saltlab.core.pngs import BadFile, decode_png
from saltlab.core.sources import MAX_PNG_BYTES

KINDS = ("csv", "png", "npz", "npy")
SHAPE = (IMAGE_SIZE, IMAGE_SIZE)
MAX_ARRAY_BYTES = IMAGE_SIZE * IMAGE_SIZE * 8 + 4096  # one float64 map and its .npy header


class PredictionFileError(SaltLabError, ValueError):
    """A source of predictions that cannot be read at all (one line: the file and the reason)."""


@dataclass
class ReadPredictions:
    ids: list[str]
    probs: np.ndarray  # uint8 (N, 101, 101): probability * 255, or 0 / 255 for binary masks
    binary: bool  # masks only: no probabilities, no threshold sweep
    kind: str
    problems: list[str] = field(default_factory=list)  # one line per item left out: "ID: reason"


def detect_kind(source: str | os.PathLike) -> str:
    """csv, png (a folder of PNGs), npz or npy, from the path; PredictionFileError for anything else."""
    path = Path(source)
    if path.is_dir():
        return "png"
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such file or folder")
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("csv", "npz", "npy"):
        raise PredictionFileError(f"{path}: not a CSV, .npz, .npy or a folder of PNGs (say which with --kind)")
    return kind


class _Collector:
    """Items as they are read: the checks every format shares (known id, read once, shape, range)."""

    def __init__(self, known_ids: set[str]):
        self.known, self.seen, self.ids, self.arrays, self.problems = known_ids, set(), [], [], []
        self.binary = True

    def add(self, id_: str, value: np.ndarray | None, reason: str | None = None) -> None:
        """One item; `reason` when it could not even be read."""
        if reason is None:
            reason = self._refusal(id_, value)
        if reason:
            self.problems.append(f"{id_}: {reason}")
            return
        binary = _is_binary(value)
        self.seen.add(id_)
        self.ids.append(id_)
        self.arrays.append(_as_u8(value, binary))
        self.binary &= binary

    def _refusal(self, id_: str, value: np.ndarray | None) -> str | None:
        if id_ not in self.known:
            return "not an image of the data set"
        if id_ in self.seen:
            return "listed twice (the first kept)"
        if value is None or value.shape != SHAPE:
            return f"wrong size {_shape_text(value)}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        if value.dtype.kind not in "fb" and value.dtype not in (np.uint8, np.uint16) and not _is_binary(value):
            return f"{value.dtype} values: give probabilities as floats in [0, 1], or 8- or 16-bit integers"
        if value.dtype.kind == "f":
            if not np.isfinite(value).all():
                return "holds values that are not finite (NaN or infinite)"
            if value.min() < 0 or value.max() > 1:
                return f"probabilities outside [0, 1] ({float(value.min()):.3g} to {float(value.max()):.3g})"
        return None

    def result(self, kind: str) -> ReadPredictions:
        probs = np.stack(self.arrays) if self.arrays else np.zeros((0, *SHAPE), np.uint8)
        return ReadPredictions(self.ids, probs, self.binary and bool(self.ids), kind, self.problems)


def _shape_text(value) -> str:
    shape = getattr(value, "shape", None)
    return "none" if shape is None else "x".join(str(s) for s in shape[::-1]) if len(shape) == 2 else str(shape)


def _is_binary(value: np.ndarray) -> bool:
    """A mask rather than probabilities: bool, or integers holding 0 and one 'on' value (1, 255 or 65535)."""
    if value.dtype == bool:
        return True
    if value.dtype.kind not in "iu":
        return False
    top = int(value.max())
    return top == 0 or (top in (1, 255, 65535) and bool(((value == 0) | (value == top)).all()))


def _as_u8(value: np.ndarray, binary: bool) -> np.ndarray:
    """Masks -> 0 / 255; floats in [0, 1] -> rint(p * 255); uint8 as is; uint16 -> rint(v / 65535 * 255)."""
    if binary:
        return (value > 0).astype(np.uint8) * 255
    if value.dtype.kind == "f":
        return np.rint(value.astype(np.float64) * 255).astype(np.uint8)
    if value.dtype == np.uint16:
        return np.rint(value.astype(np.float64) * (255 / 65535)).astype(np.uint8)
    return value.astype(np.uint8)


def read_predictions(
    source: str | os.PathLike, known_ids: set[str], kind: str | None = None, ids_file: str | os.PathLike | None = None
) -> ReadPredictions:
    """The predictions in `source` for images among `known_ids`; bad items listed in `problems`."""
    kind = kind or detect_kind(source)
    readers = {"csv": _read_csv, "png": _read_pngs, "npz": _read_npz, "npy": _read_npy}
    if kind not in readers:
        raise PredictionFileError(f"{source}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    collector = _Collector(known_ids)
    if kind == "npy":
        _read_npy(Path(source), collector, ids_file)
    else:
        readers[kind](Path(source), collector)
    return collector.result(kind)


def _read_csv(path: Path, out: _Collector) -> None:
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])[:2]]
            if header != ["id", "rle_mask"]:
                raise PredictionFileError(f"{path}: expected the header 'id,rle_mask' of a Kaggle submission")
            for n, row in enumerate(reader, start=2):
                if not row:
                    continue
                id_ = row[0].strip()
                try:
                    mask = rle.decode(row[1] if len(row) > 1 else "", SHAPE)
                except rle.RLEError as exc:
                    out.add(id_ or f"line {n}", None, f"bad RLE on line {n} ({exc})")
                    continue
                out.add(id_, mask)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PredictionFileError(f"{path}: cannot be read as a CSV ({type(exc).__name__}: {exc})") from None


def _read_pngs(folder: Path, out: _Collector) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise PredictionFileError(
            f"{folder}: holds no .png files (one per image, named by its id) and is not an smp model folder "
            "(config.json and model.safetensors)"
        )
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PNG_BYTES + 1)  # at most: a 101x101 PNG is far smaller
            if len(data) > MAX_PNG_BYTES:
                raise BadFile(f"over {MAX_PNG_BYTES:,} bytes: too large for a 101x101 PNG")
            value = decode_png(data)
        except (OSError, BadFile) as exc:
            out.add(path.stem, None, f"{path.name}: {exc}")
            continue
        out.add(path.stem, value.max(axis=2) if value.ndim == 3 else value)


def _read_npz(path: Path, out: _Collector) -> None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "ids" in z.files and "probs" in z.files:
                ids, stack = [str(i) for i in z["ids"].tolist()], z["probs"]
                if len(ids) != len(stack):
                    raise PredictionFileError(f"{path}: {len(ids)} ids but {len(stack)} probability maps")
                for id_, value in zip(ids, stack):
                    out.add(id_, value)
                return
            for id_ in z.files:
                size = z.zip.getinfo(f"{id_}.npy").file_size
                if size > MAX_ARRAY_BYTES:  # checked before the array is read: its header could claim anything
                    out.add(id_, None, f"{size:,} bytes: too large for one 101x101 map")
                    continue
                out.add(id_, z[id_])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise PredictionFileError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None


def _read_npy(path: Path, out: _Collector, ids_file: str | os.PathLike | None) -> None:
    if ids_file is None:
        raise PredictionFileError(f"{path}: an .npy holds no ids; give them in order, one per line, with --ids FILE")
    try:
        ids = [line.strip() for line in Path(ids_file).read_text().splitlines() if line.strip()]
        stack = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise PredictionFileError(f"{path}: not readable ({type(exc).__name__}: {exc})") from None
    if stack.ndim != 3 or len(stack) != len(ids):
        raise PredictionFileError(
            f"{path}: holds an array of shape {stack.shape}; expected (N, 101, 101) with N = {len(ids)} ids"
        )
    for id_, value in zip(ids, stack):
        out.add(id_, np.asarray(value))
