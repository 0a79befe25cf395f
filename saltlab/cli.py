"""Command line: `python -m saltlab {info,demo-data,folds} ...`.

Exit codes: 0 success; 1 the data set loaded but some items are bad (reported, left out);
2 bad usage or a path that is not a data set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_ITEMS, EXIT_USAGE = 0, 1, 2


def _progress_printer():
    """Progress of a first (uncached) load on stderr: a live line on a terminal, else one line per part."""
    tty = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if tty:
            width = 30
            filled = int(width * done / max(total, 1))
            end = "\n" if done == total else ""
            print(f"\r  {stage:<13} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True)
        elif done == total:
            print(f"  {stage}: {total} files decoded", file=sys.stderr)

    return report


def _load(args: argparse.Namespace):
    from saltlab.dataset import load_dataset

    return load_dataset(args.data, use_cache=not args.no_cache, progress=_progress_printer())


def _print_summary(info: dict, ds) -> None:
    print(f"data set      {info['root']}")
    print(f"images        {info['n_train']} train, {info['n_test']} test")
    if info["n_train"]:
        print(f"empty masks   {info['empty_masks']} ({100 * info['empty_fraction']:.1f}%)")
        print(f"vertical      {info['vertical_masks']}")
        print(f"full masks    {info['full_masks']}")
    print(f"constant img  {info['constant_images_train']} train, {info['constant_images_test']} test")
    if info["n_train"]:
        counts = info["coverage_class_counts"]
        print("coverage cls  " + "  ".join(f"{c}:{n}" for c, n in enumerate(counts)))
    if info["depth_min"] is not None:
        print(f"depth         {info['depth_min']:.0f}..{info['depth_max']:.0f}" + (f" ({info['depth_unknown']} unknown)" if info["depth_unknown"] else ""))
    print(f"health        {ds.health.describe()}" + (" (from cache)" if ds.from_cache else ""))


def _print_health(ds, limit: int) -> None:
    issues = ds.health.issues
    for issue in issues[:limit]:
        where = f"{issue.split}/{issue.id}" if issue.id else (issue.split or "-")
        print(f"  {issue.severity:<7} {where:<20} {issue.file}: {issue.reason}")
    if len(issues) > limit:
        print(f"  ... {len(issues) - limit} more (use --max-issues)")


def cmd_info(args: argparse.Namespace) -> int:
    from saltlab.table import summary

    ds = _load(args)
    info = summary(ds)
    if args.json:
        info["issues"] = ds.health.to_records()
        info["from_cache"] = ds.from_cache
        print(json.dumps(info, indent=2))
    else:
        _print_summary(info, ds)
        _print_health(ds, args.max_issues)
    return EXIT_BAD_ITEMS if ds.health.errors else EXIT_OK


def cmd_demo_data(args: argparse.Namespace) -> int:
    from saltlab.demo import generate_demo_dataset

    if args.n < 1 or (args.n_test is not None and args.n_test < 0):
        print("error: --n must be at least 1 and --n-test at least 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        out = generate_demo_dataset(args.out, n=args.n, n_test=args.n_test, seed=args.seed)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    n_test = args.n // 2 if args.n_test is None else args.n_test
    print(f"wrote a demo data set to {out}: {args.n} train, {n_test} test images (seed {args.seed})")
    return EXIT_OK


def cmd_folds(args: argparse.Namespace) -> int:
    import pandas as pd

    from saltlab.folds import fold_table

    if args.n_folds < 2 or (args.fold is not None and not 0 <= args.fold < args.n_folds):
        print(f"error: need --n-folds >= 2 and 0 <= --fold < {args.n_folds}", file=sys.stderr)
        return EXIT_USAGE
    ds = _load(args)
    if not ds.n_train:
        print(f"error: {ds.root} has no labelled train images to split into folds", file=sys.stderr)
        return EXIT_USAGE
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
    print(f"{args.n_folds} folds stratified on coverage class (seed {args.seed}); images per fold and class:")
    print(counts.to_string())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from saltlab import __version__

    parser = argparse.ArgumentParser(prog="python -m saltlab", description="SaltLab: TGS salt segmentation workbench.")
    parser.add_argument("--version", action="version", version=f"saltlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("data", nargs="?", help="data set folder (default: $SALTLAB_DATA, else data/tgs, else the demo set)")
        p.add_argument("--no-cache", action="store_true", help="decode every file again instead of using the cache")

    p = sub.add_parser("info", help="summary and health report of a data set")
    data_args(p)
    p.add_argument("--json", action="store_true", help="print the summary and every issue as JSON")
    p.add_argument("--max-issues", type=int, default=50, help="issues to list (default 50)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo-data", help="generate a synthetic data set in the Kaggle layout")
    p.add_argument("out", help="folder to create (must not exist or be empty)")
    p.add_argument("--n", type=int, default=1000, help="train images (default 1000)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default n/2)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo_data)

    from saltlab.folds import DEFAULT_FOLDS, DEFAULT_SEED

    p = sub.add_parser("folds", help="stratified K-fold split on coverage class")
    data_args(p)
    p.add_argument("--n-folds", type=int, default=DEFAULT_FOLDS)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fold", type=int, default=None, help="show one fold's train/validation split")
    p.add_argument("--ids", action="store_true", help="with --fold: list the validation ids")
    p.add_argument("--out", type=Path, default=None, help="write id,coverage_class,fold as CSV")
    p.set_defaults(func=cmd_folds)
    return parser


def main(argv: list[str] | None = None) -> int:
    from saltlab.sources import DataSetError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DataSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
