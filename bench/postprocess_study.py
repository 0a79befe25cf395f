"""Where a recipe loses its score, and whether post-processing wins it back, tuned across folds.

Reads the evaluated validation probabilities of run folders (RUN/eval/<key>/predictions.npz, written
by `saltlab evaluate`), named VARIANT-fK. For each: the score, how many empty images got a mask
(false positives), how many salt images got none (missed), the mean score on the salt images, and
the score with an oracle empty/non-empty gate. Then a threshold x minimum-area rule (a mask of
fewer pixels is dropped) tuned on one fold and applied to the other, so no number is tuned on the
images it scores. Not a speed benchmark: a study (results/experiments.md, 2026-11-27).

Run: .venv/bin/python bench/postprocess_study.py [--data ../shared/data/tgs] RUN_FOLDER...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import REAL_DATA

from saltlab.core.dataset import load_dataset
from saltlab.core.metric import image_scores
from saltlab.core.scoring import masks_from_probs

THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
MIN_AREAS = (0, 10, 20, 40, 80, 120, 160)


def gated_score(probs: np.ndarray, truth: np.ndarray, threshold: float, min_area: int) -> float:
    masks = masks_from_probs(probs, None, threshold, 0)
    masks[masks.reshape(len(masks), -1).sum(1) < min_area] = 0
    return float(image_scores(masks, truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    ds = load_dataset(Path(args.data))
    found: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for run in args.runs:
        for npz in sorted(run.glob("eval/*/predictions.npz")):
            scored = json.loads((npz.parent / "scores.json").read_text())
            checkpoint = Path(scored["checkpoint"]).stem + ("+tta" if scored.get("tta") else "")
            with np.load(npz, allow_pickle=False) as z:
                ids, probs = z["ids"].tolist(), z["probs"].astype(np.float32) / 255.0
            found[(run.name, checkpoint)] = (probs, ds.train_masks[ds.train_index(ids)])
    print(f"{'run':<24} {'checkpoint':<10} {'score':>6} {'FP empty':>8} {'missed':>6} {'salt mean':>9} {'oracle':>6}")
    for (run, checkpoint), (probs, truth) in found.items():
        empty = truth.reshape(len(truth), -1).sum(1) == 0
        masks = masks_from_probs(probs, None, 0.5, 0)
        said_empty = masks.reshape(len(masks), -1).sum(1) == 0
        scores = image_scores(masks, truth)
        oracle = np.where(empty, 1.0, np.where(said_empty, 0.0, scores)).mean()
        print(
            f"{run:<24} {checkpoint:<10} {scores.mean():6.4f} {np.sum(~said_empty & empty):>8} "
            f"{np.sum(said_empty & ~empty):>6} {scores[~empty].mean():9.3f} {oracle:6.4f}"
        )
    print("\nthreshold x minimum area, tuned on the other fold (K: score at 0.5/0 -> with the other fold's best rule)")
    for run, checkpoint in sorted(found):
        variant, fold = run.rsplit("-f", 1)
        other = next(
            (k for k in found if k[1] == checkpoint and k[0].rsplit("-f", 1)[0] == variant and k != (run, checkpoint)),
            None,
        )
        if other is None:
            continue
        grid = {(t, a): gated_score(*found[other], t, a) for t in THRESHOLDS for a in MIN_AREAS}
        rule = max(grid, key=grid.get)
        print(
            f"{run:<24} {checkpoint:<10} {gated_score(*found[(run, checkpoint)], 0.5, 0):.4f} -> "
            f"{gated_score(*found[(run, checkpoint)], *rule):.4f} (rule from {other[0]}: threshold {rule[0]}, "
            f"masks under {rule[1]} px dropped)"
        )


if __name__ == "__main__":
    main()
