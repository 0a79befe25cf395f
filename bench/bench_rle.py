"""RLE-encode every real train mask: ours (`encode_many`) vs the numpy encoder of the Kaggle kernels.

The baseline is what competitors used (flatten in column order, pad with zeros, `np.diff`-style
comparison, `np.where`, runs from the change points, one string per mask); both must give the same
strings. Ours encodes all masks in one vectorised pass. The per-pixel loop DESIGN.md timed is
printed too, for reference. Interleaved repeats, median and spread. Run: .venv/bin/python bench/bench_rle.py
"""

import numpy as np
from _common import paired, real_data, report

from saltlab.core.dataset import load_dataset
from saltlab.core.rle import encode_many, encode_per_pixel


def kaggle_numpy_encode(mask: np.ndarray) -> str:
    """The usual kernel's rle_encode."""
    pixels = np.concatenate([[0], mask.flatten(order="F"), [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


def main() -> bool:
    masks = load_dataset(real_data()).train_masks
    assert encode_many(masks) == [kaggle_numpy_encode(m) for m in masks]
    ours, numpy_kernel = paired(lambda: encode_many(masks), lambda: [kaggle_numpy_encode(m) for m in masks], repeat=5)
    report(f"RLE encode of {len(masks)} real masks vs the Kaggle kernels' numpy encoder", ours, numpy_kernel, 0)
    ours_again, per_pixel = paired(lambda: encode_many(masks), lambda: [encode_per_pixel(m) for m in masks], repeat=3)
    report(f"RLE encode of {len(masks)} real masks vs a per-pixel Python loop", ours_again, per_pixel, 0)
    return True  # no target: the ratio is reported as it is (issue 12)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
