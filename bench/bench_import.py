"""Importing 3,500 predictions of the real train images (the 3,499 labelled here; issue 28): ours
(`read_predictions`, every item checked: id known and once, size, RLE, range) against the bare loop a
user would write otherwise, reading the same files with no checks: pandas `read_csv` and the Kaggle
kernels' numpy `rle_decode` for the CSV, `cv2.imread` per file for a folder of 8-bit probability PNGs.
Both must give the same arrays. Interleaved repeats, median and spread.
Run: .venv/bin/python bench/bench_import.py
"""

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from _common import paired, real_data, report

from saltlab.core.dataset import load_dataset
from saltlab.core.prediction_files import read_predictions
from saltlab.core.rle import encode_many

N = 3500


def kaggle_rle_decode(rle: str, shape=(101, 101)) -> np.ndarray:
    """The usual kernel's rle_decode (column-major runs, 1-indexed starts)."""
    img = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    if isinstance(rle, str) and rle.strip():
        s = rle.split()
        starts, lengths = [np.asarray(x, dtype=int) for x in (s[0::2], s[1::2])]
        for lo, hi in zip(starts - 1, starts - 1 + lengths):
            img[lo:hi] = 1
    return img.reshape(shape, order="F")


def bare_csv(path: Path) -> tuple[list[str], np.ndarray]:
    table = pd.read_csv(path)
    return table["id"].tolist(), np.stack([kaggle_rle_decode(r) for r in table["rle_mask"]]) * 255


def bare_pngs(folder: Path) -> tuple[list[str], np.ndarray]:
    files = sorted(folder.glob("*.png"))
    return [f.stem for f in files], np.stack([cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files])


def write_sources(folder: Path, ids: list[str], masks: np.ndarray) -> tuple[Path, Path]:
    csv = folder / "predictions.csv"
    csv.write_text("id,rle_mask\n" + "".join(f"{i},{r}\n" for i, r in zip(ids, encode_many(masks))))
    pngs = folder / "pngs"
    pngs.mkdir()
    rng = np.random.default_rng(0)
    for id_, m in zip(ids, masks):  # probabilities: the mask softened by noise, not 0/255 only
        cv2.imwrite(
            str(pngs / f"{id_}.png"), np.clip(m * 200.0 + rng.integers(0, 50, m.shape), 0, 255).astype(np.uint8)
        )
    return csv, pngs


def main() -> bool:
    ds = load_dataset(real_data())
    ids, masks, known = ds.train_ids[:N], ds.train_masks[:N], set(ds.train_ids)
    with tempfile.TemporaryDirectory() as tmp:
        csv, pngs = write_sources(Path(tmp), ids, masks)
        for source, bare in ((csv, bare_csv), (pngs, bare_pngs)):
            ours_read, bare_read = read_predictions(source, known), bare(source)
            order = np.argsort(ours_read.ids)
            assert not ours_read.problems and sorted(ours_read.ids) == sorted(bare_read[0])
            np.testing.assert_array_equal(ours_read.probs[order], bare_read[1][np.argsort(bare_read[0])])
            ours, baseline = paired(lambda: read_predictions(source, known), lambda: bare(source), repeat=3)
            kind = "CSV (RLE)" if source == csv else "folder of 8-bit PNGs"
            report(
                f"import {len(ids)} real predictions from a {kind}, checked, vs a bare unchecked loop",
                ours,
                baseline,
                0,
            )
    return True  # no target: the ratio is reported as it is


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
