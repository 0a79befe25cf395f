"""`folds`: the K-fold split of the labelled images (a hash of each id), per fold and coverage class."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, data_args, error, load
from saltlab.core.folds import DEFAULT_FOLDS, DEFAULT_SEED

HELP = "the K folds of the labelled images (an image's fold is a hash of its id), per coverage class"


def add_arguments(p: argparse.ArgumentParser) -> None:
    data_args(p)
    p.add_argument("--n-folds", type=int, default=DEFAULT_FOLDS)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fold", type=int, default=None, help="show one fold's train/validation split")
    p.add_argument("--ids", action="store_true", help="with --fold: list the validation ids")
    p.add_argument("--out", type=Path, default=None, help="write id,coverage_class,fold as CSV")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from saltlab.core.folds import fold_table

    if args.n_folds < 2 or (args.fold is not None and not 0 <= args.fold < args.n_folds):
        return error(f"need --n-folds >= 2 and 0 <= --fold < {args.n_folds}")
    ds = load(args)
    if not ds.n_train:
        return error(f"{ds.root} has no labelled train images to split into folds")
    table = fold_table(ds, args.n_folds, args.seed)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.fold is not None:
        held = table[table["fold"] == args.fold]["id"]
        print(f"fold {args.fold}: {len(table) - len(held)} train, {len(held)} validation ids")
        if args.ids:
            print("\n".join(held))
        return EXIT_OK
    counts = pd.crosstab(table["fold"], table["coverage_class"])
    counts["total"] = counts.sum(axis=1)
    print(
        f"{args.n_folds} folds (seed {args.seed}; an image's fold is a hash of its id, so each coverage class is "
        "spread at random over the folds); images per fold and class:"
    )
    print(counts.to_string())
    return EXIT_OK
