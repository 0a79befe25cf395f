"""`train`: train a preset or a config file (one run, or one per fold in the queue), or resume a run.

The request goes through `saltlab.runs.request`, as the Train page's does: `--epochs` is the epochs of
every stage there too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from saltlab.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, error

HELP = "train a model (a preset name or a TOML/JSON config), or resume a run"
RECOVERS_QUEUE = True  # runs whose trainer died unseen are marked first (not on --resume: that is one of them)
SHORTCUTS = ("data", "fold", "device", "batch_size", "seed", "name")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="preset name (configs/NAME.toml) or a config file")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. stages.0.epochs=5 (repeatable)"
    )
    p.add_argument("--data", help="data set folder")
    p.add_argument("--fold", type=int)
    p.add_argument("--epochs", type=int, help="epochs of every stage (for quick runs)")
    p.add_argument(
        "--minutes",
        type=float,
        help="a time budget in minutes of wall time: the run plans its epochs to fit "
        "(validation included) and ends within it; 0 = none",
    )
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int)
    p.add_argument("--name", help="run name (the folder is NAME-fFOLD-TIMESTAMP)")
    p.add_argument("--out", type=Path, help="run folder (default: checkpoints/NAME-fFOLD-TIMESTAMP)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue a cancelled or failed run from its last.pt")
    p.add_argument(
        "--pseudo-from",
        dest="pseudo_from",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="add confident test predictions of these runs as pseudo-labelled training data "
        "(thresholds: --set pseudo.low=0.2 pseudo.high=0.8 pseudo.mode=pixels|images ...)",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--exclude-suspects",
        action="store_true",
        help="leave the images marked as suspect labels (suspects --mark, or the Suspects page) out of training",
    )
    p.add_argument(
        "--all-folds",
        action="store_true",
        help="queue one run per fold (0..n_folds-1), trained one after another in the background",
    )


def _record_early_signals() -> list[str]:
    """Until the engine installs its own handlers (after importing torch: seconds), a SIGTERM or
    SIGINT is only recorded, so that a cancel during start-up still ends in a clean 'cancelled'."""
    import signal

    pending: list[str] = []

    def record(signum, _frame):
        pending.append(signal.Signals(signum).name)

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, record)
    return pending


def request_of(args: argparse.Namespace):
    """The CLI's arguments as a TrainRequest."""
    from saltlab.runs.config import DEFAULT_PRESET
    from saltlab.runs.request import TrainRequest

    if not args.config:
        print(f"no --config: training the default preset, {DEFAULT_PRESET}", file=sys.stderr)
    return TrainRequest(
        preset=args.config or DEFAULT_PRESET,
        values={key: getattr(args, key) for key in SHORTCUTS if getattr(args, key) is not None},
        settings=tuple(args.set or ()),
        stage_epochs=args.epochs,
        minutes=args.minutes,
        exclude_suspects=args.exclude_suspects,
        pseudo_runs=tuple(str(r) for r in args.pseudo_from or ()),
    )


def _train_exit(*args, **kwargs) -> int:
    """Train (engine.train's arguments); the exit code of the run's end, or EXIT_FAILED after one line when
    it failed (its train.log has the rest). Inputs that cannot be used (SaltLabError) go on to main()."""
    from saltlab.core.errors import SaltLabError
    from saltlab.core.fileio import first_line
    from saltlab.training.engine import train

    try:
        run = train(*args, **kwargs)
    except SaltLabError:
        raise
    except Exception as exc:
        print(f"error: the run failed: {type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    status = run.read_status() or {}
    print(f"run {run.path}: {status.get('state')}, best val score {status.get('best_score')}")
    return {"done": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(status.get("state"), EXIT_FAILED)


def _queue_all_folds(config) -> int:
    from saltlab.jobs.launcher import submit, tick
    from saltlab.runs.request import fold_configs

    runs = [submit(c, start=False) for c in fold_configs(config)]
    tick(runs[0].path.parent)
    print(f"queued {len(runs)} runs, one per fold, trained one after another in the background:")
    for run in runs:
        print(f"  {run.path}")
    return EXIT_OK


def _then_tick(root: Path | None = None) -> None:
    """The queue moves on when this run ends, whatever the outcome (it held its device's slot)."""
    from saltlab.jobs.launcher import tick

    if int(os.environ.get("RANK", "0")) == 0:
        tick(root)


def run(args: argparse.Namespace) -> int:
    pending = _record_early_signals()
    from saltlab.runs.config import ConfigError
    from saltlab.runs.request import build_config

    if args.resume:
        try:
            return _train_exit({}, run_dir=args.resume, resume=True, pending_signals=pending)
        finally:
            _then_tick(Path(args.resume).parent)
    try:
        config = build_config(request_of(args))
    except ConfigError as exc:
        return error(str(exc))
    if args.exclude_suspects:
        print(f"leaving out {len(config.exclude_ids)} images marked as suspect labels", file=sys.stderr)
    if args.print_config:
        print(config.to_json())
        return EXIT_OK
    if args.all_folds:
        return _queue_all_folds(config)
    try:
        return _train_exit(config, run_dir=args.out, pending_signals=pending)
    finally:
        _then_tick()
