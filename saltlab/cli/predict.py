"""`predict`: the test images with one run or an ensemble, written as a submission CSV (and PNG masks).

Run by the Predict page as a background job too: `--status FILE` writes its progress there, and a
SIGTERM (the page's cancel) stops it cleanly with no CSV written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from saltlab.cli.common import EXIT_CANCELLED, EXIT_OK, progress_printer

HELP = "predict the test images with one run or an ensemble; write a submission CSV"
RECOVERS_QUEUE = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", nargs="+", type=Path, required=True, help="run folders (several: averaged)")
    p.add_argument("--data", help="data set folder with test images")
    p.add_argument("--out", type=Path, default=Path("submission.csv"))
    p.add_argument("--tta", action="store_true", help="horizontal-flip TTA")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="pixel threshold (default: the best of the runs' validation sweep when they were evaluated, else 0.5)",
    )
    p.add_argument("--min-size", dest="min_size", type=int, default=0)
    p.add_argument("--status", type=Path, help=argparse.SUPPRESS)  # progress file of a background job
    p.add_argument("--png-dir", dest="png_dir", type=Path, help="also write one PNG mask per test image here")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64)
    p.add_argument("--device", default="auto")


def _job(path: Path | None):
    """The background job's folder (status.json: saltlab.jobs.predict_jobs), started as running; None
    from the command line. A cancel from the Predict page (SIGTERM) becomes a KeyboardInterrupt."""
    if path is None:
        return None
    import signal

    from saltlab.runs.run_folder import RunFolder, process_start

    job = RunFolder(path.parent)
    job.write_status(
        state="running", pid=os.getpid(), pid_start=process_start(os.getpid()), message="loading", done=0, total=0
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    return job


def _threshold(args: argparse.Namespace) -> tuple[float, str]:
    from saltlab.inference.predict import suggested_threshold

    if args.threshold is not None:
        return args.threshold, "given"
    suggested = suggested_threshold([str(r) for r in args.runs], args.tta)
    threshold, source = suggested if suggested else (0.5, "the default; no run has a validation sweep yet")
    print(f"pixel threshold {threshold} ({source})", file=sys.stderr)
    return threshold, source


def _predict(args: argparse.Namespace, job, threshold: float):
    from saltlab.inference.predict import check_request, predict_test_set, write_outputs

    printer = progress_printer()

    def progress(stage: str, done: int, total: int) -> None:
        printer(stage, done, total)
        if job:
            job.write_status(message=stage, done=done, total=total)

    check_request(args.out, args.png_dir, args.threshold, args.batch_size, args.min_size)  # before any inference
    prediction = predict_test_set(
        [str(r) for r in args.runs],
        data=args.data,
        tta=args.tta,
        threshold=threshold,
        min_size=args.min_size,
        batch_size=args.batch_size,
        device=args.device,
        progress=progress,
    )
    progress("writing the CSV and the PNG masks", len(prediction.ids), len(prediction.ids))
    return prediction, write_outputs(prediction, args.out, args.png_dir)


def run(args: argparse.Namespace) -> int:
    from saltlab.core.definitions import is_empty

    job = _job(args.status)
    threshold, source = _threshold(args)
    try:
        prediction, path = _predict(args, job, threshold)
    except KeyboardInterrupt:
        if job:
            job.write_status(state="cancelled", message="cancelled; no CSV written")
        print("cancelled; no CSV written", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        if job:
            job.write_status(state="failed", error=str(exc))
        raise  # main() prints the known refusals as one line
    n, empty = len(prediction.ids), int(is_empty(prediction.masks).sum())
    if job:
        job.write_status(
            state="done",
            message="done",
            finished=time.time(),
            n_images=n,
            n_empty=empty,
            threshold=threshold,
            threshold_source=source,
        )
    print(
        f"wrote {path}: {n} test images ({empty} predicted empty) from {len(args.runs)} run(s)"
        + (" with hflip TTA" if args.tta else "")
        + f", threshold {threshold}"
        + (f"; masks in {args.png_dir}" if args.png_dir else "")
    )
    return EXIT_OK
