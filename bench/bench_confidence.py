"""The Explorer's per-pixel confidence on a real run's validation images (issue 29: a threshold change
redraws in under 0.3 s): for one image, the outcome and score at a new threshold, the score-versus-
threshold curve (19 thresholds at once) and the uncertain band, against the obvious per-threshold loop
(the metric's own per-image reference called once per threshold). Needs a run evaluated on the real data.
Run: .venv/bin/python bench/bench_confidence.py RUN
"""

import sys
import time

import numpy as np
from _common import paired, report, spread

from saltlab.analysis.confidence import THRESHOLDS, at_threshold, band_overlay, score_curve, uncertain_share
from saltlab.analysis.explore import explore
from saltlab.core.metric import image_scores_per_image


def main(run: str) -> bool:
    ex = explore([run])
    name = ex.names[0]
    probs, truth, images = ex.probs[name], ex.truth, ex.images
    k = int(np.argmax(uncertain_share(probs)))  # the most uncertain image: the one a user looks at

    def ours():
        at_threshold(images[k], probs[k], truth[k], 0.65)
        band_overlay(images[k], probs[k])
        return score_curve(probs[k], truth[k])

    def loop():
        return [image_scores_per_image((probs[k] > t)[None], truth[k][None])[0] for t in THRESHOLDS]

    assert ours()["score"].tolist() == loop()
    ours_t, base_t = paired(ours, loop, repeat=20)
    report(f"one image's redraw at a new threshold ({len(THRESHOLDS)}-point curve, overlay, band)", ours_t, base_t, 0)
    start = time.perf_counter()
    shares = uncertain_share(probs)
    print(f"uncertainty of {len(shares)} images for the gallery order: {spread([time.perf_counter() - start])}")
    return max(ours_t) < 0.3


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("skipped: give a run evaluated on the real data (see the docstring)")
        raise SystemExit(0)
    raise SystemExit(0 if main(sys.argv[1]) else 1)
