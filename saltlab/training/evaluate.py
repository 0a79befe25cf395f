"""Evaluate a run's checkpoint on the validation fold it held out (or on a given labelled data set).

Per-image predictions (probabilities as uint8 0..255, the judge's probability) and the scores are
cached under RUN/eval/<key>/, the key a hash of the checkpoint file, the data fingerprint and the
options: a second evaluation with the same inputs does no inference, a changed checkpoint does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saltlab.analysis import threshold_sweep
from saltlab.config import from_dict
from saltlab.dataset import load_dataset
from saltlab.folds import fold_split
from saltlab.training.checkpoint import CheckpointError, load_checkpoint
from saltlab.scoring import empty_score, score_predictions
from saltlab.training.inference import load_model, predict, resolve_device
from saltlab.training.run_folder import write_json_atomic

EVAL_VERSION = 3  # 2: scores.json holds the threshold sweep's best


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


def evaluate_run(
    run: str | os.PathLike,
    checkpoint: str = "best",
    data: str | None = None,
    tta: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    progress=None,
    use_cache: bool = True,
) -> Evaluation:
    run_dir, ckpt_path = resolve_checkpoint(run, checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    config = from_dict(ckpt["config"])
    ds = load_dataset(data if data else config.data)
    if data:
        ids, subset = list(ds.train_ids), "all labelled images"
    else:
        _, ids = fold_split(ds, config.fold, config.n_folds, config.fold_seed)
        subset = f"validation fold {config.fold} of {config.n_folds}"
    if not ids:
        raise ValueError(f"{ds.root} has no labelled images to evaluate on")
    key_text = json.dumps([EVAL_VERSION, _file_hash(ckpt_path), ds.fingerprint, ids if data else subset, tta, config.threshold])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    folder = run_dir / "eval" / key
    positions = ds.train_index(ids)
    truth = ds.train_masks[positions]
    if use_cache and (folder / "scores.json").is_file() and (folder / "predictions.npz").is_file():
        try:
            with np.load(folder / "predictions.npz", allow_pickle=False) as z:
                probs = z["probs"].astype(np.float32) / 255.0
                judge = z["judge"].astype(np.float32) if "judge" in z.files else None
                cached_ids = z["ids"].tolist()
            if cached_ids == ids:
                scores = json.loads((folder / "scores.json").read_text())
                return Evaluation(folder, ckpt_path, ids, probs, judge, scores, True)
        except (OSError, ValueError, KeyError):
            pass  # predicted again below
    dev = resolve_device(device)
    model, _ = load_model(ckpt, dev)
    amp = dev.type == "cuda"
    probs, judge = predict(model, ds.train_images[positions], config.model.input_size, dev, batch_size, amp,
                           config.channels_last, tta, progress=(lambda d, t: progress("predict", d, t)) if progress else None)  # fmt: skip
    # Stored as uint8: 1/255 resolution is ample for thresholds and heat maps, and 4x smaller.
    probs_u8 = np.rint(probs * 255).astype(np.uint8)
    probs = probs_u8.astype(np.float32) / 255.0
    sweep = threshold_sweep(probs, judge, truth)
    best = sweep[sweep["best"]].iloc[0]
    scores = {
        **score_predictions(probs, judge, truth, config.threshold),
        "score_empty": empty_score(truth),
        "sweep_threshold": float(best["threshold"]), "sweep_score": float(best["score"]),
        "n_images": len(ids), "subset": subset, "checkpoint": str(ckpt_path), "epoch": ckpt.get("epoch"),
        "tta": tta, "threshold": config.threshold, "data": str(ds.root), "arch": config.model.arch,
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"ids": np.array(ids), "probs": probs_u8}
    if judge is not None:
        arrays["judge"] = judge.astype(np.float16)
    tmp = folder / "predictions.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, folder / "predictions.npz")
    write_json_atomic(folder / "scores.json", scores)
    return Evaluation(folder, ckpt_path, ids, probs, judge, scores, False)
