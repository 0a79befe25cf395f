"""RLE-encode every real train mask: the vectorised encoder vs per-pixel Python loops.

Two baselines, both measured in this run: the per-pixel loop that reads mask[row, col] for
every pixel in column-major order (the loop DESIGN.md timed; the target, at least 50x, is
against it), and a tighter loop over the flattened pixels, reported for honesty.
Run: .venv/bin/python bench/bench_rle.py
"""

from _common import best_of, real_data, report

from saltlab.dataset import load_dataset
from saltlab.rle import encode_many, encode_per_pixel


def per_pixel_indexing_encode(mask) -> str:
    h, w = mask.shape
    runs: list[int] = []
    prev = -2
    for c in range(w):
        for r in range(h):
            if mask[r, c]:
                i = c * h + r
                if i > prev + 1:
                    runs.extend((i + 1, 0))
                runs[-1] += 1
                prev = i
    return " ".join(map(str, runs))


def main() -> bool:
    masks = load_dataset(real_data()).train_masks
    ours = best_of(lambda: encode_many(masks), repeat=7)
    indexing = best_of(lambda: [per_pixel_indexing_encode(m) for m in masks], repeat=1)
    flattened = best_of(lambda: [encode_per_pixel(m) for m in masks], repeat=1)
    assert encode_many(masks[:300]) == [per_pixel_indexing_encode(m) for m in masks[:300]]
    report(f"RLE encode of {len(masks)} real masks vs a flattened-pixel loop", ours, flattened, 0)
    return report(f"RLE encode of {len(masks)} real masks vs the per-pixel indexing loop", ours, indexing, 50)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
