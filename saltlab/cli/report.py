"""`report`: one self-contained HTML file (images embedded, no server, no network) about one or more runs on
their common validation images: scores beside the all-empty line, buckets, coverage classes, error slices,
the worst images and, for several runs, where they disagree."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, progress_printer

HELP = "a self-contained HTML report of one or more runs (scores, buckets, slices, worst images)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders (or imported entries)")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.add_argument("--tta", action="store_true", help="evaluate with hflip TTA")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--min-component", dest="min_component", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from saltlab.analysis.explore import explore
    from saltlab.analysis.report import html_report
    from saltlab.analysis.summaries import PostProcess
    from saltlab.core.fileio import write_text_atomic

    ex = explore(args.runs, tta=args.tta, progress=progress_printer())
    page = html_report(ex, PostProcess(args.threshold, args.min_component))
    write_text_atomic(args.out, page)
    print(f"wrote {args.out} ({len(page) / 1e6:.1f} MB, {len(ex.ids)} images, {', '.join(ex.names)})")
    return EXIT_OK
