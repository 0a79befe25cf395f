"""A synthetic data set in the Kaggle layout that looks like TGS seismic sections.

Each image is a 2-D section of layered reflectors (a random reflectivity series convolved
with a Ricker wavelet), folded and dipping, with noise. Salt bodies have a strong top-of-salt
reflector, a weaker base and a low-amplitude chaotic interior. The masks follow the TGS
proportions: about 39% empty, every coverage class, some vertical masks (every row the same),
some constant images (with empty masks), and the files carry the real set's quirks (RGB
images; 16-bit {0, 65535} masks, 8-bit empty masks). It is the app's default data set on a
fresh machine and the unit tests' fixture.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from saltlab.core import rle
from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.fileio import usual_dir_permissions

S = IMAGE_SIZE
EMPTY_FRACTION = 0.39
CONSTANT_FRACTION = 0.02
VERTICAL_FRACTION = 0.05  # of non-empty masks
FULL_FRACTION = 0.01  # of non-empty masks
# Coverage classes 0..10 of the non-empty masks of the real train set (class 0: tiny masks).
NONEMPTY_CLASS_WEIGHTS = np.array([372, 285, 201, 186, 172, 189, 172, 143, 132, 141, 143], dtype=float)

_Z, _X = np.mgrid[0:S, 0:S].astype(np.float64) / (S - 1)


def _ricker(peak_period: float) -> np.ndarray:
    t = np.arange(-3 * peak_period, 3 * peak_period + 1)
    a = (np.pi * t / peak_period) ** 2
    return (1 - 2 * a) * np.exp(-a)


def _smooth_field(rng: np.random.Generator, n_waves: int = 4, max_freq: float = 2.5) -> np.ndarray:
    """A smooth random field on the image grid, roughly in [-1, 1]."""
    field = np.zeros((S, S))
    for _ in range(n_waves):
        fz, fx = rng.uniform(-max_freq, max_freq, 2)
        field += np.cos(2 * np.pi * (fz * _Z + fx * _X) + rng.uniform(0, 2 * np.pi))
    return field / np.sqrt(n_waves)


def _layers(rng: np.random.Generator) -> np.ndarray:
    """Folded, dipping layered reflectors with lateral amplitude changes, unit scale."""
    length = 3 * S
    reflectivity = rng.normal(0, 0.25, length) + rng.choice([0, 1], length, p=[0.9, 0.1]) * rng.normal(0, 1.2, length)
    trace = np.convolve(reflectivity, _ricker(rng.uniform(3.5, 7.0)), mode="same")
    fold = rng.uniform(2, 14) * np.sin(2 * np.pi * (rng.uniform(0.2, 1.5) * _X + rng.uniform(0, 1)))
    fold *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * _Z + rng.uniform(0, 6.3))
    dip = rng.normal(0, 12) * _X
    z = _Z * (S - 1) + S + fold + dip + 4 * _smooth_field(rng, 3, 1.5)
    section = np.interp(z.ravel(), np.arange(length), trace).reshape(S, S)
    section *= 1 + 0.3 * _smooth_field(rng, 3, 1.0)
    return section / (section.std() + 1e-9)


def _salt_mask(rng: np.random.Generator, target: float, vertical: bool) -> np.ndarray:
    """A salt body covering exactly `target` of the image (up to ties), shaped like a dome or a flank."""
    if target >= 1.0:
        return np.ones((S, S), dtype=bool)
    if vertical:
        score = np.broadcast_to(rng.choice([-1, 1]) * _X[0] + 0.05 * rng.normal(size=S), (S, S))
    else:
        angle = rng.normal(0, 0.5)  # mostly salt below a top-of-salt surface; sometimes a flank
        score = np.cos(angle) * _Z + np.sin(angle) * _X
        score = score + rng.uniform(0.15, 0.45) * _smooth_field(rng, 4, 1.8)
    threshold = np.quantile(score, 1 - target)
    mask = score > threshold
    return np.ascontiguousarray(mask)


def _salt_section(rng: np.random.Generator, layers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Put a salt body into a layered section: chaotic weak interior, bright top, weaker base."""
    interior = cv2.GaussianBlur(rng.normal(0, 1, (S, S)), (0, 0), 1.2) * rng.uniform(0.25, 0.5)
    section = np.where(mask, interior, layers)
    m = mask.astype(np.float64)
    top = np.clip(m - np.vstack([m[:1], m[:-1]]), 0, None)  # salt pixels with sediment above
    base = np.clip(m - np.vstack([m[1:], m[-1:]]), 0, None)  # salt pixels with sediment below
    wavelet = _ricker(rng.uniform(2.0, 3.5))[:, None]
    reflector = cv2.filter2D(top, -1, wavelet) * rng.uniform(4.0, 6.0) - cv2.filter2D(base, -1, wavelet) * 1.2
    return section + cv2.GaussianBlur(reflector, (0, 0), 0.7)


def _to_uint8(rng: np.random.Generator, section: np.ndarray) -> np.ndarray:
    section = section + rng.normal(0, rng.uniform(0.05, 0.3), section.shape)
    gain = rng.uniform(18, 45)
    centre = rng.normal(125, 12)
    return np.clip(np.rint(centre + gain * section), 0, 255).astype(np.uint8)


def make_sample(rng: np.random.Generator, labelled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 (101,101), mask bool (101,101)) pair drawn with the TGS proportions."""
    if rng.random() < CONSTANT_FRACTION:
        value = 0 if rng.random() < 0.7 else int(rng.integers(1, 256))
        return np.full((S, S), value, dtype=np.uint8), np.zeros((S, S), dtype=bool)
    layers = _layers(rng)
    if rng.random() < EMPTY_FRACTION:
        return _to_uint8(rng, layers), np.zeros((S, S), dtype=bool)
    if rng.random() < FULL_FRACTION:
        target = 1.0
    else:
        c = rng.choice(11, p=NONEMPTY_CLASS_WEIGHTS / NONEMPTY_CLASS_WEIGHTS.sum())
        low, high = max(c - 0.5, 0.0) / 10, min(c + 0.5, 10.0) / 10
        target = float(np.clip(rng.uniform(low, high), 3 / S**2, 1 - 1 / S**2))
    mask = _salt_mask(rng, target, vertical=rng.random() < VERTICAL_FRACTION)
    return _to_uint8(rng, _salt_section(rng, layers, mask)), mask


def _new_ids(rng: np.random.Generator, n: int) -> list[str]:
    ids: set[str] = set()
    while len(ids) < n:
        ids.update(f"{v:010x}" for v in rng.integers(0, 16**10, n - len(ids)))
    return sorted(ids)


def _write_png(path: Path, array: np.ndarray) -> None:
    if not cv2.imwrite(str(path), array):
        raise OSError(f"could not write {path}")


def generate_demo_dataset(out: str | os.PathLike, n: int = 1000, n_test: int | None = None, seed: int = 0) -> Path:
    """Write a demo data set in the Kaggle layout to `out` (n train images, n_test test images).

    Written into a temporary sibling folder and renamed into place, so an interrupted run
    leaves no half data set. Refuses to overwrite a non-empty folder.
    """
    n_test = n // 2 if n_test is None else n_test
    rng = np.random.default_rng(seed)

    def samples(ids_train: list[str], ids_test: list[str]):
        train = [make_sample(rng) for _ in ids_train]
        test = [make_sample(rng)[0] for _ in ids_test]
        return train, test

    return _write_dataset(Path(out), rng, n, n_test, samples)


def make_section(rng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """One seismic section rows x cols tiles large (image uint8, mask bool): folded layers over a
    salt dome whose top is a smooth surface, one gain for the whole section (tiles cut from it
    continue into each other, as in the real data)."""
    h, w = rows * S, cols * S
    z, x = np.mgrid[0:h, 0:w].astype(np.float64)
    length = h + 4 * S
    reflectivity = rng.normal(0, 0.25, length) + rng.choice([0, 1], length, p=[0.9, 0.1]) * rng.normal(0, 1.2, length)
    trace = np.convolve(reflectivity, _ricker(rng.uniform(3.5, 7.0)), mode="same")
    fold = sum(
        rng.uniform(4, 16) * np.sin(2 * np.pi * x / rng.uniform(120, 500) + rng.uniform(0, 6.3)) for _ in range(2)
    )
    depth = z + 2 * S + fold + rng.normal(0, 0.08) * x
    layers = np.interp(depth.ravel(), np.arange(length), trace).reshape(h, w)
    layers /= layers.std() + 1e-9
    centre, width = rng.uniform(0.3, 0.7) * w, rng.uniform(0.25, 0.6) * w
    top = h * rng.uniform(0.55, 0.85) - h * rng.uniform(0.15, 0.35) * np.exp(-(((x[0] - centre) / width) ** 2))
    mask = z > top[None, :] + 3 * np.sin(x / 17.0)
    interior = cv2.GaussianBlur(rng.normal(0, 1, (h, w)), (0, 0), 2.5) * 1.2
    section = np.where(mask, interior, layers)
    edge = np.clip(mask.astype(np.float64) - np.vstack([mask[:1], mask[:-1]]), 0, None)
    section += cv2.GaussianBlur(cv2.filter2D(edge, -1, _ricker(2.5)[:, None]) * 5.0, (0, 0), 0.7)
    section += rng.normal(0, 0.03, section.shape)  # less noise than single demo images: seams stay matchable
    return np.clip(np.rint(rng.normal(125, 12) + rng.uniform(18, 45) * section), 0, 255).astype(np.uint8), mask


def generate_section_dataset(
    out: str | os.PathLike, n_sections: int = 2, rows: int = 4, cols: int = 5, test_fraction: float = 0.3, seed: int = 0
) -> Path:
    """A demo data set whose tiles are cut out of `n_sections` larger sections (rows x cols tiles
    each), shuffled over train and test: the Mosaic page can rebuild them, and tests know the true
    layout (`layout.csv` in the folder: id, section, row, col)."""
    rng = np.random.default_rng(seed)
    tiles = []  # (image, mask, section, row, col)
    for k in range(n_sections):
        image, mask = make_section(rng, rows, cols)
        for r in range(rows):
            for c in range(cols):
                cell = (slice(r * S, (r + 1) * S), slice(c * S, (c + 1) * S))
                tiles.append((image[cell], mask[cell], k, r, c))
    order = rng.permutation(len(tiles))
    n_test = int(round(test_fraction * len(tiles)))
    n = len(tiles) - n_test
    layout: list[tuple] = []

    def samples(ids_train: list[str], ids_test: list[str]):
        picked = [tiles[i] for i in order]
        layout.extend((id_, *t[2:]) for id_, t in zip(ids_train + ids_test, picked))
        return [(t[0], t[1]) for t in picked[:n]], [t[0] for t in picked[n:]]

    path = _write_dataset(Path(out), rng, n, n_test, samples)
    _write_csv(path / "layout.csv", ["id", "section", "row", "col"], sorted(layout))
    return path


def _write_dataset(out: Path, rng: np.random.Generator, n: int, n_test: int, samples) -> Path:
    """Write the Kaggle layout; samples(train_ids, test_ids) -> ([(image, mask)], [image])."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose another folder or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    usual_dir_permissions(tmp)
    try:
        for part in ("train/images", "train/masks", "test/images"):
            (tmp / part).mkdir(parents=True)
        ids = _new_ids(rng, n + n_test)
        order = rng.permutation(len(ids))
        train_ids = sorted(ids[i] for i in order[:n])
        test_ids = sorted(ids[i] for i in order[n:])
        depths = {id_: int(rng.integers(50, 960)) for id_ in ids}
        train, test = samples(train_ids, test_ids)
        masks = []
        for id_, (image, mask) in zip(train_ids, train):
            _write_png(tmp / "train/images" / f"{id_}.png", np.repeat(image[:, :, None], 3, axis=2))
            # The real set's quirk: non-empty masks are 16-bit {0, 65535}, empty ones 8-bit 0.
            _write_png(
                tmp / "train/masks" / f"{id_}.png",
                mask.astype(np.uint16) * 65535 if mask.any() else mask.astype(np.uint8),
            )
            masks.append(mask)
        for id_, image in zip(test_ids, test):
            _write_png(tmp / "test/images" / f"{id_}.png", np.repeat(image[:, :, None], 3, axis=2))
        rles = rle.encode_many(np.stack(masks)) if masks else []
        _write_csv(tmp / "train.csv", ["id", "rle_mask"], zip(train_ids, rles))
        _write_csv(tmp / "depths.csv", ["id", "z"], ((i, depths[i]) for i in ids))
        _write_csv(tmp / "sample_submission.csv", ["id", "rle_mask"], ((i, "1 1") for i in test_ids))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
