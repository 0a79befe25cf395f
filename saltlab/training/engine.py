"""The training loop: stages, validation every epoch, checkpoints, status, cancel and resume.

`train(config)` runs a complete, resumable training run into a run folder (see run_folder.py).
One process per device; under `torchrun` (WORLD_SIZE > 1) the same code runs DDP, each rank
taking its share of every epoch's batches, rank 0 validating and writing files.
SIGTERM / SIGINT finish the current step, save last.pt with the exact position and mark the
run cancelled; `resume` continues from there with the same batches, augmentations and LR an
uninterrupted run would have seen.

A stage with `swa_start` keeps a running average of its epoch-end weights (stochastic weight
averaging, Izmailov et al. 2018; the average travels in last.pt, so a resumed run loses none of
it); at the stage's end the averaged model's BatchNorm statistics are recomputed on the training
images and it is validated and saved as swa.pt.

A time budget (`minutes`) is planned once, before the first step: a few real training steps and
a validation batch are timed on a copy of the model, every stage's epochs (and swa_start) are
scaled to fill the budget, and config.json is rewritten with the plan (`planned`), so a resumed
run keeps it. Schedules that span their stage (onecycle) follow the new length. Should the
estimate be off, the run ends cleanly at the first epoch end where another epoch would not fit.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import socket
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from saltlab.runs.config import StageConfig, TrainConfig, from_dict, plan_epochs, scaled_swa_start
from saltlab.core.dataset import Dataset, check_training_data, load_dataset
from saltlab.core.sources import DataSetError
from saltlab.core.folds import FOLDS_VERSION, fold_split
from saltlab.models.losses import compute_loss
from saltlab.models import WeightsUnavailable, build_model
from saltlab.inference.pseudo import IGNORE, pseudo_training_data
from saltlab.runs.checkpoint import CheckpointError, clean_temp_files, load_checkpoint, save_checkpoint
from saltlab.training.data import epoch_batches, iterate_batches, make_train_data, resolve_pipeline, stratified_subset
from saltlab.core.scoring import empty_score, score_predictions
from saltlab.models.geometry import images_to_tensor
from saltlab.inference.network import forward_101, predict, resolve_device
from saltlab.runs.run_folder import RunBusy, RunFolder, new_run_dir, process_start
from saltlab.training.schedule import is_cycle_end, lr_at

log = logging.getLogger("saltlab.train")
BUDGET_MARGIN = 0.03  # the share of a time budget kept free when planning epochs


class Cancelled(Exception):
    pass


@dataclass
class Position:
    """Where the run stands: the epoch in progress (0-based, global over stages) and steps done in it."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: float = float("-inf")
    best_epoch: int | None = None
    elapsed_s: float = 0.0
    wall_s: float = 0.0  # wall time of the run's earlier sessions (the time budget counts it)
    history: list = field(default_factory=list)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _make_optimizer(stage: StageConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if stage.optimizer == "sgd":
        return torch.optim.SGD(params, lr=stage.lr, momentum=stage.momentum, weight_decay=stage.weight_decay)
    return torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay)


def _stage_of(config: TrainConfig, epoch: int) -> tuple[int, int]:
    """(stage index, first global epoch of that stage) for a global epoch."""
    start = 0
    for i, stage in enumerate(config.stages):
        if epoch < start + stage.epochs:
            return i, start
        start += stage.epochs
    return len(config.stages) - 1, start - config.stages[-1].epochs


def _setup_logging(run: RunFolder, rank: int) -> None:
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        log.removeHandler(handler)
    if rank != 0:
        log.addHandler(logging.NullHandler())
        return
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in (logging.FileHandler(run.log_path), logging.StreamHandler()):
        handler.setFormatter(formatter)
        log.addHandler(handler)
    log.propagate = False


# Failures whose message names the cause and the remedy: logged as one line.
EXPLAINED = (WeightsUnavailable, CheckpointError, DataSetError, FloatingPointError, RunBusy)


def _split(config: TrainConfig, ds: Dataset, checkpoint: dict | None) -> dict:
    """The ids the run trains on, holds out and validates on each epoch: the ones its checkpoint recorded
    when resuming, else its fold of the data set (limited to max_train_images / max_val_images), with the
    data set named."""
    recorded = checkpoint.get("split") if checkpoint else None
    if recorded:
        present = set(ds.train_ids)
        missing = [i for i in recorded["train_ids"] + recorded["monitor_ids"] if i not in present]
        if missing:
            raise ValueError(f"cannot resume: {len(missing)} of the run's images are no longer in {ds.root} "
                             f"(e.g. {missing[0]}); start a new run")  # fmt: skip
        return {**recorded, "data": str(ds.root), "fingerprint": ds.fingerprint}
    if checkpoint is not None:
        raise ValueError("cannot resume: this run's last.pt was written before runs recorded their split, and the "
                         "folds have changed since (folds v2); start a new run")  # fmt: skip
    train_ids, val_ids = fold_split(ds, config.fold, config.n_folds, config.fold_seed)
    train_pos, val_pos = ds.train_index(train_ids), ds.train_index(val_ids)
    keep_train = stratified_subset(train_ids, ds.train_masks[train_pos], config.max_train_images, config.seed)
    keep_val = stratified_subset(val_ids, ds.train_masks[val_pos], config.max_val_images, config.seed)
    return {
        "data": str(ds.root), "fingerprint": ds.fingerprint, "folds_version": FOLDS_VERSION, "fold": config.fold,
        "n_folds": config.n_folds, "fold_seed": config.fold_seed,
        "train_ids": [train_ids[i] for i in keep_train],
        "val_ids": val_ids,  # every image of the fold: none is trained on; evaluation scores these
        "monitor_ids": [val_ids[i] for i in keep_val],  # validated after every epoch (max_val_images)
    }  # fmt: skip


def _payload(model: nn.Module, optimizer, config: TrainConfig, pos: Position, stage_index: int, scores: dict,
             split: dict, swa: dict | None = None) -> dict:  # fmt: skip
    module = model.module if hasattr(model, "module") else model
    return {
        "split": split,
        "swa": swa,
        "config": config.to_dict(),
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "stage": stage_index,
        "epoch": pos.epoch,
        "step_in_epoch": pos.step_in_epoch,
        "global_step": pos.global_step,
        "best_score": pos.best_score if np.isfinite(pos.best_score) else None,
        "best_epoch": pos.best_epoch,
        "elapsed_s": pos.elapsed_s,
        "wall_s": pos.wall_s,
        "scores": scores,
        "history": pos.history,
    }


def swa_update(average: dict | None, model: nn.Module) -> dict:
    """Fold the model's current weights into a running average {"count": n, "state": {name: tensor}} (on the CPU)."""
    module = model.module if hasattr(model, "module") else model
    state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    if average is None:
        return {"count": 1, "state": {k: v.float() if v.is_floating_point() else v for k, v in state.items()}}
    n = average["count"]
    for key, value in state.items():
        if value.is_floating_point():
            average["state"][key] += (value.float() - average["state"][key]) / (n + 1)
        else:
            average["state"][key] = value  # counters such as BatchNorm's num_batches_tracked
    average["count"] = n + 1
    return average


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, images: np.ndarray, input_size: int, device: torch.device, batch_size: int,
                        amp: bool = False, channels_last: bool = True) -> None:  # fmt: skip
    """Set every BatchNorm's running statistics to their average over the images (the SWA 'bn_update')."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    for start in range(0, len(images), batch_size):
        x = images_to_tensor(images[start : start + batch_size]).to(device, non_blocking=True)
        forward_101(model, x, input_size, amp, channels_last)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def validate(
    model: nn.Module, images: np.ndarray | torch.Tensor, masks: np.ndarray, config: TrainConfig, device: torch.device,
    amp: bool, loss_name: str,
) -> dict:
    """Scores of the validation images: the competition score (judge-gated and oracle-gated for judge models)."""
    module = model.module if hasattr(model, "module") else model
    probs, judge = predict(module, images, config.model.input_size, device, batch_size=max(2 * config.batch_size, 32),
                           amp=amp, channels_last=config.channels_last)  # fmt: skip
    truth = masks
    named = {"score": "val_score", "mean_iou": "val_iou", "score_oracle": "val_score_oracle",
             "score_ungated": "val_score_ungated", "judge_accuracy": "judge_accuracy"}  # fmt: skip
    scores = {named[k]: v for k, v in score_predictions(probs, judge, truth, config.threshold).items()}
    scores["val_score_empty"] = empty_score(truth)
    with torch.no_grad():
        logits = torch.logit(torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)).unsqueeze(1)
        target = torch.from_numpy(truth).unsqueeze(1).float()
        outputs = {"mask": logits}
        if judge is not None:
            outputs["judge"] = torch.logit(torch.from_numpy(judge).clamp(1e-6, 1 - 1e-6))
        scores["val_loss"] = float(compute_loss(loss_name, outputs, target))
    return scores


def train(
    config: TrainConfig | dict,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    pending_signals: list[str] | None = None,
) -> RunFolder:
    """Run (or resume) a training run; returns its folder. Raises on failure (the run is marked failed).

    pending_signals: SIGTERM/SIGINT names received before this call (recorded by the CLI while
    it started up); the run then stops at its first chance, as if they came during training.
    """
    rank, world, local_rank = _dist_info()
    started = time.monotonic()
    if resume:
        if run_dir is None:
            raise ValueError("resume needs the run folder")
        run = RunFolder(run_dir)
        if not run.exists():
            raise FileNotFoundError(f"no run to resume at {run_dir} (config.json missing)")
        lock = run.acquire() if rank == 0 else None  # RunBusy while another trainer works on it
        config = from_dict(run.read_config())
    else:
        config = from_dict(config) if isinstance(config, dict) else config
        if rank == 0:  # before any folder exists: an unusable data set makes none
            config.data = str(check_training_data(config.data).root)
        run = RunFolder(run_dir or new_run_dir(config))
        if rank == 0:  # other ranks of a torchrun job only read; rank 0 creates the folder
            if run.exists():
                raise FileExistsError(f"{run.path} already holds a run; use resume, or another folder")
            run.path.mkdir(parents=True, exist_ok=True)
            run.config_path.write_text(config.to_json())
            run.write_status(created=time.time())
        lock = run.acquire() if rank == 0 else None
    _setup_logging(run, rank)

    # Until this session's first step is done there is nothing to save: a signal then stops the run at
    # once (while it loads data or compiles), not after the first step. Several ranks stop together instead.
    stop = {"signal": pending_signals[0] if pending_signals else None, "interruptible": world == 1}

    def on_signal(signum, _frame):
        stop["signal"] = signal.Signals(signum).name
        if stop["interruptible"]:
            raise Cancelled()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    if pending_signals and not stop["signal"]:
        stop["signal"] = pending_signals[0]  # arrived while the handlers were being swapped
    try:
        device = resolve_device(config.device)
        if world > 1:
            _init_distributed(device, local_rank)
            if device.type == "cuda":
                device = torch.device("cuda", local_rank)
        if rank == 0:
            run.write_status(state="running", pid=os.getpid(), pid_start=process_start(os.getpid()), host=socket.gethostname(), device=str(device),
                             started=time.time(), error=None, message="loading data", world_size=world)  # fmt: skip
        _run(config, run, resume, device, rank, world, stop, started)
        return run
    except Cancelled:
        if rank == 0:
            saved = "last.pt saved" if run.last_path.is_file() else "nothing trained yet"
            run.write_status(state="cancelled", message=f"cancelled by {stop['signal']}; {saved}", eta_s=None)
            log.info("cancelled by %s; %s, resume with --resume %s", stop["signal"], saved, run.path)
        return run
    except BaseException as exc:
        if rank == 0:
            if isinstance(exc, EXPLAINED):  # the message says it all; no traceback on the console
                log.error("run failed: %s", exc)
            else:
                log.error("run failed: %s\n%s", exc, traceback.format_exc())
            run.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", eta_s=None)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if lock is not None:
            os.close(lock)


def _finish_swa(model: nn.Module, swa: dict, train_images: np.ndarray | torch.Tensor, val_images: np.ndarray | torch.Tensor,
                val_masks: np.ndarray, config: TrainConfig, device: torch.device, amp: bool, stage: StageConfig, pos: Position,
                stage_index: int, run: RunFolder, split: dict) -> None:  # fmt: skip
    """The averaged weights, BatchNorm statistics recomputed on the training images, validated, saved as swa.pt."""
    run.write_status(message=f"SWA: BatchNorm statistics of the average of {swa['count']} epochs")
    module = model.module if hasattr(model, "module") else model
    averaged = copy.deepcopy(module)
    averaged.load_state_dict(swa["state"])
    recompute_batchnorm(averaged, train_images, config.model.input_size, device, max(2 * config.batch_size, 32), amp,
                        config.channels_last)  # fmt: skip
    scores = validate(averaged, val_images, val_masks, config, device, amp, stage.loss)
    scores["swa_epochs"] = swa["count"]
    save_checkpoint(run.path / "swa.pt", _payload(averaged, None, config, pos, stage_index, scores, split))
    run.append_metrics({"kind": "swa", "epoch": pos.epoch, "stage": stage.name, "time": time.time(), **scores})
    run.write_status(swa_score=scores["val_score"], swa_epochs=swa["count"])
    log.info("SWA of stage '%s' (%d epochs averaged): val score %.4f, val IoU %.4f -> swa.pt",
             stage.name, swa["count"], scores["val_score"], scores["val_iou"])  # fmt: skip


def _init_distributed(device: torch.device, local_rank: int) -> None:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend=backend)


def _any_rank(flag: bool, world: int, device: torch.device) -> bool:
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t)
    return bool(t.item() > 0)


def _check_ranks_agree(model: nn.Module, world: int, device: torch.device, epoch: int) -> None:
    """DDP keeps every rank's weights identical; a checksum per rank, gathered once an epoch, proves it
    (a rank that drifted would train on other weights while rank 0 saves its own)."""
    module = model.module if hasattr(model, "module") else model
    with torch.no_grad():
        total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1).to(device)
    sums = [torch.zeros_like(total) for _ in range(world)]
    torch.distributed.all_gather(sums, total)
    values = [float(t.item()) for t in sums]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise RuntimeError(f"the {world} ranks' weights differ after epoch {epoch} (checksums {values})")
    log.info("epoch %d: weights identical on all %d ranks (checksum %.6f)", epoch, world, values[0])


def _probe_seconds(model: nn.Module, trainset, val_images: np.ndarray | torch.Tensor, config: TrainConfig,
                   device: torch.device, amp: bool, workers: int) -> tuple[float, float]:  # fmt: skip
    """(seconds per training step, seconds per validation image), timed on a copy of the model.

    Two warm-up steps, then four timed ones with real batches of epoch 0 through the real loader;
    the run's own model, optimiser and random streams are untouched.
    """
    module = model.module if hasattr(model, "module") else model
    probe = copy.deepcopy(module)
    optimizer = _make_optimizer(config.stages[0], probe)
    batches = epoch_batches(len(trainset), config.batch_size, config.seed, 0)
    batches = (batches * 6)[:6]
    loader = iterate_batches(trainset, batches, workers, device)
    probe.train()
    loss_name = "bce" if config.stages[0].loss == "judge" else config.stages[0].loss
    for i in range(6):
        if i == 2:
            _sync(device)
            t0 = time.perf_counter()
        images, masks = next(loader)
        outputs = forward_101(probe, images, config.model.input_size, amp, config.channels_last)
        loss = compute_loss(loss_name, outputs, masks, config.aux_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    step_s = (time.perf_counter() - t0) / 4
    sample = val_images[: max(2 * config.batch_size, 32)]
    batch = max(2 * config.batch_size, 32)
    predict(probe, sample, config.model.input_size, device, batch, amp, config.channels_last)  # warm-up
    t0 = time.perf_counter()
    predict(probe, sample, config.model.input_size, device, batch, amp, config.channels_last)
    per_image = (time.perf_counter() - t0) / len(sample)
    del probe, optimizer
    return step_s, per_image


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plan_budget(config: TrainConfig, budget_s: float, epoch_s: float, fixed_s: float) -> list[int]:
    """Epochs per stage that fill budget_s: the configured proportions, at least one epoch each."""
    return plan_epochs([s.epochs for s in config.stages], int((budget_s - fixed_s) // epoch_s))


def _apply_plan(config: TrainConfig, epochs: list[int]) -> None:
    for stage, n in zip(config.stages, epochs):
        stage.swa_start = scaled_swa_start(stage.swa_start, stage.epochs, n)
        stage.epochs = n
    config.planned = True


def _run(config: TrainConfig, run: RunFolder, resume: bool, device: torch.device, rank: int, world: int, stop: dict,
         started: float) -> None:  # fmt: skip
    amp = config.amp if config.amp is not None else device.type == "cuda"
    workers = config.workers if config.workers is not None else (4 if device.type == "cuda" else 0)

    checkpoint = None
    if resume and run.last_path.is_file():
        if rank == 0:
            clean_temp_files(run.path)
        checkpoint = load_checkpoint(run.last_path)

    # Rank 0 first: it writes the data set cache and the folds file; the other ranks then read them.
    # Pseudo-labels likewise: rank 0 predicts and saves them, the others read the saved file.
    pseudo_images = pseudo_masks = None
    if rank == 0:
        ds = load_dataset(config.data)
        split = _split(config, ds, checkpoint)
        run.write_split(split)
        if config.pseudo:
            run.write_status(message="pseudo-labelling the test images")
            pseudo_images, pseudo_masks = pseudo_training_data(config.pseudo, run.path, ds, str(device))
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        ds = load_dataset(config.data)
        split = _split(config, ds, checkpoint)
        if config.pseudo:
            pseudo_images, pseudo_masks = pseudo_training_data(config.pseudo, run.path, ds, str(device))
    train_pos, val_pos = ds.train_index(split["train_ids"]), ds.train_index(split["monitor_ids"])
    train_images, train_masks = ds.train_images[train_pos], ds.train_masks[train_pos]
    val_images, val_masks = ds.train_images[val_pos], ds.train_masks[val_pos]
    if len(train_images) < 2 or len(val_images) < 1:
        raise ValueError(f"fold {config.fold} of {ds.root} leaves {len(train_images)} train and {len(val_images)} validation images: too few")
    n_pseudo = 0 if pseudo_images is None else len(pseudo_images)
    if n_pseudo:
        train_images = np.concatenate([train_images, pseudo_images])
        train_masks = np.concatenate([train_masks.astype(np.uint8), pseudo_masks])
    log.info("data %s: %d train%s, %d validation images (fold %d of %d); device %s, amp %s, workers %d",
             ds.root, len(train_images), f" ({n_pseudo} of them pseudo-labelled test images)" if n_pseudo else "",
             len(val_images), config.fold, config.n_folds, device, amp, workers)  # fmt: skip

    torch.manual_seed(config.seed)
    model = build_model(config.model)
    pos = Position()
    swa = None  # the running SWA average of the current stage, when it has swa_start
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        pos = Position(
            epoch=checkpoint["epoch"], step_in_epoch=checkpoint["step_in_epoch"], global_step=checkpoint["global_step"],
            best_score=checkpoint["best_score"] if checkpoint["best_score"] is not None else float("-inf"),
            best_epoch=checkpoint["best_epoch"], elapsed_s=checkpoint["elapsed_s"], history=list(checkpoint["history"]),
            wall_s=checkpoint.get("wall_s", 0.0),
        )  # fmt: skip
        swa = checkpoint.get("swa")
        log.info("resuming at epoch %d, step %d", pos.epoch + 1, pos.step_in_epoch)
    elif config.init_from:
        source = load_checkpoint(config.init_from)
        try:
            model.load_state_dict(source["model"])
        except RuntimeError as exc:
            raise CheckpointError(
                f"init_from {config.init_from} does not fit model {config.model.arch}/{config.model.encoder}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        log.info("weights initialised from %s", config.init_from)
    if resume and checkpoint is None:
        log.info("starting %s from the beginning (no last.pt yet)", run.path.name)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    pipeline = resolve_pipeline(config.pipeline, device)
    trainset = make_train_data(train_images, train_masks, config.augment, pipeline, device)
    if pipeline == "device":  # validation and SWA's BatchNorm pass read device-resident images too
        train_images, val_images = trainset.images, torch.from_numpy(val_images).to(device)
        log.info("data pipeline: device (the training set as one tensor on %s, augmented there in batches)", device)
    else:
        log.info("data pipeline: albumentations (per sample, %d DataLoader workers)", workers)
    steps_per_epoch = len(epoch_batches(len(trainset), config.batch_size, config.seed, 0, rank, world))
    budget_s = config.minutes * 60 if config.minutes else None
    epoch_estimate = swa_s = 0.0
    replan = False  # once, after the first whole epoch, if the probe's estimate was off by more than 10%
    if budget_s is not None and not config.planned:
        if rank == 0:
            run.write_status(message="timing a few steps to plan the time budget")
            step_s, val_per_image = _probe_seconds(model, trainset, val_images, config, device, amp, workers)
            epoch_estimate = steps_per_epoch * step_s + len(val_images) * val_per_image
            # SWA's BatchNorm pass: a forward over the training images, plus one more validation.
            swa_s = (len(train_images) + len(val_images)) * val_per_image if any(s.swa_start for s in config.stages) else 0.0
            fixed = time.monotonic() - started + swa_s + BUDGET_MARGIN * budget_s  # set-up so far, SWA, a margin
            wanted = [s.epochs for s in config.stages]
            _apply_plan(config, plan_budget(config, budget_s, epoch_estimate, fixed))
            replan = world == 1
            run.config_path.write_text(config.to_json())
            log.info("time budget %.1f min: %.3f s/step, %.1f s/epoch with validation -> epochs %s (asked %s)",
                     config.minutes, step_s, epoch_estimate, [s.epochs for s in config.stages], wanted)  # fmt: skip
            if fixed + epoch_estimate > budget_s:
                log.warning("time budget %.1f min is shorter than one epoch (about %.0f s with validation): the run "
                            "trains one epoch and stops, over budget", config.minutes, epoch_estimate)  # fmt: skip
            run.write_status(budget_s=budget_s, planned_epochs=[s.epochs for s in config.stages], epoch_estimate_s=epoch_estimate)
        if world > 1:
            torch.distributed.barrier()
            if rank != 0:
                config = from_dict(run.read_config())
    if config.compile:
        (model.module if world > 1 else model).compile()  # in place: the state_dict keeps its names
        log.info("torch.compile: on; the first training step and the first validation compile (timed apart)")
    wall_base = pos.wall_s  # earlier sessions of this run
    last_epoch_wall = epoch_estimate
    total_steps = steps_per_epoch * config.total_epochs
    if rank == 0:
        run.write_status(state="running", message="training", epochs=config.total_epochs, steps_per_epoch=steps_per_epoch,
                         total_steps=total_steps, n_train=len(train_images), n_val=len(val_images), n_pseudo=n_pseudo)  # fmt: skip

    train_seconds = 0.0  # time in this process's training loops (data + steps), validation excluded
    session_steps = 0
    val_seconds: list[float] = []
    optimizer = None
    current_stage = -1
    scores: dict = {}
    stopped_early = False
    while pos.epoch < config.total_epochs:
        if _any_rank(stop["signal"] is not None, world, device) and pos.global_step == 0:
            raise Cancelled()  # cancelled while starting: nothing trained, nothing to save
        wall_used = wall_base + time.monotonic() - started
        if replan and pos.epoch == 1 and abs(last_epoch_wall - epoch_estimate) > 0.1 * epoch_estimate:
            # The probe's timing was off (e.g. other work shares the machine): plan again from a real epoch.
            remaining = budget_s - wall_used - swa_s - BUDGET_MARGIN * budget_s
            _apply_plan(config, plan_epochs(wanted, pos.epoch + int(max(remaining, 0) // last_epoch_wall)))
            run.config_path.write_text(config.to_json())
            total_steps = steps_per_epoch * config.total_epochs
            run.write_status(planned_epochs=[s.epochs for s in config.stages], epochs=config.total_epochs, total_steps=total_steps)
            log.info("time budget: the first epoch took %.1f s, not the %.1f s estimated -> epochs %s",
                     last_epoch_wall, epoch_estimate, [s.epochs for s in config.stages])  # fmt: skip
        if pos.epoch >= 1:
            replan = False
        if pos.epoch >= config.total_epochs:
            break
        stage_index, stage_start = _stage_of(config, pos.epoch)
        stage = config.stages[stage_index]
        if budget_s is not None and pos.epoch > 0 and pos.step_in_epoch == 0 and _any_rank(
            wall_used + last_epoch_wall > budget_s, world, device
        ):
            stopped_early = True
            break
        if stage_index != current_stage:
            optimizer = _make_optimizer(stage, model)
            if checkpoint is not None and checkpoint["stage"] == stage_index and checkpoint["optimizer"] is not None:
                optimizer.load_state_dict(checkpoint["optimizer"])
            current_stage = stage_index
            log.info("stage %d/%d '%s': %d epochs, loss %s, %s lr %g, schedule %s",
                     stage_index + 1, len(config.stages), stage.name, stage.epochs, stage.loss, stage.optimizer,
                     stage.lr, stage.schedule.kind)  # fmt: skip
        batches = epoch_batches(len(trainset), config.batch_size, config.seed, pos.epoch, rank, world)
        loader = iterate_batches(trainset, batches[pos.step_in_epoch :], workers, device)
        model.train()
        loss_sum, loss_count = 0.0, 0
        epoch_start = time.monotonic()
        epoch_wall_start = epoch_start
        started_mid_epoch = pos.step_in_epoch > 0
        compile_s = 0.0  # this epoch's compiling, kept out of its time, its img/s and the budget's estimate
        for images, masks in loader:
            compiling = config.compile and session_steps == 0
            step_start = time.monotonic()
            t = (pos.epoch - stage_start) + pos.step_in_epoch / steps_per_epoch
            lr = lr_at(stage, t)
            for group in optimizer.param_groups:
                group["lr"] = lr
            outputs = forward_101(model, images, config.model.input_size, amp, config.channels_last)
            valid = (masks != IGNORE) if n_pseudo else None  # unconfident pseudo-label pixels do not count
            loss = compute_loss(stage.loss, outputs, masks, config.aux_weight, valid)
            loss_value = float(loss.detach())
            if not np.isfinite(loss_value):  # before the step: a NaN step is never applied
                raise FloatingPointError(f"loss became {loss_value} at epoch {pos.epoch + 1}, step {pos.step_in_epoch + 1}: lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stop["interruptible"] = False
            if compiling:
                _sync(device)
                compile_s = time.monotonic() - step_start
                epoch_start += compile_s
                log.info("torch.compile: the first training step took %.1f s (compiling the training graph)", compile_s)
                if rank == 0:
                    run.write_status(compile_s=compile_s)
            loss_sum += loss_value
            loss_count += 1
            pos.step_in_epoch += 1
            pos.global_step += 1
            session_steps += 1
            if rank == 0 and (pos.global_step % config.log_every == 0 or pos.step_in_epoch == steps_per_epoch):
                elapsed = train_seconds + time.monotonic() - epoch_start
                rate = session_steps / max(elapsed, 1e-9)
                remaining = total_steps - pos.global_step
                eta = remaining / rate + (np.mean(val_seconds) if val_seconds else 0) * (config.total_epochs - pos.epoch)
                run.append_metrics({"kind": "step", "epoch": pos.epoch + 1, "step": pos.global_step, "loss": loss_value,
                                    "lr": lr, "img_per_s": rate * config.batch_size * world, "time": time.time()})  # fmt: skip
                run.write_status(epoch=pos.epoch, step=pos.global_step, eta_s=eta, stage=stage.name, lr=lr, loss=loss_value)
            if _any_rank(stop["signal"] is not None, world, device):
                pos.elapsed_s += time.monotonic() - epoch_start
                pos.wall_s = wall_base + time.monotonic() - started
                if rank == 0:
                    save_checkpoint(run.last_path, _payload(model, optimizer, config, pos, stage_index, scores, split, swa))
                raise Cancelled()
        epoch_train_s = time.monotonic() - epoch_start  # the steps alone (data included, no validation)
        pos.elapsed_s += epoch_train_s
        train_seconds += epoch_train_s

        # End of epoch: validate, keep best, save last (and a snapshot at a cycle end).
        pos.epoch += 1
        pos.step_in_epoch = 0
        if rank == 0:
            run.write_status(message=f"validating epoch {pos.epoch}")
            v_start = time.monotonic()
            scores = validate(model, val_images, val_masks, config, device, amp, stage.loss)
            val_seconds.append(time.monotonic() - v_start)
            if config.compile and len(val_seconds) == 1:
                log.info("torch.compile: the first validation took %.1f s (compiling the inference graph)", val_seconds[0])
            scores["train_loss"] = loss_sum / max(loss_count, 1)
            improved = scores["val_score"] > pos.best_score
            if improved:
                pos.best_score, pos.best_epoch = scores["val_score"], pos.epoch
            record = {"kind": "epoch", "epoch": pos.epoch, "stage": stage.name, "lr": lr_at(stage, pos.epoch - stage_start),
                      "epoch_s": time.monotonic() - epoch_start, "train_s": epoch_train_s, "time": time.time(), **scores}  # fmt: skip
            if device.type == "cuda":
                record["gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            pos.history.append(record)
            run.append_metrics(record)
            extra = "".join(f", {k} {scores[k]:.4f}" for k in ("val_score_oracle", "judge_accuracy") if k in scores)
            speed = f"; training {epoch_train_s:.1f} s, {loss_count * config.batch_size * world / max(epoch_train_s, 1e-9):.0f} img/s"
            if "gpu_memory_gib" in record:
                speed += f", GPU memory peak {record['gpu_memory_gib']:.1f} GiB"
            log.info("epoch %d/%d: train loss %.4f, val loss %.4f, val score %.4f, val IoU %.4f%s%s%s",
                     pos.epoch, config.total_epochs, scores["train_loss"], scores["val_loss"], scores["val_score"],
                     scores["val_iou"], extra, " (best)" if improved else "", speed)  # fmt: skip
            in_stage = pos.epoch - stage_start  # epochs of this stage done
            if stage.swa_start is not None and in_stage >= stage.swa_start:
                swa = swa_update(swa, model)
            # best, snapshots and swa.pt are for inference: no optimiser state (it would triple their size).
            weights_only = _payload(model, None, config, pos, stage_index, scores, split)
            if improved:
                save_checkpoint(run.best_path, weights_only)
            if stage.snapshot_every_cycle and is_cycle_end(stage, in_stage - 1):
                save_checkpoint(run.path / f"snapshot-e{pos.epoch:03d}.pt", weights_only)
            if swa is not None and in_stage == stage.epochs:
                _finish_swa(model, swa, train_images, val_images, val_masks, config, device, amp, stage, pos, stage_index, run, split)
                swa = None
            # last.pt last: a kill before this line redoes the epoch on resume, and rewrites the same files.
            pos.wall_s = wall_base + time.monotonic() - started
            save_checkpoint(run.last_path, _payload(model, optimizer, config, pos, stage_index, scores, split, swa))
            run.write_status(epoch=pos.epoch, step=pos.global_step, best_score=pos.best_score, best_epoch=pos.best_epoch,
                             last_score=scores["val_score"], empty_score=scores["val_score_empty"],
                             wall_s=pos.wall_s, message="training")  # fmt: skip
        if not started_mid_epoch:  # a whole epoch, validation and checkpoints included: the guard's estimate
            last_epoch_wall = time.monotonic() - epoch_wall_start - compile_s
        if world > 1:
            torch.distributed.barrier()
            _check_ranks_agree(model, world, device, pos.epoch)
        if _any_rank(stop["signal"] is not None, world, device):
            raise Cancelled()

    if stopped_early and rank == 0:
        if swa is not None:  # the budget ended the SWA stage early: average what it has
            _finish_swa(model, swa, train_images, val_images, val_masks, config, device, amp, stage, pos, stage_index, run, split)
            swa = None
        pos.wall_s = wall_base + time.monotonic() - started
        save_checkpoint(run.last_path, _payload(model, optimizer, config, pos, stage_index, scores, split, swa))
        log.info("time budget: stopped after %d of %d planned epochs (%.0f s used of %.0f s)",
                 pos.epoch, config.total_epochs, pos.wall_s, budget_s)  # fmt: skip
    if rank == 0:
        pos.wall_s = wall_base + time.monotonic() - started
        message = f"done: time budget reached after {pos.epoch} of {config.total_epochs} epochs" if stopped_early else "done"
        run.write_status(state="done", eta_s=0, message=message, finished=time.time(), wall_s=pos.wall_s)
        log.info("done: best val score %.4f at epoch %s (all-empty score of these images %.4f), %.0f s",
                 pos.best_score, pos.best_epoch, empty_score(val_masks), pos.wall_s)  # fmt: skip
