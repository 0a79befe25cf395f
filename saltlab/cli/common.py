"""What every command shares: exit codes, the progress printer, the data set argument and its loader."""

from __future__ import annotations

import argparse
import sys

# Exit codes (README, "The command line"): 0 done; 1 the data set loaded but some items are bad; 2 an input that
# cannot be used (SaltLabError: the message names it); 3 a training run failed; 130 cancelled.
EXIT_OK, EXIT_BAD_ITEMS, EXIT_USAGE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2, 3, 130


def progress_printer():
    """Progress of a first (uncached) load on stderr: a live line on a terminal, else one line per part."""
    tty = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if tty:
            width = 30
            filled = int(width * done / max(total, 1))
            end = "\n" if done == total else ""
            print(
                f"\r  {stage:<13} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                end=end,
                file=sys.stderr,
                flush=True,
            )
        elif done == total:
            print(f"  {stage}: {total} done", file=sys.stderr)

    return report


def data_args(p: argparse.ArgumentParser) -> None:
    """The optional data set folder and --no-cache, as every data command takes them."""
    p.add_argument("data", nargs="?", help="data set folder (default: $SALTLAB_DATA, else data/tgs, else the demo set)")
    p.add_argument("--no-cache", action="store_true", help="decode every file again instead of using the cache")


def load(args: argparse.Namespace):
    """The data set that `data_args` named, with the progress of a first load on stderr."""
    from saltlab.core.dataset import load_dataset

    return load_dataset(args.data, use_cache=not args.no_cache, progress=progress_printer())


def error(message: str) -> int:
    """One line on stderr; the usage exit code."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
