"""`runs`: list the training runs (newest first) and their state; delete or archive one."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK, error

HELP = "list training runs (newest first) and their state; delete or archive one"
RECOVERS_QUEUE = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, help="folder of runs (default: $SALTLAB_CHECKPOINTS or checkpoints/)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--delete", metavar="RUN", help="delete a run folder (refused while it runs)")
    group.add_argument("--archive", metavar="RUN", help="move a run folder to ROOT/.archive/ (refused while it runs)")


def _remove(args: argparse.Namespace, target: str) -> int:
    from saltlab.runs.run_folder import RunBusy, RunFolder, RunLinkRefused, checkpoints_root, remove_run

    path = Path(target) if Path(target).is_dir() else (args.root or checkpoints_root()) / target
    try:
        moved = remove_run(RunFolder(path), archive=bool(args.archive))
    except (RunBusy, RunLinkRefused, FileNotFoundError) as exc:
        return error(str(exc))
    print(f"archived {path.name} to {moved}" if moved else f"deleted {path}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from saltlab.runs.registry import HEADER, format_row, registry_rows

    target = args.delete or args.archive
    if target:
        return _remove(args, target)
    rows = registry_rows(args.root)
    if not rows:
        print("no runs")
        return EXIT_OK
    print(HEADER)
    for row in rows:
        print(format_row(row))
        if row["state"] == "failed" and row.get("error"):
            print(f"    error: {row['error']}")
    return EXIT_OK
