"""Evaluate a run's checkpoint on the validation images it held out (or on a given labelled data set).

The validation ids are the ones the run recorded (its checkpoint's "split", also split.json in
the run folder), never recomputed from the current folds: images missing from the data set now
are counted and left out, and a run none of whose validation images remain is refused before
any inference. With another data set (`data`), the run's training images are left out of it.

Per-image predictions (probabilities as uint8 0..255, the judge's probability) and the scores are
cached under RUN/eval/<key>/, the key a hash of the checkpoint file, the data fingerprint and the
options: a second evaluation with the same inputs does no inference, a changed checkpoint does.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltlab.core.dataset import load_dataset
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import atomic_write, first_line, read_json, write_json_atomic
from saltlab.core.folds import fold_split
from saltlab.core.progress import Progress
from saltlab.core.scoring import empty_score, score_predictions, threshold_sweep
from saltlab.inference.network import load_for_inference, load_model, predict, resolve_device
from saltlab.runs.checkpoint import CheckpointError, load_checkpoint
from saltlab.runs.config import from_dict
from saltlab.runs.imported import (
    UNKNOWN_HELD_OUT,
    ImportRecord,
    entry_file,
    entry_folder,
    held_out_ids,
    is_import,
    read_predictions_of,
    read_record,
    set_scores,
)
from saltlab.runs.run_folder import RunFolder

EVAL_VERSION = 4  # 2: scores.json holds the threshold sweep's best; 4: keyed by the exact ids scored


class EvaluationError(SaltLabError, ValueError):
    """A checkpoint that cannot be scored on the data set (no images left to score it on)."""


@dataclass
class EvaluationPlan:
    """What an evaluation will score: found and checked before any inference."""

    run_dir: Path
    checkpoint_path: Path
    checkpoint: dict
    config: object  # TrainConfig
    dataset: object  # Dataset
    ids: list[str]
    subset: str
    notes: list[str]
    imported: ImportRecord | None = None  # predictions made elsewhere (config and checkpoint then empty)


@dataclass
class Evaluation:
    folder: Path
    checkpoint: Path
    ids: list[str]
    probs: np.ndarray  # float32 (N, 101, 101), from the uint8 cache
    judge: np.ndarray | None
    scores: dict
    from_cache: bool


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_checkpoint(run: str | os.PathLike, checkpoint: str = "best") -> tuple[Path, Path]:
    """(run folder, checkpoint file) from a run folder + name, or from a checkpoint file."""
    run = Path(run)
    if run.is_file():
        return run.parent, run
    if not run.is_dir():
        raise CheckpointError(f"run folder not found: {run}")
    name = checkpoint if checkpoint.endswith(".pt") else f"{checkpoint}.pt"
    path = run / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in run.glob("*.pt"))) or "none"
        raise CheckpointError(f"{path} not found (checkpoints in {run}: {available})")
    return run, path


def plan_evaluation(run: str | os.PathLike, checkpoint: str = "best", data: str | None = None) -> EvaluationPlan:
    """The checkpoint, its data set and the ids to score; EvaluationError when none are left.
    An imported entry (saltlab.runs.imported) is planned on its held-out images instead."""
    if is_import(run):
        return _plan_import(run, data)
    run_dir, ckpt_path = resolve_checkpoint(run, checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    config = from_dict(ckpt["config"])
    split = ckpt.get("split") or RunFolder(run_dir).read_split()
    ds = load_dataset(data if data else config.data)
    notes: list[str] = []
    if data:
        trained = set(split["train_ids"]) if split else set()
        ids = [i for i in ds.train_ids if i not in trained]
        subset = "all labelled images"
        if len(ids) < ds.n_train:
            subset += f" except the {ds.n_train - len(ids)} the run trained on"
        if not split:
            notes.append(f"{ckpt_path} does not record its training images: {ds.root} may hold some of them")
    elif split:
        present = set(ds.train_ids)
        ids = [i for i in split["val_ids"] if i in present]
        subset = f"the run's validation images (fold {config.fold} of {config.n_folds})"
        if len(ids) < len(split["val_ids"]):
            notes.append(
                f"{len(split['val_ids']) - len(ids)} of the run's {len(split['val_ids'])} validation images "
                f"are no longer in {ds.root}; scored on the other {len(ids)}"
            )
    else:
        _, ids = fold_split(ds, config.fold, config.n_folds, config.fold_seed)
        subset = f"validation fold {config.fold} of {config.n_folds}, recomputed"
        notes.append(
            f"{ckpt_path} does not record its validation images: they were recomputed from the current "
            "folds and may include images it trained on"
        )
    if not ids:
        raise EvaluationError(f"{ckpt_path}: none of the images to score it on ({subset}) are in {ds.root}")
    return EvaluationPlan(run_dir, ckpt_path, ckpt, config, ds, ids, subset, notes)


def _plan_import(entry: str | os.PathLike, data: str | None) -> EvaluationPlan:
    folder = entry_folder(entry)
    record = read_record(folder)
    ds = load_dataset(data or record.data)
    model = record.kind == "smp-model"
    ids = list(ds.train_ids) if model else read_predictions_of(folder)[0]
    scored = held_out_ids(record, ids)
    present = set(ds.train_ids)
    kept = [i for i in scored if i in present]
    held = "held-out" if record.held_out == "listed" else ("labelled" if model else "imported")
    what = "smp model" if model else f"{record.format} predictions"
    subset = f"the {len(scored)} {held} images of the imported {what}"
    notes = [] if record.held_out == "listed" else [UNKNOWN_HELD_OUT]
    if record.binary:
        notes.append("imported masks, not probabilities: no threshold sweep, and the threshold changes nothing")
    if ds.fingerprint != record.fingerprint:
        notes.append(f"the data set at {ds.root} has changed since this entry was imported")
    if len(kept) < len(scored):
        gone = len(scored) - len(kept)
        notes.append(f"{gone} of the {len(scored)} images are not in {ds.root}; scored on {len(kept)}")
    if not kept:
        raise EvaluationError(f"{folder}: none of its {len(scored)} images are in {ds.root}")
    return EvaluationPlan(folder, entry_file(folder), {}, None, ds, kept, subset, notes, record)


def _evaluate_import(plan: EvaluationPlan, tta: bool) -> Evaluation:
    """An entry's stored predictions scored on the plan's images (nothing to infer, nothing cached)."""
    ids, probs_u8 = read_predictions_of(plan.run_dir)
    where = {id_: k for k, id_ in enumerate(ids)}
    probs = probs_u8[[where[i] for i in plan.ids]].astype(np.float32) / 255.0
    truth = plan.dataset.train_masks[plan.dataset.train_index(plan.ids)]
    record = plan.imported
    notes = plan.notes + (["hflip TTA does not apply to imported predictions: scored as imported"] if tta else [])
    scores = {**score_predictions(probs, None, truth, 0.5), "score_empty": empty_score(truth)}
    if not record.binary:
        sweep = threshold_sweep(probs, None, truth)
        best = sweep[sweep["best"]].iloc[0]
        scores.update(sweep_threshold=float(best["threshold"]), sweep_score=float(best["score"]))
    scores.update(
        n_images=len(plan.ids),
        subset=plan.subset,
        checkpoint=str(plan.checkpoint_path),
        epoch=None,
        tta=False,
        threshold=0.5,
        data=str(plan.dataset.root),
        arch=f"imported {record.format}",
        fingerprint=plan.dataset.fingerprint,
        notes=notes,
        imported=True,
    )
    return Evaluation(plan.run_dir, plan.checkpoint_path, plan.ids, probs, None, scores, True)


def _cached(folder: Path, ckpt_path: Path, ids: list[str], notes: list[str]) -> Evaluation | None:
    """The stored evaluation in `folder`, or None (none, torn or foreign: predicted again and replaced)."""
    if not ((folder / "scores.json").is_file() and (folder / "predictions.npz").is_file()):
        return None
    try:
        with np.load(folder / "predictions.npz", allow_pickle=False) as z:
            probs = z["probs"].astype(np.float32) / 255.0
            judge = z["judge"].astype(np.float32) if "judge" in z.files else None
            cached_ids = z["ids"].tolist()
        if cached_ids == ids:
            return Evaluation(
                folder, ckpt_path, ids, probs, judge, {**read_json(folder / "scores.json"), "notes": notes}, True
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    return None


def _scores(plan: EvaluationPlan, probs: np.ndarray, judge: np.ndarray | None, truth: np.ndarray, tta: bool) -> dict:
    ds, threshold = plan.dataset, _threshold(plan)
    sweep = threshold_sweep(probs, judge, truth)
    best = sweep[sweep["best"]].iloc[0]
    return {
        **score_predictions(probs, judge, truth, threshold),
        "score_empty": empty_score(truth),
        "sweep_threshold": float(best["threshold"]),
        "sweep_score": float(best["score"]),
        "n_images": len(plan.ids),
        "subset": plan.subset,
        "checkpoint": str(plan.checkpoint_path),
        "epoch": plan.checkpoint.get("epoch"),
        "tta": tta,
        "threshold": threshold,
        "data": str(ds.root),
        "arch": plan.config.model.arch if plan.config is not None else f"imported {plan.imported.format}",
        "fingerprint": ds.fingerprint,
        "notes": plan.notes,
    }


def _threshold(plan: EvaluationPlan) -> float:
    return plan.config.threshold if plan.config is not None else 0.5


def _model_of(plan: EvaluationPlan, device) -> tuple[object, int, bool]:
    """(model in eval mode on `device`, the input size to pad to, channels_last) of a run or an imported model."""
    if plan.imported is not None:
        return load_for_inference(plan.run_dir, device)
    model, _ = load_model(plan.checkpoint, device, str(plan.checkpoint_path))
    return model, plan.config.model.input_size, plan.config.channels_last


def _store(folder: Path, ids: list[str], probs_u8: np.ndarray, judge: np.ndarray | None, scores: dict) -> None:
    arrays = {"ids": np.array(ids), "probs": probs_u8}
    if judge is not None:
        arrays["judge"] = judge.astype(np.float16)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "predictions.npz", lambda f: np.savez(f, **arrays))
        write_json_atomic(folder / "scores.json", scores)
    except OSError as exc:  # WriteError included: the score stands, only the cache is missing
        scores["notes"] = [*scores["notes"], f"warning: the cache was not written ({first_line(exc)}); scored anyway"]


def evaluate_run(
    run: str | os.PathLike,
    checkpoint: str = "best",
    data: str | None = None,
    tta: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    progress: Progress | None = None,
    use_cache: bool = True,
    plan: EvaluationPlan | None = None,
) -> Evaluation:
    """Score a checkpoint (cached under RUN/eval/); `plan` from plan_evaluation saves loading it twice."""
    plan = plan or plan_evaluation(run, checkpoint, data)
    if plan.imported is not None and plan.imported.kind == "predictions":
        return _evaluate_import(plan, tta)
    ckpt_path, ds, ids = plan.checkpoint_path, plan.dataset, plan.ids
    key_text = json.dumps([EVAL_VERSION, _file_hash(ckpt_path), ds.fingerprint, ids, tta, _threshold(plan)])
    if plan.imported is not None:  # the input convention is part of what is scored
        key_text += json.dumps(plan.imported.convention, sort_keys=True)
    folder = plan.run_dir / "eval" / hashlib.sha256(key_text.encode()).hexdigest()[:16]
    positions = ds.train_index(ids)
    cached = _cached(folder, ckpt_path, ids, plan.notes) if use_cache else None
    if cached is not None:
        return cached
    dev = resolve_device(device)
    model, input_size, channels_last = _model_of(plan, dev)
    probs, judge = predict(
        model,
        ds.train_images[positions],
        input_size,
        dev,
        batch_size,
        dev.type == "cuda",
        channels_last,
        tta,
        progress=progress,
    )
    # Stored as uint8: 1/255 resolution is ample for thresholds and heat maps, and 4x smaller.
    probs_u8 = np.rint(probs * 255).astype(np.uint8)
    probs = probs_u8.astype(np.float32) / 255.0
    scores = _scores(plan, probs, judge, ds.train_masks[positions], tta)
    if plan.imported is not None and not tta and data is None:  # its own score, as the registry shows it
        set_scores(plan.run_dir, scores["score"], scores["score_empty"])
    _store(folder, ids, probs_u8, judge, scores)
    return Evaluation(folder, ckpt_path, ids, probs, judge, scores, False)
