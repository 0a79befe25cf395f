"""The run registry as rows: what tells runs apart, their scores beside the all-empty score, budget and time.

One home for the Train page's table and `python -m saltlab runs`. A run folder whose files cannot
be read still gets a row, saying so, instead of breaking the list.
"""

from __future__ import annotations

import functools
import os
import time

from saltlab.runs.imported import ImportRefused, is_import, read_record
from saltlab.runs.records import RunStatus
from saltlab.runs.run_folder import RunFolder, list_runs


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _recipe(config: dict) -> tuple[str, int, str]:
    """(losses in order, planned epochs, arch/encoder@input) of a config.json; KeyError/TypeError when it is
    not a run's config."""
    model, stages = config["model"], config["stages"]
    losses = " → ".join(str(s["loss"]) for s in stages)
    planned = sum(int(s["epochs"]) for s in stages)
    return losses, planned, f"{model['arch']}/{model['encoder']}@{model.get('input_size', 128)}"


def _used_seconds(status: RunStatus) -> float | None:
    if status.wall_s is not None:
        return status.wall_s
    ended = status.finished or status.updated
    return ended - status.started if status.started and ended else None


def run_row(run: RunFolder) -> dict:
    """One run: state, recipe, fold, epochs, best score, all-empty score and the flag, SWA, budget, time used.
    Each of the run's files is read once. An imported entry gets a row of its own kind (import_row)."""
    if is_import(run.path):
        return import_row(run)
    problem = run.problem()
    if problem:
        return {"run": run.path.name, "state": "unreadable", "error": problem}
    try:
        status = run.status() or RunStatus()
        config = run.read_config()
        losses, planned, model_text = _recipe(config)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return {"run": run.path.name, "state": "unreadable", "error": f"{type(exc).__name__}: {exc}"}
    best, empty = status.score("best_score"), status.score("empty_score")
    split = run.split()
    notes = run.read_notes().strip()
    created = run.created(status)
    return {
        "run": run.path.name,
        "state": status.state or "?",
        "name": run.read_label(),
        "notes": notes.splitlines()[0][:80] if notes else "",
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if created else None,
        "recipe": config.get("name"),
        "model": model_text,
        "losses": losses,
        "fold": config.get("fold"),
        "epoch": f"{status.epoch or 0}/{status.epochs or planned}",
        "train images": len(split.train_ids) if split and split.train_ids else None,
        "scored on": len(split.monitor_ids) if split and split.monitor_ids else None,  # behind "best score"
        "best score": best,
        "all-empty score": empty,
        "below all-empty": None if best is None or empty is None else bool(best <= empty),
        "SWA score": status.score("swa_score"),
        "budget min": config.get("minutes"),
        "used min": _minutes(_used_seconds(status)),
        "device": status.device or status.slot,
        "data set": split.data if split and split.data else config.get("data"),
        "error": status.error,
    }


def _imported_what(record) -> str:
    if record.kind == "smp-model":
        c = record.convention or {}
        return f"imported smp model ({c.get('channels')} ch, {c.get('size')} px {c.get('pad')}, {c.get('normalise')})"
    return f"imported {record.format} ({'masks' if record.binary else 'probabilities'})"


def import_row(run: RunFolder) -> dict:
    """An imported entry's row: what it is, its source, how many ids, when, its score beside all-empty."""
    try:
        record = read_record(run.path)
    except ImportRefused as exc:
        return {"run": run.path.name, "state": "unreadable", "error": str(exc)}
    best, empty = record.score, record.score_empty
    held = len(record.held_out_ids) if record.held_out_ids is not None else None
    return {
        "run": run.path.name,
        "state": "imported",
        "name": record.name,
        "notes": f"from {record.source}",
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(record.imported)) if record.imported else None,
        "recipe": None,
        "model": _imported_what(record),
        "losses": "-",
        "fold": None,
        "epoch": "-",
        "train images": None,
        "scored on": held if held is not None else record.n_ids,
        "best score": best,
        "all-empty score": empty,
        "below all-empty": None if best is None or empty is None else bool(best <= empty),
        "SWA score": None,
        "budget min": None,
        "used min": None,
        "device": None,
        "data set": record.data,
        "error": None if record.held_out == "listed" else "held-out images unknown",
    }


def registry_rows(root: str | os.PathLike | None = None) -> list[dict]:
    """Every run folder under root (default: checkpoints_root()), newest first, unreadable ones included."""
    return [run_row(run) for run in list_runs(root)]


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_row(row: dict) -> str:
    """A line for the terminal."""
    if row["state"] == "unreadable":
        return f"{row['run']:<44} unreadable: {row['error']}"
    num = _number
    flag = "  BELOW ALL-EMPTY" if row["below all-empty"] else ""
    if row["state"] == "imported":
        return (
            f"{row['run']:<44} {'imported':<10} {'-':>7} {num(row['best score']):>7} {num(row['all-empty score']):>9}  "
            f"{row['model']}, scored on {row['scored on']} images{'; ' + row['error'] if row['error'] else ''}, "
            f"data {row['data set']}{flag}"
        )
    budget = f"{row['budget min']:g} min budget, " if row["budget min"] else ""
    used = f"{row['used min']} min" if row["used min"] is not None else "-"
    return (
        f"{row['run']:<44} {row['state']:<10} {row['epoch']:>7} {num(row['best score']):>7} "
        f"{num(row['all-empty score']):>9}  {row['model']}, {row['losses']}, fold {row['fold']}, {budget}{used}, "
        f"{row['device'] or ''}, data {row['data set'] or 'default'}{flag}"
    )


HEADER = f"{'run':<44} {'state':<10} {'epoch':>7} {'best':>7} {'all-empty':>9}  recipe"


def _flatten(values, prefix: str = "") -> dict:
    if isinstance(values, dict):
        out = {}
        for key, value in values.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        out = {}
        for i, value in enumerate(values):
            out.update(_flatten(value, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: values}


def config_diff(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(setting, value in a, value in b) for every setting the two configs set differently (stages
    compared one by one: `stages.1.loss`); a setting one of them lacks shows as None there."""
    fa, fb = _flatten(a), _flatten(b)
    return [(key, fa.get(key), fb.get(key)) for key in sorted(set(fa) | set(fb)) if fa.get(key) != fb.get(key)]


def runs_holding_out(image_id: str, root: str | os.PathLike | None = None) -> list[str]:
    """The finished runs (with a best.pt) that held this image out for validation, newest first: the runs
    in which the Explorer can show it."""
    return [run.path.name for run in list_runs(root) if run.best_path.is_file() and image_id in _val_ids(run)]


def _val_ids(run: RunFolder) -> frozenset[str]:
    """The run's validation ids, read again only when split.json changes (pages ask once per image shown)."""
    try:
        stat = run.split_path.stat()
    except OSError:
        return frozenset()
    return _val_ids_of(str(run.path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _val_ids_of(run_path: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    return frozenset((RunFolder(run_path).read_split() or {}).get("val_ids") or ())
