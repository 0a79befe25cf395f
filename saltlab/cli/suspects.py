"""`suspects`: rank labelled images by how confidently out-of-fold predictions contradict their label;
mark or unmark them (training can leave marked images out)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from saltlab.cli.common import EXIT_OK, error, load, progress_printer

HELP = "rank labelled images by how confidently out-of-fold predictions disagree with their label"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", type=Path, help="run folders whose validation folds cover the images")
    p.add_argument("--tta", action="store_true", help="hflip TTA for the predictions")
    p.add_argument("--top", type=int, default=20, help="images to list (default 20)")
    p.add_argument("--out", type=Path, default=None, help="write the whole ranking as CSV")
    p.add_argument("--data", default=None, help="with --mark / --unmark: the data set (default: the default one)")
    p.add_argument("--mark", nargs="+", metavar="ID", help="mark images as suspect labels (train --exclude-suspects)")
    p.add_argument("--unmark", nargs="+", metavar="ID", help="remove the mark")
    p.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)


def _mark(args: argparse.Namespace) -> int:
    from saltlab.core.dataset import load_dataset
    from saltlab.core.suspect_marks import marked, set_marked

    ds = load(args) if args.data else load_dataset(None)
    for id_ in args.mark or []:
        set_marked(ds, id_, reason="marked on the command line")
    for id_ in args.unmark or []:
        set_marked(ds, id_, mark=False)
    marks = marked(ds)
    print(f"{len(marks)} images of {ds.root} marked as suspect labels" + (": " + " ".join(marks) if marks else ""))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.mark or args.unmark:
        return _mark(args)
    if not args.runs:
        return error("give the runs whose validation folds cover the images (e.g. one per fold)")
    from saltlab.analysis.suspects import out_of_fold, rank_labels

    oof = out_of_fold(args.runs, tta=args.tta, progress=progress_printer())
    start = time.perf_counter()
    table = rank_labels(oof)
    took = time.perf_counter() - start
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"{len(table)} labelled images ranked from out-of-fold predictions in {took:.2f} s (most suspicious first):")
    for row in table.head(args.top).itertuples(index=False):
        print(f"  {row.id}  disagreement {row.disagreement:.3f}  quality {row.quality:.3f}  {row.reason}  [{row.run}]")
    if args.out:
        print(f"wrote {args.out}")
    return EXIT_OK
