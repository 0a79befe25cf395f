"""`import`: predictions made elsewhere (a Kaggle CSV, a folder of PNGs, an .npz or .npy), or an smp model
(a `save_pretrained` folder), as an entry beside the runs: explored, scored and compared like a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_BAD_ITEMS, EXIT_OK, error, progress_printer

HELP = "import predictions (CSV, PNG folder, .npz/.npy) or an smp model folder made elsewhere"
KINDS = ("csv", "png", "npz", "npy", "smp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        type=Path,
        help="a CSV (id,rle_mask), a folder of PNGs named by id, an .npz or .npy, "
        "or an smp save_pretrained folder (config.json + model.safetensors)",
    )
    p.add_argument("--data", help="the labelled data set they predict (default: the default data set)")
    p.add_argument("--name", required=True, help="the entry's name (a folder under the runs root)")
    held = p.add_mutually_exclusive_group()
    held.add_argument(
        "--held-out",
        dest="held_out",
        type=Path,
        help="a file of the image ids the predictions (or the "
        "model) never saw, one per line; without it the entry says that it does not know",
    )
    held.add_argument("--held-out-of", dest="held_out_of", type=Path, help="the validation images of this run")
    p.add_argument("--kind", choices=KINDS, help="the source's format (default: detected)")
    p.add_argument("--ids", type=Path, help="for an .npy: its ids in order, one per line")
    p.add_argument("--root", type=Path, help="folder of runs (default: $SALTLAB_CHECKPOINTS or checkpoints/)")
    model = p.add_argument_group("an smp model's input convention")
    model.add_argument("--channels", type=int, default=None, help="1 or 3 (default: the model's in_channels)")
    model.add_argument("--size", type=int, default=128, help="the side it was trained at: 101 or a multiple of 32")
    model.add_argument("--pad", default="reflect", help="how 101 became that size: reflect, replicate or resize")
    model.add_argument("--normalise", default="unit", help="unit ([0, 1]), imagenet (mean/std) or raw (0-255)")


def _held_out(args: argparse.Namespace) -> list[str] | None:
    from saltlab.runs.imported import validation_ids_of

    if args.held_out_of:
        return validation_ids_of(args.held_out_of)
    if args.held_out:
        return [line.strip() for line in args.held_out.read_text().splitlines() if line.strip()]
    return None


def _import_model(args: argparse.Namespace, held_out: list[str] | None) -> int:
    from saltlab.core.fileio import read_json
    from saltlab.inference.evaluate import evaluate_run
    from saltlab.models.imported_smp import InputConvention
    from saltlab.runs.imported import import_model

    channels = args.channels or int(read_json(args.source / "config.json").get("in_channels", 1))
    convention = InputConvention(channels, args.size, args.pad, args.normalise)
    folder, record = import_model(args.source, args.data, args.name, convention, args.root, held_out=held_out)
    for problem in record.problems:
        print(f"left out: {problem}")
    print(f"imported the smp model {args.source} as {folder} ({convention.as_dict()})")
    scores = evaluate_run(folder, progress=progress_printer()).scores
    print(
        f"score {scores['score']:.4f} on {scores['n_images']} images ({scores['subset']}); all-empty score "
        f"{scores['score_empty']:.4f}"
    )
    for note in scores["notes"]:
        print(f"note: {note}")
    return EXIT_BAD_ITEMS if record.problems else EXIT_OK


def run(args: argparse.Namespace) -> int:
    from saltlab.runs.imported import import_predictions, is_model_folder

    held_out = _held_out(args)
    if args.kind == "smp" or (args.kind is None and is_model_folder(args.source)):
        return _import_model(args, held_out)
    if args.ids and args.kind not in (None, "npy"):
        return error("--ids is for an .npy source only")
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
