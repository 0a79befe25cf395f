"""The explorer's numbers from cached predictions: every table and chart for 400 images, and a
gallery of 48 outcome overlays, against a straightforward per-image Python loop in the same run.

Targets: all numbers for 400 images (two models) < 1 s; 48 overlays drawn as one picture < 0.5 s
(its baseline, 48 separate PNGs, is reported without a ratio target).
Run: .venv/bin/python bench/bench_explorer.py
"""

import statistics

import numpy as np
from _common import paired, real_data, report

from saltlab.analysis import summaries as analysis
from saltlab.analysis.render import mosaic, outcome_overlay
from saltlab.core.dataset import load_dataset
from saltlab.core.metric import image_scores_per_image


def all_numbers(probs, judge, truth, images, depths):
    options = analysis.PostProcess(threshold=0.5, min_size=10)
    preds = {
        "A": analysis.predicted_masks(probs["A"], None, options),
        "B": analysis.predicted_masks(probs["B"], judge, options),
    }
    summaries = [analysis.summarize(n, probs[n], judge if n == "B" else None, truth, options) for n in ("A", "B")]
    analysis.bucket_table(summaries)
    table = analysis.per_image_table([str(i) for i in range(len(truth))], truth, images, depths, preds)
    analysis.bucket_transitions(table["score A"], table["score B"])
    analysis.where_beats(table, "A", "B")
    analysis.where_beats(table, "B", "A")
    for name in ("A", "B"):
        analysis.error_heatmap(preds[name], truth)
        analysis.central_crop_scores(preds[name], truth)
        analysis.score_by_group(table[f"score {name}"].to_numpy(), table["coverage_class"].to_numpy(), "coverage_class")
        analysis.score_by_group(table[f"score {name}"].to_numpy(), analysis.depth_bands(depths), "depth")
        analysis.threshold_sweep(probs[name], judge if name == "B" else None, truth, min_size=10)


def naive_numbers(probs, truth, thresholds, min_size=10):
    """The notebook way: the threshold sweep (the bulk of the work) image by image in Python."""
    import cv2

    for name in probs:
        for t in thresholds:
            masks = []
            for p in probs[name]:
                m = (p > t).astype(np.uint8)
                n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
                for k in range(1, n):
                    if stats[k, cv2.CC_STAT_AREA] < min_size:
                        m[labels == k] = 0
                masks.append(m.astype(bool))
            image_scores_per_image(masks, truth)


def main() -> bool:
    ds = load_dataset(real_data())
    rng = np.random.default_rng(0)
    idx = rng.choice(ds.n_train, 400, replace=False)
    truth, images, depths = ds.train_masks[idx], ds.train_images[idx], ds.train_depths[idx]

    def smooth_prediction(noise: float) -> np.ndarray:
        """Network-like probabilities: the truth plus spatially smooth noise (not salt-and-pepper)."""
        import cv2

        raw = truth.astype(np.float32) + rng.normal(0, noise, truth.shape).astype(np.float32)
        return np.clip(np.stack([cv2.GaussianBlur(r, (0, 0), 2.0) for r in raw]), 0, 1)

    probs = {"A": smooth_prediction(0.8), "B": smooth_prediction(1.2)}
    judge = rng.random(400)
    # Baseline: only the threshold sweep (13 thresholds x 2 models, min component 10 px), image by image.
    ours, baseline = paired(
        lambda: all_numbers(probs, judge, truth, images, depths),
        lambda: naive_numbers(probs, truth, np.round(np.arange(0.2, 0.81, 0.05), 2)),
        repeat=3,
    )
    ours_s = statistics.median(ours)
    ok_numbers = report(
        "explorer numbers for 400 images, 2 models (all tables and charts) vs the sweep alone image by image",
        ours,
        baseline,
        1,
        f"{ours_s:.3f} s (target < 1 s) ",
    )
    pred = probs["B"][:48] > 0.5

    import cv2

    def gallery():
        """One picture for the page: overlays, mosaic, one PNG encode."""
        picture = mosaic(
            [outcome_overlay(images[i], pred[i], truth[i]) for i in range(48)],
            12,
            [str(i + 1) for i in range(48)],
            scale=2,
        )
        return cv2.imencode(".png", picture)[1]

    def gallery_per_image():
        """One element per image, as a page drawing each thumbnail by itself would: 48 enlarged PNGs."""
        return [
            cv2.imencode(
                ".png",
                cv2.resize(
                    outcome_overlay(images[i], pred[i], truth[i]), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST
                ),
            )[1]
            for i in range(48)
        ]

    ours_g, base_g = paired(gallery, gallery_per_image, repeat=5)
    gallery_s = statistics.median(ours_g)
    ok_gallery = report(
        "gallery of 48 outcome overlays as one PNG vs 48 PNGs",
        ours_g,
        base_g,
        0,
        f"{gallery_s:.3f} s (target < 0.5 s) ",
    )
    return ok_numbers and ok_gallery and ours_s < 1 and gallery_s < 0.5


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
