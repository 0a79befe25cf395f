"""Loading a data set: images as uint8 (N, 101, 101), masks as bool, ids, depths and RLE.

Every item is checked; bad items go into the health report (id, file, reason) and are left
out, the rest loads, and nothing on disk is modified. Decoded arrays are cached on disk keyed
by a fingerprint of the files, so the second load of the same data set is near-instant.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saltlab.core import dataset_cache
from saltlab.core import rle as rle_codec
from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.fileio import first_line
from saltlab.core.health import WARNING, HealthReport
from saltlab.core.paths import resolve_data_path
from saltlab.core.pngs import BadFile, decode_image, decode_mask
from saltlab.core.progress import Progress
from saltlab.core.sources import DataLayout, DataSetError, Member, MemberRefused, scan

__all__ = ["Dataset", "DataSetError", "load_dataset"]


@dataclass
class Dataset:
    """A loaded data set. Train arrays are aligned with train_ids, test arrays with test_ids."""

    root: Path
    fingerprint: str
    train_ids: list[str]
    train_images: np.ndarray  # (N, 101, 101) uint8
    train_masks: np.ndarray  # (N, 101, 101) bool
    train_depths: np.ndarray  # (N,) float64, NaN where unknown
    train_rle: list[str]  # from train.csv, "" where absent or empty
    test_ids: list[str]
    test_images: np.ndarray
    test_depths: np.ndarray
    submission_ids: list[str]  # from sample_submission.csv, in its order
    health: HealthReport = field(default_factory=HealthReport)
    from_cache: bool = False

    @property
    def name(self) -> str:
        return self.root.resolve().name

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_test(self) -> int:
        return len(self.test_ids)

    def train_index(self, ids: list[str] | np.ndarray) -> np.ndarray:
        """Positions of the given train ids in the train arrays (KeyError on an unknown id)."""
        lookup = {id_: i for i, id_ in enumerate(self.train_ids)}
        return np.array([lookup[i] for i in ids], dtype=np.int64)


def _empty_stack(dtype: type) -> np.ndarray:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=dtype)


# The longest line of a Kaggle CSV is an RLE of a 101x101 mask: at most 5,101 runs, about 60 KB.
MAX_CSV_LINE = 2**20
MAX_ID_CHARS = 64  # Kaggle's ids are 10 hex characters


def _shown(text: str, limit: int = 24) -> str:
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _csv_lines(path: Path, name: str, health: HealthReport) -> list[str]:
    """The CSV's lines, each read with a bound: a line over MAX_CSV_LINE bytes or not UTF-8 is reported
    (by its number and first characters) and left out, never read whole."""
    lines: list[str] = []
    undecodable: list[int] = []
    with open(path, "rb") as f:
        number = 0
        while raw := f.readline(MAX_CSV_LINE + 1):
            number += 1
            if len(raw) > MAX_CSV_LINE and not raw.endswith(b"\n"):
                while (rest := f.readline(MAX_CSV_LINE)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the line without keeping it
                start = raw[:24].decode("utf-8", "backslashreplace")
                health.add("", "", name, f"line {number} is over {MAX_CSV_LINE:,} bytes (starts {start!r}); ignored")
                continue
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                undecodable.append(number)
    if undecodable:  # one line for all of them: a file saved as UTF-16 has thousands
        shown = ", ".join(map(str, undecodable[:5])) + (", ..." if len(undecodable) > 5 else "")
        health.add("", "", name, f"{len(undecodable)} line(s) are not UTF-8 text (line {shown}); ignored")
    return lines


def _read_csv(layout: DataLayout, name: str, columns: tuple[str, ...], health: HealthReport) -> pd.DataFrame | None:
    path = layout.csvs.get(name)
    if path is None:
        return None
    try:
        frame = pd.read_csv(io.StringIO("".join(_csv_lines(path, name, health))), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as exc:
        health.add("", "", name, f"unreadable CSV ({type(exc).__name__}: {first_line(exc)}); ignored")
        return None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        health.add("", "", name, f"missing column(s) {', '.join(missing)}; found {list(frame.columns)}; ignored")
        return None
    odd = frame["id"].map(lambda i: len(i) > MAX_ID_CHARS or not i.isprintable())
    for id_ in frame["id"][odd]:
        reason = f"an id of {len(id_):,} characters starting {_shown(id_)}: not an image id; row ignored"
        health.add("", "", name, reason)
    frame = frame[~odd]
    repeated = frame["id"].duplicated(keep=False)
    if repeated.any():
        # Repeated rows that agree are one row (warning); rows that disagree leave the id out of this CSV.
        conflicting = set()
        for id_, rows in frame[repeated].groupby("id", sort=True):
            agree = len(rows[list(columns)].drop_duplicates()) == 1
            if agree:
                health.add("", id_, name, f"id appears {len(rows)} times in {name} (identical rows: one kept)", WARNING)
            else:
                health.add(
                    "", id_, name, f"id appears {len(rows)} times in {name} with different values; its rows are ignored"
                )
                conflicting.add(id_)
        frame = frame[~frame["id"].isin(conflicting)].drop_duplicates("id", keep="first")
    return frame


def _decode_part(
    layout: DataLayout,
    part: str,
    decoder: Callable[[bytes], np.ndarray],
    health: HealthReport,
    progress: Progress | None,
) -> dict[str, np.ndarray]:
    """Decode every member of a part; bad ones are reported and dropped."""
    members = layout.parts.get(part, [])
    split = part.split("/")[0]

    def work(member: Member) -> np.ndarray | str:
        try:
            return decoder(layout.read(member))
        except (BadFile, MemberRefused) as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read file ({exc.strerror or exc})"
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:  # a bad CRC...
            return f"unreadable zip member ({first_line(exc)})"

    out: dict[str, np.ndarray] = {}
    # cv2 and zlib release the GIL, so threads decode in parallel; zips are read by one thread.
    workers = 1 if part in layout.zips else min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (member, result) in enumerate(zip(members, pool.map(work, members, chunksize=64)), 1):
            if isinstance(result, str):
                health.add(split, member.id, member.label, result)
            else:
                out[member.id] = result
            if progress and (done % 250 == 0 or done == len(members)):
                progress(part, done, len(members))
    return out


def _depths_for(ids: list[str], depths: dict[str, float] | None, split: str, health: HealthReport) -> np.ndarray:
    if depths is None:
        return np.full(len(ids), np.nan)
    values = np.full(len(ids), np.nan)
    for i, id_ in enumerate(ids):
        if id_ in depths:
            values[i] = depths[id_]
        else:
            health.add(split, id_, "depths.csv", "id missing from depths.csv; depth unknown", WARNING)
    return values


def _load_depths(layout: DataLayout, health: HealthReport) -> dict[str, float] | None:
    frame = _read_csv(layout, "depths.csv", ("id", "z"), health)
    if frame is None:
        if "depths.csv" not in layout.csvs:
            health.add("", "", "depths.csv", "depths.csv not found; depths unknown", WARNING)
        return None
    z = pd.to_numeric(frame["z"], errors="coerce").astype(float)
    for id_ in frame["id"][z.isna()]:
        health.add("", id_, "depths.csv", "depth is not a number; depth unknown", WARNING)
    infinite = z.notna() & ~np.isfinite(z)  # "inf", "1e400": numbers, but no depth
    for id_, value in zip(frame["id"][infinite], frame["z"][infinite]):
        health.add("", id_, "depths.csv", f"depth {_shown(value)} is not a finite number; depth unknown", WARNING)
    known = z.notna()  # non-finite depths stay in, as NaN: reported above, not again as missing
    return dict(zip(frame["id"][known], z[known].where(np.isfinite(z[known]))))


def _train_masks(
    layout: DataLayout,
    images: dict[str, np.ndarray],
    rles: dict[str, str] | None,
    health: HealthReport,
    progress: Progress | None,
) -> dict[str, np.ndarray]:
    """Masks from train/masks, cross-checked against train.csv; from train.csv alone when no PNGs."""
    if layout.has("train/masks"):
        return _decode_part(layout, "train/masks", decode_mask, health, progress)
    masks: dict[str, np.ndarray] = {}
    for id_, text in (rles or {}).items():
        if id_ not in images:
            continue
        try:
            masks[id_] = rle_codec.decode(text)
        except rle_codec.RLEError as exc:
            health.add("train", id_, "train.csv", f"unreadable RLE: {exc}")
    return masks


def _check_rle(ids: list[str], masks: np.ndarray, rles: dict[str, str], health: HealthReport) -> set[str]:
    """Compare train.csv with the mask PNGs; returns the ids whose RLE disagrees (left out)."""
    bad: set[str] = set()
    encoded = rle_codec.encode_many(masks)
    for i, id_ in enumerate(ids):
        if id_ not in rles:
            health.add("train", id_, "train.csv", "id missing from train.csv (mask PNG used)", WARNING)
            continue
        text = rles[id_].strip()
        if text == encoded[i]:
            continue
        # Different text can still be the same mask (e.g. adjacent runs not merged): decode.
        try:
            decoded = rle_codec.decode(text)
        except rle_codec.RLEError as exc:
            health.add("train", id_, "train.csv", f"unreadable RLE: {exc}")
            bad.add(id_)
            continue
        differ = int(np.count_nonzero(decoded != masks[i]))
        if differ:
            health.add("train", id_, "train.csv", f"RLE disagrees with the mask PNG ({differ} pixels differ)")
            bad.add(id_)
    return bad


def _load_fresh(layout: DataLayout, fingerprint: str, progress: Progress | None) -> Dataset:
    health = HealthReport()
    for part, id_, label in layout.stray:
        health.add(part.split("/")[0], id_, label, "not a PNG file")
    for part, id_, label, reason in layout.rejected:
        health.add(part.split("/")[0], id_, label, reason)

    depths = _load_depths(layout, health)
    train_csv = _read_csv(layout, "train.csv", ("id", "rle_mask"), health)
    rles = dict(zip(train_csv["id"], train_csv["rle_mask"])) if train_csv is not None else None
    if train_csv is None and "train.csv" not in layout.csvs and layout.has("train/images"):
        health.add("", "", "train.csv", "train.csv not found; RLE cross-check skipped", WARNING)

    images = _decode_part(layout, "train/images", decode_image, health, progress)
    masks = _train_masks(layout, images, rles, health, progress)
    # An image whose mask was unreadable (or the reverse) is reported once, for the bad file.
    reported = {i.id for i in health.errors if i.split == "train"}
    for id_ in sorted(set(images) - set(masks) - reported):
        health.add("train", id_, f"train/images/{id_}.png", "image without mask")
    for id_ in sorted(set(masks) - set(images) - reported):
        health.add("train", id_, f"train/masks/{id_}.png", "mask without image")
    train_ids = sorted(set(images) & set(masks))
    train_images = np.stack([images[i] for i in train_ids]) if train_ids else _empty_stack(np.uint8)
    train_masks = np.stack([masks[i] for i in train_ids]) if train_ids else _empty_stack(bool)

    if rles is not None and layout.has("train/masks") and train_ids:
        bad = _check_rle(train_ids, train_masks, rles, health)
        if bad:
            keep = np.array([i not in bad for i in train_ids])
            train_ids = [i for i in train_ids if i not in bad]
            train_images, train_masks = train_images[keep], train_masks[keep]
        for id_ in sorted(set(rles) - set(images) - set(masks)):
            health.add("train", id_, "train.csv", "train.csv row without image or mask", WARNING)

    test = _decode_part(layout, "test/images", decode_image, health, progress)
    test_ids = sorted(test)
    test_images = np.stack([test[i] for i in test_ids]) if test_ids else _empty_stack(np.uint8)

    submission = _read_csv(layout, "sample_submission.csv", ("id",), health)
    submission_ids = list(submission["id"]) if submission is not None else []
    if submission_ids and layout.has("test/images"):
        for id_ in sorted(set(submission_ids) - set(test)):
            health.add("test", id_, "sample_submission.csv", "id in sample_submission.csv has no test image", WARNING)

    train_rle = [rles.get(i, "") if rles else "" for i in train_ids]
    return Dataset(
        root=layout.root,
        fingerprint=fingerprint,
        train_ids=train_ids,
        train_images=train_images,
        train_masks=train_masks,
        train_depths=_depths_for(train_ids, depths, "train", health),
        train_rle=train_rle,
        test_ids=test_ids,
        test_images=test_images,
        test_depths=_depths_for(test_ids, depths, "test", health),
        submission_ids=submission_ids,
        health=health,
    )


def load_dataset(
    path: str | os.PathLike | None = None,
    *,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Load the data set at `path` (or the default one, see saltlab.core.paths), from cache if possible.

    Raises DataSetError when the path is not a data set. Bad items never raise: they are
    in `dataset.health` and left out.
    """
    root = resolve_data_path(path)
    layout = scan(root)
    fingerprint = layout.fingerprint()
    if use_cache:
        cached = dataset_cache.load(fingerprint, root)
        if cached is not None:
            return Dataset(**cached)
    try:
        dataset = _load_fresh(layout, fingerprint, progress)
    finally:
        layout.close()
    if use_cache:
        dataset_cache.save(dataset)
    return dataset


def check_training_data(path: str | None) -> Dataset:
    """The data set a run would train on, loaded (from the cache when it can); DataSetError, naming the
    folder and the reason, when it cannot be trained on."""
    ds = load_dataset(path)
    if ds.n_train < 2:
        raise DataSetError(f"{ds.root}: {ds.n_train} labelled train image(s); training needs at least 2")
    return ds
