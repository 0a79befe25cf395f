"""`slices`: where a run fails, in words (the error slices of saltlab.analysis.slices); with two runs, where
each beats the other most."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, progress_printer

HELP = "where a run does worst, in words (error slices); with two runs, where each beats the other"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="one or two run folders (or imported entries)")
    p.add_argument("--top", type=int, default=5, help="slices listed (default 5)")
    p.add_argument("--min-size", dest="min_size", type=int, default=20, help="images a slice holds at least")
    p.add_argument("--tta", action="store_true", help="evaluate with hflip TTA")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--min-component", dest="min_component", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from saltlab.analysis.explore import explore
    from saltlab.analysis.slices import explored_slices, slices_table
    from saltlab.analysis.summaries import PostProcess
    from saltlab.cli.common import error

    if len(args.runs) > 2:
        return error("give one run (where it fails) or two (where each beats the other)")
    ex = explore(args.runs, tta=args.tta, progress=progress_printer())
    options = PostProcess(args.threshold, args.min_component)
    summaries = ex.view(options).summaries
    print(f"{len(ex.ids)} validation images; all-empty score {summaries[0].empty_score:.4f}")
    for note in ex.notes:
        print(f"note: {note}")
    pairs = [(n, None) for n in ex.names] if len(ex.names) == 1 else [(ex.names[1], ex.names[0]), tuple(ex.names)]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 70):
        for name, against in pairs:
            found, what = explored_slices(ex, options, name, against, args.top, args.min_size)
            score = next(s.score for s in summaries if s.name == name)
            title = (
                f"where {name} does worst (score {score:.4f} overall)"
                if against is None
                else (f"where {name} beats {against} most")
            )
            print(f"\n{title}:")
            print(slices_table(found, what).to_string(index=False) if found else "  no slice stands out")
    return EXIT_OK
