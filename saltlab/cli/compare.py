"""`compare`: runs image by image on their validation fold (one run: its full report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, progress_printer

HELP = "compare runs image by image on their validation fold (one run: its full report)"
RECOVERS_QUEUE = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--tta", action="store_true", help="horizontal-flip TTA")
    p.add_argument("--threshold", type=float, default=0.5, help="pixel threshold (default 0.5)")
    p.add_argument(
        "--min-size", dest="min_size", type=int, default=0, help="drop components smaller than this (pixels)"
    )
    p.add_argument("--no-judge", action="store_true", help="do not gate masks with the judge (judge models)")
    p.add_argument("--data", help="a labelled data set to compare on instead")
    p.add_argument(
        "--rules",
        action="store_true",
        help="also score the mosaic's neighbour rules (constant image: no salt; a vertical mask continues below)",
    )


def run(args: argparse.Namespace) -> int:
    from saltlab.analysis.explore import explore, report
    from saltlab.analysis.summaries import PostProcess

    ex = explore(
        [str(r) for r in args.runs],
        checkpoint=args.checkpoint,
        tta=args.tta,
        data=args.data,
        progress=progress_printer(),
    )
    options = PostProcess(args.threshold, args.min_size, not args.no_judge)
    print(report(ex, options))
    if args.rules:
        for name in ex.names:
            print(f"\nneighbour rules (mosaic) on {name}, scored on its {len(ex.ids)} validation images:")
            print(ex.rules(name, options).to_string(index=False))
    return EXIT_OK
