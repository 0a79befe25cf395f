"""Command line: `python -m saltlab {info,demo-data,folds,train,evaluate,compare,predict,runs} ...`.

Exit codes: 0 success; 1 the data set loaded but some items are bad (reported, left out);
2 bad usage or a path that is not a data set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Exit codes (README, "Command line"): 0 done; 1 the data set loaded but some items are bad; 2 an input that
# cannot be used (SaltLabError: the message names it); 3 a training run failed; 130 cancelled.
EXIT_OK, EXIT_BAD_ITEMS, EXIT_USAGE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2, 3, 130


def _progress_printer():
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


def _load(args: argparse.Namespace):
    from saltlab.core.dataset import load_dataset

    return load_dataset(args.data, use_cache=not args.no_cache, progress=_progress_printer())


def _print_summary(info: dict, ds) -> None:
    print(f"data set      {info['root']}")
    print(f"images        {info['n_train']} train, {info['n_test']} test")
    if info["n_train"]:
        print(f"empty masks   {info['empty_masks']} ({100 * info['empty_fraction']:.1f}%)")
        print(f"vertical      {info['vertical_masks']}")
        print(f"full masks    {info['full_masks']}")
    print(f"constant img  {info['constant_images_train']} train, {info['constant_images_test']} test")
    if info["n_train"]:
        counts = info["coverage_class_counts"]
        print("coverage cls  " + "  ".join(f"{c}:{n}" for c, n in enumerate(counts)))
    if info["depth_min"] is not None:
        print(
            f"depth         {info['depth_min']:.0f}..{info['depth_max']:.0f}"
            + (f" ({info['depth_unknown']} unknown)" if info["depth_unknown"] else "")
        )
    print(f"health        {ds.health.describe()}" + (" (from cache)" if ds.from_cache else ""))


def _print_health(ds, limit: int) -> None:
    issues = ds.health.issues
    for issue in issues[:limit]:
        where = f"{issue.split}/{issue.id}" if issue.id else (issue.split or "-")
        print(f"  {issue.severity:<7} {where:<20} {issue.file}: {issue.reason}")
    if len(issues) > limit:
        print(f"  ... {len(issues) - limit} more (use --max-issues)")


def cmd_info(args: argparse.Namespace) -> int:
    from saltlab.core.table import summary

    ds = _load(args)
    info = summary(ds)
    if args.json:
        info["issues"] = ds.health.to_records()
        info["from_cache"] = ds.from_cache
        print(json.dumps(info, indent=2))
    else:
        _print_summary(info, ds)
        _print_health(ds, args.max_issues)
    return EXIT_BAD_ITEMS if ds.health.errors else EXIT_OK


def cmd_demo_data(args: argparse.Namespace) -> int:
    from saltlab.core.demo import generate_demo_dataset, generate_section_dataset

    if args.sections is not None:
        if args.sections < 1:
            print("error: --sections must be at least 1", file=sys.stderr)
            return EXIT_USAGE
        try:
            out = generate_section_dataset(args.out, n_sections=args.sections, seed=args.seed)
        except FileExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"wrote a demo data set cut from {args.sections} sections of 4x5 tiles to {out} "
            f"(the true layout in {out / 'layout.csv'})"
        )
        return EXIT_OK
    if args.n < 1 or (args.n_test is not None and args.n_test < 0):
        print("error: --n must be at least 1 and --n-test at least 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        out = generate_demo_dataset(args.out, n=args.n, n_test=args.n_test, seed=args.seed)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    n_test = args.n // 2 if args.n_test is None else args.n_test
    print(f"wrote a demo data set to {out}: {args.n} train, {n_test} test images (seed {args.seed})")
    return EXIT_OK


def cmd_folds(args: argparse.Namespace) -> int:
    import pandas as pd

    from saltlab.core.folds import fold_table

    if args.n_folds < 2 or (args.fold is not None and not 0 <= args.fold < args.n_folds):
        print(f"error: need --n-folds >= 2 and 0 <= --fold < {args.n_folds}", file=sys.stderr)
        return EXIT_USAGE
    ds = _load(args)
    if not ds.n_train:
        print(f"error: {ds.root} has no labelled train images to split into folds", file=sys.stderr)
        return EXIT_USAGE
    table = fold_table(ds, args.n_folds, args.seed)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.fold is not None:
        held = table[table["fold"] == args.fold]["id"]
        print(f"fold {args.fold}: {len(table) - len(held)} train, {len(held)} validation ids")
        if args.ids:
            print("\n".join(held))
        return EXIT_OK
    counts = pd.crosstab(table["fold"], table["coverage_class"])
    counts["total"] = counts.sum(axis=1)
    print(
        f"{args.n_folds} folds (seed {args.seed}; an image's fold is a hash of its id, so each coverage class is "
        "spread at random over the folds); images per fold and class:"
    )
    print(counts.to_string())
    return EXIT_OK


def cmd_mosaic(args: argparse.Namespace) -> int:
    import time

    from saltlab.core.mosaic import load_mosaic, section_table, summary

    ds = _load(args)
    start = time.perf_counter()
    mosaic, cached = load_mosaic(ds, use_cache=not args.no_cache)
    took = time.perf_counter() - start
    info = summary(mosaic, ds)
    if args.out:
        args.out.write_text(section_table(mosaic))
    if args.json:
        print(json.dumps({**info, "from_cache": cached, "seconds": round(took, 3)}, indent=2))
        return EXIT_OK
    print(
        f"{info['placed']} of {info['tiles']} tiles placed in {info['sections']} sections by {info['links']} "
        f"edge links ({'from cache' if cached else 'matched'} in {took:.2f} s)"
    )
    largest = ", ".join(f"{s['tiles']} tiles ({s['rows']}x{s['cols']})" for s in info["largest"])
    print(f"largest sections: {largest or '-'}")
    if info["salty_links"]:
        print(
            f"link precision proxy: along {info['salty_links']} of {info['train_links']} train-train links with salt "
            f"on an edge, the truth masks agree with IoU {info['linked_iou']:.2f} "
            f"(random pairs: {info['random_iou']:.2f})"
        )
    else:
        print(f"link precision proxy: none of the {info['train_links']} train-train links has salt on its edge")
    if args.out:
        print(f"wrote {args.out} (id, split, section, row, col of every placed tile)")
    return EXIT_OK


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


def cmd_train(args: argparse.Namespace) -> int:
    pending = _record_early_signals()
    from saltlab.runs.config import ConfigError, apply_overrides, from_dict, load_config

    if args.resume:
        from saltlab.jobs.launcher import tick

        try:
            return _train_exit({}, run_dir=args.resume, resume=True, pending_signals=pending)
        finally:
            if int(os.environ.get("RANK", "0")) == 0:
                tick(Path(args.resume).parent)  # the queue moves on when this run ends, whatever the outcome
    if not args.config:
        from saltlab.runs.config import DEFAULT_PRESET

        args.config = DEFAULT_PRESET
        print(f"no --config: training the default preset, {DEFAULT_PRESET}", file=sys.stderr)
    try:
        values = load_config(args.config)
        shortcuts = []
        for key in ("data", "fold", "device", "batch_size", "seed", "name", "minutes"):
            value = getattr(args, key)
            if key == "minutes" and value == 0:
                value = "none"  # --minutes 0: no budget, even where the preset has one
            if value is not None:
                shortcuts.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
        if args.pseudo_from:
            shortcuts.append(f"pseudo.runs={json.dumps([str(r) for r in args.pseudo_from])}")
        values = apply_overrides(values, shortcuts + list(args.set or []))
        if args.epochs is not None:
            from saltlab.runs.config import StageConfig, scaled_swa_start

            for stage in values.get("stages", []):
                old = int(stage.get("epochs", StageConfig.epochs))
                stage["swa_start"] = scaled_swa_start(stage.get("swa_start"), old, args.epochs)
                stage["epochs"] = args.epochs
        config = from_dict(values)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.exclude_suspects:
        from dataclasses import replace

        from saltlab.core.dataset import load_dataset
        from saltlab.core.suspect_marks import marked

        marks = marked(load_dataset(config.data))
        config = replace(config, exclude_ids=sorted(set(config.exclude_ids) | set(marks)))
        print(f"leaving out {len(config.exclude_ids)} images marked as suspect labels", file=sys.stderr)
    if args.print_config:
        print(config.to_json())
        return EXIT_OK
    if args.all_folds:
        from dataclasses import replace

        from saltlab.jobs.launcher import submit

        runs = [submit(replace(config, fold=k), start=False) for k in range(config.n_folds)]
        from saltlab.jobs.launcher import tick

        tick(runs[0].path.parent)
        print(f"queued {len(runs)} runs, one per fold, trained one after another in the background:")
        for run in runs:
            print(f"  {run.path}")
        return EXIT_OK
    from saltlab.jobs.launcher import tick

    try:
        return _train_exit(config, run_dir=args.out, pending_signals=pending)
    finally:
        if int(os.environ.get("RANK", "0")) == 0:
            tick()  # this run held its device's slot: the app's queue, waiting behind it, moves on


def cmd_suspects(args: argparse.Namespace) -> int:
    from saltlab.core.suspect_marks import marked, set_marked

    if args.mark or args.unmark:
        from saltlab.core.dataset import load_dataset

        ds = _load(args) if args.data else load_dataset(None)
        for id_ in args.mark or []:
            set_marked(ds, id_, reason="marked on the command line")
        for id_ in args.unmark or []:
            set_marked(ds, id_, mark=False)
        marks = marked(ds)
        print(f"{len(marks)} images of {ds.root} marked as suspect labels" + (": " + " ".join(marks) if marks else ""))
        return EXIT_OK
    if not args.runs:
        print("error: give the runs whose validation folds cover the images (e.g. one per fold)", file=sys.stderr)
        return EXIT_USAGE
    import time

    from saltlab.analysis.suspects import out_of_fold, rank_labels

    oof = out_of_fold(args.runs, tta=args.tta, progress=_progress_printer())
    start = time.perf_counter()
    table = rank_labels(oof)
    took = time.perf_counter() - start
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"{len(table)} labelled images ranked from out-of-fold predictions in {took:.2f} s (most suspicious first):")
    shown = table.head(args.top)
    for row in shown.itertuples(index=False):
        print(f"  {row.id}  disagreement {row.disagreement:.3f}  quality {row.quality:.3f}  {row.reason}  [{row.run}]")
    if args.out:
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_queue_watch(args: argparse.Namespace) -> int:
    from saltlab.jobs.launcher import watch_then_tick

    return watch_then_tick(args.run, args.pid)


def _train_exit(*args, **kwargs) -> int:
    """Train (engine.train's arguments); the exit code of the run's end, or EXIT_FAILED after one line when
    it failed (its train.log has the rest). Inputs that cannot be used (SaltLabError) go on to main()."""
    from saltlab.core.errors import SaltLabError
    from saltlab.core.fileio import first_line
    from saltlab.training.engine import train

    try:
        return _run_exit(train(*args, **kwargs))
    except SaltLabError:
        raise
    except Exception as exc:
        print(f"error: the run failed: {type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


def _run_exit(run) -> int:
    status = run.read_status() or {}
    print(f"run {run.path}: {status.get('state')}, best val score {status.get('best_score')}")
    return {"done": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(status.get("state"), EXIT_FAILED)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from saltlab.inference.evaluate import evaluate_run

    result = evaluate_run(
        args.run,
        checkpoint=args.checkpoint,
        data=args.data,
        tta=args.tta,
        batch_size=args.batch_size,
        device=args.device,
        progress=_progress_printer(),
        use_cache=not args.no_cache,
    )
    scores = result.scores
    print(
        f"{'cached ' if result.from_cache else ''}evaluation of {result.checkpoint} on {scores['n_images']} images "
        f"({scores['subset']}): "
        + (f"saved to {result.folder}" if (result.folder / "scores.json").is_file() else "not saved (see the note)")
    )
    for note in scores.get("notes", []):
        print(f"  note: {note}")
    for key in ("score", "score_empty", "score_oracle", "score_ungated", "mean_iou", "judge_accuracy"):
        if key in scores:
            print(f"  {key:<15} {scores[key]:.4f}")
    if "score_empty" in scores and scores["score"] <= scores["score_empty"]:
        print(
            f"  WORSE THAN PREDICTING NOTHING: {scores['score']:.4f} <= {scores['score_empty']:.4f}, the score of "
            "an all-empty prediction on the same images"
        )
    if "score_oracle" in scores:
        print(
            f"  gap: the oracle-gated score is {scores['score_oracle'] - scores['score']:+.4f} above the honest "
            "judge-gated score"
        )
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from saltlab.analysis.explore import explore, report
    from saltlab.analysis.summaries import PostProcess

    ex = explore(
        [str(r) for r in args.runs],
        checkpoint=args.checkpoint,
        tta=args.tta,
        data=args.data,
        progress=_progress_printer(),
    )
    options = PostProcess(args.threshold, args.min_size, not args.no_judge)
    print(report(ex, options))
    if args.rules:
        for name in ex.names:
            print(f"\nneighbour rules (mosaic) on {name}, scored on its {len(ex.ids)} validation images:")
            print(ex.rules(name, options).to_string(index=False))
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    from saltlab.analysis.explore import explore
    from saltlab.analysis.similar import nearest

    ex = explore([str(args.run)], checkpoint=args.checkpoint, progress=_progress_printer())
    if args.id not in ex.ids:
        print(f"error: {args.id}: not a validation image of {args.run} ({len(ex.ids)} of them)", file=sys.stderr)
        return EXIT_USAGE
    name = ex.names[0]
    unit = ex.embeddings(name, progress=_progress_printer())
    table = ex.view().table
    found, similarity = nearest(unit, ex.ids.index(args.id), args.k)
    scores = table[f"score {name}"].to_numpy()
    at = ex.ids.index(args.id)
    print(
        f"{args.id}: score {scores[at]:.2f}, coverage {table['coverage'].iloc[at]:.3f}; "
        f"most alike by {name}'s features:"
    )
    for j, sim in zip(found, similarity):
        print(f"  {ex.ids[j]}  similarity {sim:.3f}  score {scores[j]:.2f}  coverage {table['coverage'].iloc[j]:.3f}")
    return EXIT_OK


def _status_writer(path: Path | None):
    """Progress of a background predict job into its status.json (see saltlab.jobs.predict_jobs)."""
    if path is None:
        return None, None
    from saltlab.runs.run_folder import RunFolder, process_start

    job = RunFolder(path.parent)
    job.write_status(
        state="running", pid=os.getpid(), pid_start=process_start(os.getpid()), message="loading", done=0, total=0
    )

    def progress(stage: str, done: int, total: int) -> None:
        job.write_status(message=stage, done=done, total=total)

    return job, progress


def cmd_predict(args: argparse.Namespace) -> int:
    import signal

    job, job_progress = _status_writer(args.status)
    if job is not None:  # a cancel from the Predict page: stop cleanly, no CSV written
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    from saltlab.core.definitions import is_empty
    from saltlab.inference.predict import check_request, predict_test_set, suggested_threshold, write_outputs

    runs = [str(r) for r in args.runs]
    threshold, source = args.threshold, "given"
    if threshold is None:
        suggested = suggested_threshold(runs, args.tta)
        threshold, source = suggested if suggested else (0.5, "the default; no run has a validation sweep yet")
        print(f"pixel threshold {threshold} ({source})", file=sys.stderr)
    printer = _progress_printer()

    def progress(stage: str, done: int, total: int) -> None:
        printer(stage, done, total)
        if job_progress:
            job_progress(stage, done, total)

    try:
        check_request(args.out, args.png_dir, args.threshold, args.batch_size, args.min_size)  # before any inference
        prediction = predict_test_set(
            runs,
            data=args.data,
            tta=args.tta,
            threshold=threshold,
            min_size=args.min_size,
            batch_size=args.batch_size,
            device=args.device,
            progress=progress,
        )
        if job_progress:
            job_progress("writing the CSV and the PNG masks", len(prediction.ids), len(prediction.ids))
        path = write_outputs(prediction, args.out, args.png_dir)
    except KeyboardInterrupt:
        if job:
            job.write_status(state="cancelled", message="cancelled; no CSV written")
        print("cancelled; no CSV written", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        if job:
            job.write_status(state="failed", error=str(exc))
        raise  # main() prints the known refusals as one line
    empty = int(is_empty(prediction.masks).sum())
    if job:
        job.write_status(
            state="done",
            message="done",
            finished=time.time(),
            n_images=len(prediction.ids),
            n_empty=empty,
            threshold=threshold,
            threshold_source=source,
        )
    print(
        f"wrote {path}: {len(prediction.ids)} test images ({empty} predicted empty) from {len(args.runs)} run(s)"
        + (" with hflip TTA" if args.tta else "")
        + f", threshold {threshold}"
        + (f"; masks in {args.png_dir}" if args.png_dir else "")
    )
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from saltlab.runs.registry import HEADER, format_row, registry_rows
    from saltlab.runs.run_folder import RunBusy, RunFolder, RunLinkRefused, checkpoints_root, remove_run

    target = args.delete or args.archive
    if target:
        path = Path(target) if Path(target).is_dir() else (args.root or checkpoints_root()) / target
        try:
            moved = remove_run(RunFolder(path), archive=bool(args.archive))
        except (RunBusy, RunLinkRefused, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"archived {path.name} to {moved}" if moved else f"deleted {path}")
        return EXIT_OK
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


def build_parser() -> argparse.ArgumentParser:
    from saltlab import __version__

    parser = argparse.ArgumentParser(prog="python -m saltlab", description="SaltLab: TGS salt segmentation workbench.")
    parser.add_argument("--version", action="version", version=f"saltlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "data", nargs="?", help="data set folder (default: $SALTLAB_DATA, else data/tgs, else the demo set)"
        )
        p.add_argument("--no-cache", action="store_true", help="decode every file again instead of using the cache")

    p = sub.add_parser("info", help="summary and health report of a data set")
    data_args(p)
    p.add_argument("--json", action="store_true", help="print the summary and every issue as JSON")
    p.add_argument("--max-issues", type=int, default=50, help="issues to list (default 50)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo-data", help="generate a synthetic data set in the Kaggle layout")
    p.add_argument("out", help="folder to create (must not exist or be empty)")
    p.add_argument("--n", type=int, default=1000, help="train images (default 1000)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default n/2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sections",
        type=int,
        default=None,
        metavar="K",
        help="instead: tiles cut out of K seismic sections of 4x5 tiles (for the Mosaic page), 30%% as test",
    )
    p.set_defaults(func=cmd_demo_data)

    from saltlab.core.folds import DEFAULT_FOLDS, DEFAULT_SEED

    p = sub.add_parser("folds", help="stratified K-fold split on coverage class")
    data_args(p)
    p.add_argument("--n-folds", type=int, default=DEFAULT_FOLDS)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fold", type=int, default=None, help="show one fold's train/validation split")
    p.add_argument("--ids", action="store_true", help="with --fold: list the validation ids")
    p.add_argument("--out", type=Path, default=None, help="write id,coverage_class,fold as CSV")
    p.set_defaults(func=cmd_folds)

    p = sub.add_parser("mosaic", help="rebuild the seismic sections from the tiles by matching their edges")
    data_args(p)
    p.add_argument("--out", type=Path, default=None, help="write id,split,section,row,col of every placed tile as CSV")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.set_defaults(func=cmd_mosaic)

    p = sub.add_parser("similar", help="the validation images most like one image, by a run's encoder features")
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--id", required=True, help="one of the run's validation images")
    p.add_argument("--k", type=int, default=8, help="how many (default 8)")
    p.add_argument("--checkpoint", default="best", help="best (default), swa, last or a file name in the run")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser(
        "suspects", help="rank labelled images by how confidently out-of-fold predictions disagree with their label"
    )
    p.add_argument("runs", nargs="*", type=Path, help="run folders whose validation folds cover the images")
    p.add_argument("--tta", action="store_true", help="hflip TTA for the predictions")
    p.add_argument("--top", type=int, default=20, help="images to list (default 20)")
    p.add_argument("--out", type=Path, default=None, help="write the whole ranking as CSV")
    p.add_argument("--data", default=None, help="with --mark / --unmark: the data set (default: the default one)")
    p.add_argument("--mark", nargs="+", metavar="ID", help="mark images as suspect labels (train --exclude-suspects)")
    p.add_argument("--unmark", nargs="+", metavar="ID", help="remove the mark")
    p.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_suspects)

    p = sub.add_parser("train", help="train a model (a preset name or a TOML/JSON config), or resume a run")
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a run's checkpoint on its validation fold and cache its predictions")
    p.add_argument("run", type=Path, help="run folder (or a checkpoint file)")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a file name in the run folder")
    p.add_argument("--data", help="a labelled data set to score on instead (all its train images)")
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped prediction")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-cache", action="store_true", help="predict again even when cached")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "compare", help="compare runs image by image on their validation fold (one run: its full report)"
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--tta", action="store_true", help="horizontal-flip TTA")
    p.add_argument("--threshold", type=float, default=0.5, help="pixel threshold (default 0.5)")
    p.add_argument(
        "--min-size", dest="min_size", type=int, default=0, help="drop components smaller than this (pixels)"
    )
    p.add_argument("--no-judge", action="store_true", help="do not gate masks with the judge (judge models)")
    p.add_argument("--data", help="a labelled data set to compare on instead")
    p.add_argument(
        "--rules",
        action="store_true",
        help="also score the mosaic's neighbour rules (constant image: no salt; a vertical mask continues below)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("predict", help="predict the test images with one run or an ensemble; write a submission CSV")
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
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "queue-watch", help="(used by the queue) when a run's trainer process is gone, start the next run"
    )
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("pid", type=int, help="the trainer's process id")
    p.set_defaults(func=cmd_queue_watch)

    p = sub.add_parser("runs", help="list training runs (newest first) and their state; delete or archive one")
    p.add_argument("--root", type=Path, help="folder of runs (default: $SALTLAB_CHECKPOINTS or checkpoints/)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--delete", metavar="RUN", help="delete a run folder (refused while it runs)")
    group.add_argument("--archive", metavar="RUN", help="move a run folder to ROOT/.archive/ (refused while it runs)")
    p.set_defaults(func=cmd_runs)
    return parser


def _recover_queue(root: Path | None) -> None:
    """Runs whose trainer died with its watcher (a reboot, the OOM killer) are marked, and the queue moves on."""
    from saltlab.jobs.launcher import recover

    try:
        for run in recover(root):
            print(f"note: {run.path.name} had died without a word; marked failed (resume it to go on)", file=sys.stderr)
    except OSError as exc:  # an unwritable runs folder: the command itself may still work
        print(f"note: the queue could not be checked ({exc})", file=sys.stderr)


RUN_COMMANDS = (cmd_train, cmd_runs, cmd_evaluate, cmd_compare, cmd_predict)


def main(argv: list[str] | None = None) -> int:
    from saltlab.core.errors import SaltLabError

    args = build_parser().parse_args(argv)
    if args.func in RUN_COMMANDS and not getattr(args, "resume", None):
        _recover_queue(getattr(args, "root", None))
    try:
        return args.func(args)
    except SaltLabError as exc:  # the item and the reason, in one line
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, FileExistsError) as exc:  # a path given on the command line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
