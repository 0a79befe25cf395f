"""Run-length encoding of masks in the Kaggle format, and submission CSV files.

Column-major (transpose, then flatten), 1-indexed "start length" pairs separated by spaces;
an empty mask is the empty string. Encoding is vectorised over a whole stack of masks.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import write_text_atomic


class RLEError(SaltLabError, ValueError):
    """An RLE string that cannot be decoded into a mask of the given shape."""


@functools.lru_cache(maxsize=4)
def _decimal_strings(largest: int) -> list[str]:
    """str(i) for 0..largest: a lookup is three times faster than str() on 10^5 numbers."""
    return [str(i) for i in range(largest + 1)]


def encode_many(masks: np.ndarray) -> list[str]:
    """Encode a stack of bool masks (N, H, W) into N RLE strings."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    n, h, w = masks.shape
    width = h * w + 2
    # Each mask, column-major, between two False pixels; the whole stack is one 1-D array so
    # that run boundaries come from one flatnonzero (2-D nonzero is several times slower).
    padded = np.zeros((n, width), dtype=bool)
    padded[:, 1:-1].reshape(n, w, h)[:] = masks.transpose(0, 2, 1)
    flat = padded.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1])
    starts, ends = edges[0::2], edges[1::2]  # runs never cross masks: each row starts and ends False
    owner = (starts + 1) // width
    pairs = np.empty((len(starts), 2), dtype=np.int64)
    pairs[:, 0] = (starts + 1) % width  # 1-indexed pixel number
    pairs[:, 1] = ends - starts
    numbers = list(map(_decimal_strings(h * w).__getitem__, pairs.ravel().tolist()))
    bounds = 2 * np.searchsorted(owner, np.arange(n + 1))
    return [" ".join(numbers[a:b]) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def encode_per_pixel(mask: np.ndarray) -> str:
    """The obvious encoder, a Python loop over the column-major pixels.

    Kept as the reference that tests check `encode_many` against and the baseline that
    bench/bench_rle.py measures it against; use `encode_many` for real work.
    """
    runs: list[int] = []
    prev = -2
    for i, v in enumerate(np.asarray(mask, dtype=bool).T.flatten()):
        if v:
            if i > prev + 1:
                runs.extend((i + 1, 0))
            runs[-1] += 1
            prev = i
    return " ".join(map(str, runs))


def encode(mask: np.ndarray) -> str:
    """Encode one bool mask (H, W)."""
    return encode_many(np.asarray(mask)[None])[0]


def decode(rle: str | float | None, shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """Decode one RLE string into a bool mask of `shape` (H, W).

    A blank string (or NaN / None, as a CSV reader may give for an empty cell) is an empty mask.
    Raises RLEError on odd counts, non-numbers, zero lengths, overlapping, unsorted or
    out-of-range runs.
    """
    h, w = shape
    flat = np.zeros(h * w, dtype=bool)
    if rle is None or (isinstance(rle, float) and np.isnan(rle)) or not str(rle).strip():
        return flat.reshape(w, h).T
    parts = str(rle).split()
    if len(parts) % 2:
        raise RLEError(f"odd number of values ({len(parts)}): RLE needs 'start length' pairs")
    try:
        values = np.array(parts, dtype=np.int64)
    except ValueError:
        raise RLEError("RLE holds something that is not an integer") from None
    except OverflowError:
        raise RLEError("RLE holds a number past the last pixel (beyond 64-bit integers)") from None
    starts = values[0::2] - 1
    lengths = values[1::2]
    if (starts < 0).any():
        raise RLEError("RLE start below 1 (starts are 1-indexed)")
    if (lengths < 1).any():
        raise RLEError("RLE run length below 1")
    if starts.max() >= h * w or lengths.max() > h * w:  # checked first: start + length could overflow
        raise RLEError(f"RLE run past the last pixel (beyond {h * w})")
    ends = starts + lengths
    if ends.max() > h * w:
        raise RLEError(f"RLE run past the last pixel ({int(ends.max())} > {h * w})")
    if (starts[1:] < ends[:-1]).any():
        raise RLEError("RLE runs overlap or are not in ascending order")
    # Runs checked sorted and apart: one slice each (a mask has at most 51 runs a column; np.add.at and a
    # cumulative sum took twice as long, bench/bench_import.py).
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        flat[lo:hi] = True
    return flat.reshape(w, h).T


def decode_many(rles: Iterable[str], shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """Decode RLE strings into a bool stack (N, H, W)."""
    decoded = [decode(r, shape) for r in rles]
    if not decoded:
        return np.zeros((0, *shape), dtype=bool)
    return np.stack(decoded)


def submission_csv(ids: Sequence[str], masks: np.ndarray) -> str:
    """The text of a Kaggle submission: an id,rle_mask header and one line per mask."""
    masks = np.asarray(masks, dtype=bool)
    if len(ids) != len(masks):
        raise ValueError(f"{len(ids)} ids but {len(masks)} masks")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "rle_mask"])
    writer.writerows(zip(ids, encode_many(masks)))
    return buffer.getvalue()


def write_submission(path: str | os.PathLike, ids: Sequence[str], masks: np.ndarray) -> Path:
    """Write a Kaggle submission (id,rle_mask) atomically: a temp file renamed into place.

    A crash mid-way leaves either the previous file or none, never a half-written one.
    """
    path = Path(path)
    text = submission_csv(ids, masks)
    return write_text_atomic(path, text)


def read_submission(
    path: str | os.PathLike, shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)
) -> tuple[list[str], np.ndarray]:
    """Read a submission CSV (id,rle_mask) into ids and a bool mask stack (N, H, W)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["id", "rle_mask"]:
            raise ValueError(f"{path}: expected a header 'id,rle_mask', found {header!r}")
        rows = [row for row in reader if row]
    ids = [row[0] for row in rows]
    masks = decode_many([row[1] if len(row) > 1 else "" for row in rows], shape)
    return ids, masks
