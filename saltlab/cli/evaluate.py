"""`evaluate`: score a run's checkpoint on its validation fold (or a labelled set) and cache its predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, progress_printer

HELP = "score a run's checkpoint on its validation fold and cache its predictions"
RECOVERS_QUEUE = True
SHOWN = ("score", "score_empty", "score_oracle", "score_ungated", "mean_iou", "judge_accuracy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run folder (or a checkpoint file)")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a file name in the run folder")
    p.add_argument("--data", help="a labelled data set to score on instead (all its train images)")
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped prediction")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-cache", action="store_true", help="predict again even when cached")


def _print_scores(scores: dict) -> None:
    for note in scores.get("notes", []):
        print(f"  note: {note}")
    for key in SHOWN:
        if key in scores:
            print(f"  {key:<15} {scores[key]:.4f}")
    if "score_empty" in scores and scores["score"] <= scores["score_empty"]:
        print(
            f"  WORSE THAN PREDICTING NOTHING: {scores['score']:.4f} <= {scores['score_empty']:.4f}, the score of "
            "an all-empty prediction on the same images"
        )
    if "score_oracle" in scores:
        print(
            f"  gap: the oracle-gated score is {scores['score_oracle'] - scores['score']:+.4f} above the honest "
            "judge-gated score"
        )


def run(args: argparse.Namespace) -> int:
    from saltlab.inference.evaluate import evaluate_run

    result = evaluate_run(
        args.run,
        checkpoint=args.checkpoint,
        data=args.data,
        tta=args.tta,
        batch_size=args.batch_size,
        device=args.device,
        progress=progress_printer(),
        use_cache=not args.no_cache,
    )
    scores = result.scores
    if scores.get("imported"):
        print(f"imported predictions {result.checkpoint} scored on {scores['n_images']} images ({scores['subset']})")
        _print_scores(scores)
        return EXIT_OK
    print(
        f"{'cached ' if result.from_cache else ''}evaluation of {result.checkpoint} on {scores['n_images']} images "
        f"({scores['subset']}): "
        + (f"saved to {result.folder}" if (result.folder / "scores.json").is_file() else "not saved (see the note)")
    )
    _print_scores(scores)
    return EXIT_OK
