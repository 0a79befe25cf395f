"""`import`: predictions made elsewhere (a Kaggle CSV, a folder of PNGs, an .npz or .npy) as an entry
beside the runs, explored, scored and compared like a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_BAD_ITEMS, EXIT_OK

HELP = "import predictions made elsewhere (CSV, PNG folder, .npz/.npy) to explore and compare them"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="a CSV (id,rle_mask), a folder of PNGs named by id, an .npz or .npy")
    p.add_argument("--data", help="the labelled data set they predict (default: the default data set)")
    p.add_argument("--name", required=True, help="the entry's name (a folder under the runs root)")
    p.add_argument(
        "--held-out",
        dest="held_out",
        type=Path,
        help="a file of the image ids the predictions were made without seeing, one per line (out-of-fold); "
        "without it the entry says that it does not know, and every score of it says so",
    )
    p.add_argument("--kind", choices=("csv", "png", "npz", "npy"), help="the source's format (default: detected)")
    p.add_argument("--ids", type=Path, help="for an .npy: its ids in order, one per line")
    p.add_argument("--root", type=Path, help="folder of runs (default: $SALTLAB_CHECKPOINTS or checkpoints/)")


def _ids_in(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    from saltlab.runs.imported import import_predictions

    held_out = _ids_in(args.held_out) if args.held_out else None
    folder, record = import_predictions(
        args.source, args.data, args.name, args.root, held_out=held_out, kind=args.kind, ids_file=args.ids
    )
    for problem in record.problems:
        print(f"left out: {problem}")
    what = "masks (no probabilities)" if record.binary else "probabilities"
    scored = len(record.held_out_ids) if record.held_out_ids is not None else record.n_ids
    print(f"imported {record.n_ids} {what} from {record.format} as {folder}")
    held = "held out" if record.held_out == "listed" else "held-out images unknown: its model may have seen them"
    print(f"score {record.score:.4f} on {scored} images ({held}); all-empty score {record.score_empty:.4f}")
    return EXIT_BAD_ITEMS if record.problems else EXIT_OK
