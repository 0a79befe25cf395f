"""`queue-watch` (used by the queue): when a run's trainer process is gone, start the next queued run."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "(used by the queue) when a run's trainer process is gone, start the next run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("pid", type=int, help="the trainer's process id")
    p.add_argument("--start", type=int, help="the trainer's start time (/proc/PID/stat field 22), read when started")


def run(args: argparse.Namespace) -> int:
    from saltlab.jobs.launcher import watch_then_tick

    watch_then_tick(args.run, args.pid, args.start)
    return 0
