"""`similar`: the validation images most like one image, by a run's encoder features."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, error, progress_printer

HELP = "the validation images most like one image, by a run's encoder features"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--id", required=True, help="one of the run's validation images")
    p.add_argument("--k", type=int, default=8, help="how many (default 8)")
    p.add_argument("--checkpoint", default="best", help="best (default), swa, last or a file name in the run")


def run(args: argparse.Namespace) -> int:
    from saltlab.analysis.explore import explore
    from saltlab.analysis.similar import nearest

    ex = explore([str(args.run)], checkpoint=args.checkpoint, progress=progress_printer())
    if args.id not in ex.ids:
        return error(f"{args.id}: not a validation image of {args.run} ({len(ex.ids)} of them)")
    name = ex.names[0]
    unit = ex.embeddings(name, progress=progress_printer())
    table = ex.view().table
    at = ex.ids.index(args.id)
    found, similarity = nearest(unit, at, args.k)
    scores = table[f"score {name}"].to_numpy()
    coverage = table["coverage"].to_numpy()
    print(f"{args.id}: score {scores[at]:.2f}, coverage {coverage[at]:.3f}; most alike by {name}'s features:")
    for j, sim in zip(found, similarity):
        print(f"  {ex.ids[j]}  similarity {sim:.3f}  score {scores[j]:.2f}  coverage {coverage[j]:.3f}")
    return EXIT_OK
