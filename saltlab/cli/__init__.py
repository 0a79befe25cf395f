"""Command line: `python -m saltlab COMMAND ...`, one module per command.

Commands: info, demo-data, folds, mosaic, similar, slices, suspects, train, evaluate, compare, report, predict,
import, export, queue-watch, runs. Each module has HELP, `add_arguments(parser)` and `run(args) -> exit code`; the
parser is built from them. Exit codes (saltlab.cli.common): 0 done; 1 the data set loaded but some
items are bad (reported, left out); 2 an input that cannot be used, named in one line; 3 a training
run failed; 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

from saltlab.cli import (
    compare,
    demo_data,
    evaluate,
    export,
    folds,
    import_predictions,
    info,
    mosaic,
    predict,
    queue_watch,
    report,
    runs,
    similar,
    slices,
    suspects,
    train,
)
from saltlab.cli.common import EXIT_USAGE

COMMANDS: dict[str, ModuleType] = {
    "info": info,
    "demo-data": demo_data,
    "folds": folds,
    "mosaic": mosaic,
    "similar": similar,
    "slices": slices,
    "suspects": suspects,
    "train": train,
    "evaluate": evaluate,
    "compare": compare,
    "report": report,
    "predict": predict,
    "import": import_predictions,
    "export": export,
    "queue-watch": queue_watch,
    "runs": runs,
}


def build_parser() -> argparse.ArgumentParser:
    from saltlab import __version__

    parser = argparse.ArgumentParser(prog="python -m saltlab", description="SaltLab: TGS salt segmentation workbench.")
    parser.add_argument("--version", action="version", version=f"saltlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=(module.__doc__ or "").strip().split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(command_module=module)
    return parser


def _recover_queue(root: Path | None) -> None:
    """Runs whose trainer died with its watcher (a reboot, the OOM killer) are marked, and the queue moves on."""
    from saltlab.jobs.launcher import recover

    try:
        for run in recover(root):
            print(f"note: {run.path.name} had died without a word; marked failed (resume it to go on)", file=sys.stderr)
    except OSError as exc:  # an unwritable runs folder: the command itself may still work
        print(f"note: the queue could not be checked ({exc})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from saltlab.core.errors import SaltLabError

    args = build_parser().parse_args(argv)
    module = args.command_module
    if getattr(module, "RECOVERS_QUEUE", False) and not getattr(args, "resume", None):
        _recover_queue(getattr(args, "root", None))
    try:
        return module.run(args)
    except SaltLabError as exc:  # the item and the reason, in one line
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, FileExistsError) as exc:  # a path given on the command line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
