"""The competition metric over 4000 masks: vectorised vs a per-image Python loop, interleaved in this run.

Target: <= 50 ms for 4000 masks. Run: .venv/bin/python bench/bench_metric.py
"""

import statistics

import numpy as np
from _common import paired, report

from saltlab.core.metric import image_scores, image_scores_per_image


def main() -> bool:
    rng = np.random.default_rng(0)
    true = rng.random((4000, 101, 101)) < rng.random((4000, 1, 1))
    true[:1500] = False
    pred = true ^ (rng.random((4000, 101, 101)) < 0.05)
    ours, baseline = paired(lambda: image_scores(pred, true), lambda: image_scores_per_image(pred, true), repeat=3)
    median = statistics.median(ours)
    ok = report(
        "metric over 4000 masks vs a per-image loop", ours, baseline, 1, f"{median * 1000:.1f} ms (target <= 50 ms) "
    )
    return ok and median <= 0.05


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
