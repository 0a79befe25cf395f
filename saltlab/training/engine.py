"""The training loop: stages, validation every epoch, checkpoints, status, cancel and resume.

`train(config)` runs a complete, resumable training run into a run folder (saltlab.runs.run_folder),
in the shape of torchvision's reference scripts: `prepare_data`, `restore_model`, then per epoch
`train_one_epoch` and `end_of_epoch`, around a `Session` (training/state.py) that holds what the
process works with. Under `torchrun` (WORLD_SIZE > 1) the same code runs DDP (training/distributed.py).
SIGTERM / SIGINT finish the current step, save last.pt with the exact position and mark the run
cancelled (before the session's first step they stop it at once); `resume` continues from there with
the same batches, augmentations and LR an uninterrupted run would have seen.

A stage with `swa_start` keeps a running average of its epoch-end weights (training/swa.py); at the
stage's end the averaged model's BatchNorm statistics are recomputed on the training images and it is
validated and saved as swa.pt. A time budget (`minutes`) plans the epochs (training/budget.py).
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import socket
import time
import traceback

import numpy as np
import torch
from torch import nn

from saltlab.core.dataset import Dataset, check_training_data, load_dataset
from saltlab.core.errors import SaltLabError
from saltlab.core.folds import FOLDS_VERSION, fold_split
from saltlab.core.scoring import empty_score, score_predictions
from saltlab.inference.network import forward_101, predict, resolve_device
from saltlab.inference.pseudo import IGNORE, pseudo_training_data
from saltlab.models import build_model
from saltlab.models.losses import compute_loss
from saltlab.runs.checkpoint import CheckpointError, clean_temp_files, load_checkpoint, save_checkpoint
from saltlab.runs.config import TrainConfig, from_dict
from saltlab.runs.epoch_plan import stage_at
from saltlab.runs.run_folder import RunFolder, hold_slot, new_run_dir, process_start, slot_name
from saltlab.training import budget
from saltlab.training.data import epoch_batches, iterate_batches, make_train_data, resolve_pipeline, stratified_subset
from saltlab.training.distributed import any_rank, check_ranks_agree, dist_info, init_distributed, sync, unwrap
from saltlab.training.reporter import report_epoch, report_step, setup_logging, status
from saltlab.training.schedule import is_cycle_end, lr_at, make_optimizer
from saltlab.training.state import Position, Session, TrainingData
from saltlab.training.swa import recompute_batchnorm, swa_update

log = logging.getLogger("saltlab.train")

# Failures whose message names the cause and the remedy: logged as one line.
EXPLAINED = (SaltLabError, FloatingPointError)


class Cancelled(Exception):
    pass


class RunDataError(SaltLabError, ValueError):
    """The run's images cannot be had: gone since it was saved, or too few in its fold."""


def record_split(config: TrainConfig, ds: Dataset, checkpoint: dict | None) -> dict:
    """The ids the run trains on, holds out and validates on each epoch: the ones its checkpoint recorded
    when resuming, else its fold of the data set (limited to max_train_images / max_val_images), with the
    data set named."""
    recorded = checkpoint.get("split") if checkpoint else None
    if recorded:
        present = set(ds.train_ids)
        missing = [i for i in recorded["train_ids"] + recorded["monitor_ids"] if i not in present]
        if missing:
            raise RunDataError(
                f"cannot resume: {len(missing)} of the run's images are no longer in {ds.root} "
                f"(e.g. {missing[0]}); start a new run"
            )
        return {**recorded, "data": str(ds.root), "fingerprint": ds.fingerprint}
    if checkpoint is not None:
        raise RunDataError(
            "cannot resume: this run's last.pt was written before runs recorded their split, and the "
            "folds have changed since (folds v2); start a new run"
        )
    train_ids, val_ids = fold_split(ds, config.fold, config.n_folds, config.fold_seed)
    excluded: list[str] = []
    if config.exclude_ids:
        unknown = sorted(set(config.exclude_ids) - set(ds.train_ids))
        if unknown:
            raise RunDataError(
                f"exclude_ids: {len(unknown)} ids are not labelled images of {ds.root} (e.g. {unknown[0]})"
            )
        left_out = set(config.exclude_ids)
        excluded = sorted(left_out & set(train_ids))
        train_ids = [i for i in train_ids if i not in left_out]
    train_pos, val_pos = ds.train_index(train_ids), ds.train_index(val_ids)
    keep_train = stratified_subset(train_ids, ds.train_masks[train_pos], config.max_train_images, config.seed)
    keep_val = stratified_subset(val_ids, ds.train_masks[val_pos], config.max_val_images, config.seed)
    return {
        "data": str(ds.root),
        "fingerprint": ds.fingerprint,
        "folds_version": FOLDS_VERSION,
        "fold": config.fold,
        "n_folds": config.n_folds,
        "fold_seed": config.fold_seed,
        "train_ids": [train_ids[i] for i in keep_train],
        "val_ids": val_ids,  # every image of the fold: none is trained on; evaluation scores these
        "monitor_ids": [val_ids[i] for i in keep_val],  # validated after every epoch (max_val_images)
        "excluded_ids": excluded,  # left out of the training folds (suspect labels); the validation fold keeps its own
    }


def payload(s: Session, model: nn.Module | None = None, with_optimizer: bool = True, with_swa: bool = True) -> dict:
    """A checkpoint of the session (of `model` instead of the session's, e.g. the SWA average)."""
    pos = s.pos
    return {
        "split": s.data.split,
        "swa": s.swa if with_swa else None,
        "config": s.config.to_dict(),
        "model": unwrap(model if model is not None else s.model).state_dict(),
        "optimizer": s.optimizer.state_dict() if with_optimizer and s.optimizer is not None else None,
        "stage": s.stage_index,
        "epoch": pos.epoch,
        "step_in_epoch": pos.step_in_epoch,
        "global_step": pos.global_step,
        "best_score": pos.best_score if np.isfinite(pos.best_score) else None,
        "best_epoch": pos.best_epoch,
        "elapsed_s": pos.elapsed_s,
        "wall_s": pos.wall_s,
        "scores": s.scores,
        "history": pos.history,
    }


def weights_only(s: Session, model: nn.Module | None = None) -> dict:
    """best.pt, snapshots and swa.pt are for inference: no optimiser state (it would triple their size), no SWA."""
    return payload(s, model, with_optimizer=False, with_swa=False)


def validate(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    masks: np.ndarray,
    config: TrainConfig,
    device: torch.device,
    amp: bool,
    loss_name: str,
) -> dict:
    """Scores of the validation images: the competition score (judge-gated and oracle-gated for judge models)."""
    probs, judge = predict(
        unwrap(model),
        images,
        config.model.input_size,
        device,
        batch_size=max(2 * config.batch_size, 32),
        amp=amp,
        channels_last=config.channels_last,
    )
    truth = masks
    named = {
        "score": "val_score",
        "mean_iou": "val_iou",
        "score_oracle": "val_score_oracle",
        "score_ungated": "val_score_ungated",
        "judge_accuracy": "judge_accuracy",
    }
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


def _split_and_pseudo(
    config: TrainConfig, run: RunFolder, checkpoint: dict | None, device: torch.device, rank: int, world: int
):
    """The data set, the run's split and its pseudo-labelled test images (None, None without).

    Rank 0 first: it writes the data set cache and the folds file; the other ranks then read them.
    Pseudo-labels likewise: rank 0 predicts and saves them, the others read the saved file.
    """
    pseudo_images = pseudo_masks = None
    if rank == 0:
        ds = load_dataset(config.data)
        split = record_split(config, ds, checkpoint)
        run.write_split(split)
        if config.pseudo:
            run.write_status(message="pseudo-labelling the test images")
            pseudo_images, pseudo_masks = pseudo_training_data(config.pseudo, run.path, ds, str(device))
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        ds = load_dataset(config.data)
        split = record_split(config, ds, checkpoint)
        if config.pseudo:
            pseudo_images, pseudo_masks = pseudo_training_data(config.pseudo, run.path, ds, str(device))
    return ds, split, pseudo_images, pseudo_masks


def _log_data(config, ds, split, n_train: int, n_val: int, n_pseudo: int, device, amp: bool, workers: int) -> None:
    log.info(
        "data %s: %d train%s, %d validation images (fold %d of %d); device %s, amp %s, workers %d",
        ds.root,
        n_train,
        (f" ({n_pseudo} of them pseudo-labelled test images)" if n_pseudo else "")
        + (f"; {len(split.get('excluded_ids', []))} suspect labels left out" if split.get("excluded_ids") else ""),
        n_val,
        config.fold,
        config.n_folds,
        device,
        amp,
        workers,
    )


def prepare_data(
    config: TrainConfig,
    run: RunFolder,
    checkpoint: dict | None,
    device: torch.device,
    rank: int,
    world: int,
    amp: bool,
    workers: int,
) -> TrainingData:
    """The split (recorded in split.json), the images it names, pseudo-labels, and the training set in its
    pipeline (see _split_and_pseudo for the order of the ranks)."""
    ds, split, pseudo_images, pseudo_masks = _split_and_pseudo(config, run, checkpoint, device, rank, world)
    train_pos, val_pos = ds.train_index(split["train_ids"]), ds.train_index(split["monitor_ids"])
    train_images, train_masks = ds.train_images[train_pos], ds.train_masks[train_pos]
    val_images, val_masks = ds.train_images[val_pos], ds.train_masks[val_pos]
    if len(train_images) < 2 or len(val_images) < 1:
        raise RunDataError(
            f"fold {config.fold} of {ds.root} leaves {len(train_images)} train and {len(val_images)} "
            "validation images: too few"
        )
    n_pseudo = 0 if pseudo_images is None else len(pseudo_images)
    if n_pseudo:
        train_images = np.concatenate([train_images, pseudo_images])
        train_masks = np.concatenate([train_masks.astype(np.uint8), pseudo_masks])
    _log_data(config, ds, split, len(train_images), len(val_images), n_pseudo, device, amp, workers)
    pipeline = resolve_pipeline(config.pipeline)
    trainset = make_train_data(train_images, train_masks, config.augment, pipeline, device)
    if pipeline == "device":  # validation and SWA's BatchNorm pass read device-resident images too
        train_images, val_images = trainset.images, torch.from_numpy(val_images).to(device)
        log.info("data pipeline: device (the training set as one tensor on %s, augmented there in batches)", device)
    else:
        log.info("data pipeline: albumentations (per sample, %d DataLoader workers)", workers)
    steps = len(epoch_batches(len(trainset), config.batch_size, config.seed, 0, rank, world))
    return TrainingData(split, train_images, train_masks, val_images, val_masks, trainset, steps, n_pseudo)


def restore_model(
    config: TrainConfig, checkpoint: dict | None, device: torch.device, world: int
) -> tuple[nn.Module, Position, dict | None]:
    """The model (from last.pt when resuming, else fresh or from init_from) on the device,
    its position and SWA average."""
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    pos, swa = Position(), None
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        pos = Position.from_checkpoint(checkpoint)
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
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, pos, swa


def start_stage(s: Session, stage_index: int) -> None:
    """A new optimiser for the stage (its state from last.pt when the run was saved in this stage)."""
    s.optimizer = make_optimizer(s.config.stages[stage_index], s.model)
    checkpoint = s.checkpoint
    if checkpoint is not None and checkpoint["stage"] == stage_index and checkpoint["optimizer"] is not None:
        s.optimizer.load_state_dict(checkpoint["optimizer"])
    s.stage_index = stage_index
    stage = s.stage
    log.info(
        "stage %d/%d '%s': %d epochs, loss %s, %s lr %g, schedule %s",
        stage_index + 1,
        len(s.config.stages),
        stage.name,
        stage.epochs,
        stage.loss,
        stage.optimizer,
        stage.lr,
        stage.schedule.kind,
    )


def _check_finite(loss_value: float, pos: Position, steps_ago: int = 0) -> None:
    """Raise when the loss (or a sum of losses) read back is not finite; steps_ago=1 once the step counter moved on."""
    if not np.isfinite(loss_value):
        where = f"epoch {pos.epoch + 1}, step {pos.step_in_epoch + 1 - steps_ago}"
        raise FloatingPointError(f"loss became {loss_value} at {where}: lower the learning rate")


def _reads_loss_now(s: Session) -> bool:
    """Whether this step reads its loss back to the host. On the CPU every step does (it costs nothing
    there, and a non-finite loss is then caught before its backward pass); on a GPU only the steps
    that report, so the device is not made to wait on every step (issue 25: the host sync of a
    per-step read cost about 20% of a bare loop's speed at batch 128 on an H100)."""
    if s.device.type != "cuda":
        return True
    pos, every = s.pos, s.config.log_every
    return (pos.global_step + 1) % every == 0 or pos.step_in_epoch + 1 == s.data.steps_per_epoch


def train_one_epoch(s: Session, stage_start: int) -> tuple[float, int, float, float]:
    """The epoch's remaining steps: (mean loss, steps done, seconds of training, seconds of compiling in it).

    A stop request saves last.pt at the exact step and raises Cancelled. The epoch's losses are summed
    on the device and read back only on reporting steps (on a GPU; every step on the CPU). A non-finite
    loss raises: on the CPU before its backward pass, so a bad step is never applied; on a GPU at the
    next read (at most log_every steps later), and always before any checkpoint is written.
    """
    config, pos, stage = s.config, s.pos, s.stage
    batches = epoch_batches(len(s.data.trainset), config.batch_size, config.seed, pos.epoch, s.rank, s.world)
    s.model.train()
    loss_sum, loss_count, unread = torch.zeros((), device=s.device), 0, 0
    epoch_start = time.monotonic()
    compile_s = 0.0
    for images, masks in iterate_batches(s.data.trainset, batches[pos.step_in_epoch :], s.workers, s.device):
        compiling = config.compile and s.session_steps == 0
        step_start = time.monotonic()
        lr = lr_at(stage, (pos.epoch - stage_start) + pos.step_in_epoch / s.data.steps_per_epoch)
        for group in s.optimizer.param_groups:
            group["lr"] = lr
        outputs = forward_101(s.model, images, config.model.input_size, s.amp, config.channels_last)
        valid = (masks != IGNORE) if s.data.n_pseudo else None  # unconfident pseudo-label pixels do not count
        loss = compute_loss(stage.loss, outputs, masks, config.aux_weight, valid)
        loss_sum += loss.detach().float()
        unread += 1
        loss_value = float("nan")
        if _reads_loss_now(s):
            # The sum carries any earlier non-finite loss of the epoch, so checking it checks them all.
            loss_value = float(loss.detach())
            _check_finite(float(loss_sum), pos)
            unread = 0
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        s.optimizer.step()
        s.stop["interruptible"] = False
        if compiling:
            sync(s.device)
            compile_s = time.monotonic() - step_start
            epoch_start += compile_s  # compiling is kept out of the epoch's time, its img/s and the budget's estimate
            log.info("torch.compile: the first training step took %.1f s (compiling the training graph)", compile_s)
            status(s, compile_s=compile_s)
        loss_count += 1
        pos.step_in_epoch += 1
        pos.global_step += 1
        s.session_steps += 1
        report_step(s, lr, loss_value, time.monotonic() - epoch_start)
        if any_rank(s.stop["signal"] is not None, s.world, s.device):
            if unread:
                _check_finite(float(loss_sum), pos, steps_ago=1)  # never save weights a bad step touched
            pos.elapsed_s += time.monotonic() - epoch_start
            pos.wall_s = s.wall_used(time.monotonic())
            if s.main:
                save_checkpoint(s.run.last_path, payload(s))
            raise Cancelled()
    mean_loss = float(loss_sum) / max(loss_count, 1)
    _check_finite(mean_loss, pos, steps_ago=1)
    train_s = time.monotonic() - epoch_start  # the steps alone (data included, no validation)
    pos.elapsed_s += train_s
    s.train_seconds += train_s
    return mean_loss, loss_count, train_s, compile_s


def end_of_epoch(
    s: Session, stage_start: int, train_loss: float, steps_done: int, train_s: float, epoch_start: float
) -> None:
    """Validate, keep the best, fold the weights into SWA, save best / snapshot / swa / last (rank 0)."""
    config, pos, stage = s.config, s.pos, s.stage
    pos.epoch += 1
    pos.step_in_epoch = 0
    if not s.main:
        return
    s.run.write_status(message=f"validating epoch {pos.epoch}")
    v_start = time.monotonic()
    s.scores = validate(s.model, s.data.val_images, s.data.val_masks, config, s.device, s.amp, stage.loss)
    s.val_seconds.append(time.monotonic() - v_start)
    if config.compile and len(s.val_seconds) == 1:
        log.info("torch.compile: the first validation took %.1f s (compiling the inference graph)", s.val_seconds[0])
    s.scores["train_loss"] = train_loss
    improved = s.scores["val_score"] > pos.best_score
    if improved:
        pos.best_score, pos.best_epoch = s.scores["val_score"], pos.epoch
    record = {
        "kind": "epoch",
        "epoch": pos.epoch,
        "stage": stage.name,
        "lr": lr_at(stage, pos.epoch - stage_start),
        "epoch_s": time.monotonic() - epoch_start,
        "train_s": train_s,
        "time": time.time(),
        **s.scores,
    }
    if s.device.type == "cuda":
        record["gpu_memory_gib"] = torch.cuda.max_memory_allocated(s.device) / 2**30
    pos.history.append(record)
    report_epoch(s, record, improved, steps_done, train_s)
    in_stage = pos.epoch - stage_start  # epochs of this stage done
    if stage.swa_start is not None and in_stage >= stage.swa_start:
        s.swa = swa_update(s.swa, s.model)
    if improved:
        save_checkpoint(s.run.best_path, weights_only(s))
    if stage.snapshot_every_cycle and is_cycle_end(stage, in_stage - 1):
        save_checkpoint(s.run.path / f"snapshot-e{pos.epoch:03d}.pt", weights_only(s))
    if s.swa is not None and in_stage == stage.epochs:
        finish_swa(s)
    # last.pt last: a kill before this line redoes the epoch on resume, and rewrites the same files.
    pos.wall_s = s.wall_used(time.monotonic())
    save_checkpoint(s.run.last_path, payload(s))
    s.run.write_status(
        epoch=pos.epoch,
        step=pos.global_step,
        best_score=pos.best_score,
        best_epoch=pos.best_epoch,
        last_score=s.scores["val_score"],
        empty_score=s.scores["val_score_empty"],
        wall_s=pos.wall_s,
        message="training",
    )


def finish_swa(s: Session) -> None:
    """The averaged weights, BatchNorm statistics recomputed on the training images, validated, saved as swa.pt."""
    config, swa, stage = s.config, s.swa, s.stage
    s.run.write_status(message=f"SWA: BatchNorm statistics of the average of {swa['count']} epochs")
    averaged = copy.deepcopy(unwrap(s.model))
    averaged.load_state_dict(swa["state"])
    recompute_batchnorm(
        averaged,
        s.data.train_images,
        config.model.input_size,
        s.device,
        max(2 * config.batch_size, 32),
        s.amp,
        config.channels_last,
    )
    scores = validate(averaged, s.data.val_images, s.data.val_masks, config, s.device, s.amp, stage.loss)
    scores["swa_epochs"] = swa["count"]
    checkpoint = weights_only(s, averaged)
    checkpoint["scores"] = scores
    save_checkpoint(s.run.path / "swa.pt", checkpoint)
    s.run.append_metrics({"kind": "swa", "epoch": s.pos.epoch, "stage": stage.name, "time": time.time(), **scores})
    s.run.write_status(swa_score=scores["val_score"], swa_epochs=swa["count"])
    log.info(
        "SWA of stage '%s' (%d epochs averaged): val score %.4f, val IoU %.4f -> swa.pt",
        stage.name,
        swa["count"],
        scores["val_score"],
        scores["val_iou"],
    )
    s.swa = None


def _open_run(
    config: TrainConfig | dict, run_dir: str | os.PathLike | None, resume: bool, rank: int
) -> tuple[RunFolder, TrainConfig, int | None]:
    """The run folder (made, with its config, for a new run; read for a resume), its config, and its lock
    (RunBusy while another trainer works on it; None on ranks other than 0)."""
    if resume:
        if run_dir is None:
            raise ValueError("resume needs the run folder")
        run = RunFolder(run_dir)
        if not run.exists():
            raise FileNotFoundError(f"no run to resume at {run_dir} (config.json missing)")
        lock = run.acquire() if rank == 0 else None
        return run, from_dict(run.read_config()), lock
    config = from_dict(config) if isinstance(config, dict) else config
    if rank == 0:  # before any folder exists: an unusable data set makes none
        config.data = str(check_training_data(config.data).root)
    run = RunFolder(run_dir or new_run_dir(config))
    if rank == 0:  # other ranks of a torchrun job only read; rank 0 creates the folder
        if run.exists():
            raise FileExistsError(f"{run.path} already holds a run; use resume, or another folder")
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_config(config)
        run.write_status(created=time.time())
    return run, config, run.acquire() if rank == 0 else None


def _signal_handlers(pending_signals: list[str] | None, world: int) -> tuple[dict, dict]:
    """Install the SIGTERM/SIGINT handlers; returns the stop record and the handlers they replaced.

    Until this session's first step is done there is nothing to save: a signal then stops the run at
    once (while it loads data or compiles), not after the first step. Several ranks stop together instead.
    """
    stop = {"signal": pending_signals[0] if pending_signals else None, "interruptible": world == 1}

    def on_signal(signum, _frame):
        stop["signal"] = signal.Signals(signum).name
        if stop["interruptible"]:
            raise Cancelled()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    if pending_signals and not stop["signal"]:
        stop["signal"] = pending_signals[0]  # arrived while the handlers were being swapped
    return stop, previous


def _mark_running(run: RunFolder, device: torch.device, world: int) -> None:
    run.write_status(
        state="running",
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        host=socket.gethostname(),
        device=str(device),
        # The device's slot in the queue (jobs.launcher): a run started from the command line holds
        # it too, so the app's queue waits behind it instead of starting a second trainer.
        slot=slot_name(device),
        started=time.time(),
        error=None,
        message="loading data",
        world_size=world,
    )


def _was_cancelled(exc: BaseException, stop: dict) -> bool:
    """Raised from the signal handler before the first step, Cancelled may arrive wrapped by the code it
    interrupted (torch.compile wraps it in its own error): a signal then means the run was cancelled."""
    return isinstance(exc, Cancelled) or bool(stop["signal"] and stop["interruptible"] and isinstance(exc, Exception))


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
    rank, world, local_rank = dist_info()
    started = time.monotonic()
    run, config, lock = _open_run(config, run_dir, resume, rank)
    setup_logging(run, rank)
    stop, previous = _signal_handlers(pending_signals, world)
    slot_fd = None
    try:
        device = resolve_device(config.device)
        if world > 1:
            init_distributed(device, local_rank)
            if device.type == "cuda":
                device = torch.device("cuda", local_rank)
        if rank == 0:
            slot_fd = hold_slot(slot_name(device))
            _mark_running(run, device, world)
        _run(config, run, resume, device, rank, world, stop, started)
        return run
    except BaseException as exc:
        if not _was_cancelled(exc, stop):
            _fail(run, rank, exc)
            raise
        if rank == 0:
            saved = "last.pt saved" if run.last_path.is_file() else "nothing trained yet"
            run.write_status(state="cancelled", message=f"cancelled by {stop['signal']}; {saved}", eta_s=None)
            log.info("cancelled by %s; %s, resume with --resume %s", stop["signal"], saved, run.path)
        return run
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for fd in (lock, slot_fd):
            if fd is not None:
                os.close(fd)


def _fail(run: RunFolder, rank: int, exc: BaseException) -> None:
    if rank == 0:
        if isinstance(exc, EXPLAINED):  # the message says it all; no traceback on the console
            log.error("run failed: %s", exc)
        else:
            log.error("run failed: %s\n%s", exc, traceback.format_exc())
        run.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", eta_s=None)


def _run(
    config: TrainConfig,
    run: RunFolder,
    resume: bool,
    device: torch.device,
    rank: int,
    world: int,
    stop: dict,
    started: float,
) -> None:
    amp = config.amp if config.amp is not None else device.type == "cuda"
    workers = config.workers if config.workers is not None else (4 if device.type == "cuda" else 0)
    checkpoint = None
    if resume and run.last_path.is_file():
        if rank == 0:
            clean_temp_files(run.path, before=time.time() - (time.monotonic() - started))
        checkpoint = load_checkpoint(run.last_path)
    data = prepare_data(config, run, checkpoint, device, rank, world, amp, workers)
    model, pos, swa = restore_model(config, checkpoint, device, world)
    if resume and checkpoint is None:
        log.info("starting %s from the beginning (no last.pt yet)", run.path.name)
    s = Session(
        config,
        run,
        device,
        rank,
        world,
        amp,
        workers,
        stop,
        started,
        data,
        model,
        pos,
        swa,
        checkpoint,
        wall_base=pos.wall_s,
    )
    budget.plan(s)
    if s.config.compile:
        unwrap(s.model).compile()  # in place: the state_dict keeps its names
        log.info("torch.compile: on; the first training step and the first validation compile (timed apart)")
    _announce(s)
    finish(s, _epochs(s))


def _announce(s: Session) -> None:
    """The planned run in status.json, read by the Train page (the other ranks read the plan from config.json)."""
    config, data = s.config, s.data
    status(
        s,
        state="running",
        message="training",
        epochs=config.total_epochs,
        steps_per_epoch=data.steps_per_epoch,
        total_steps=data.steps_per_epoch * config.total_epochs,
        n_train=len(data.train_images),
        n_val=len(data.val_images),
        n_pseudo=data.n_pseudo,
    )


def _epochs(s: Session) -> bool:
    """Train epoch after epoch to the planned end; True when the time budget stopped the run early."""
    stop, world, device = s.stop, s.world, s.device
    while s.pos.epoch < s.config.total_epochs:
        if any_rank(stop["signal"] is not None, world, device) and s.pos.global_step == 0:
            raise Cancelled()  # cancelled while starting: nothing trained, nothing to save
        budget.replan(s)
        if s.pos.epoch >= s.config.total_epochs:
            break
        stage_index, stage_start = stage_at(s.config.stage_epochs, s.pos.epoch)
        if budget.out_of_time(s):
            return True
        if stage_index != s.stage_index:
            start_stage(s, stage_index)
        epoch_start = time.monotonic()
        started_mid_epoch = s.pos.step_in_epoch > 0
        train_loss, steps_done, train_s, compile_s = train_one_epoch(s, stage_start)
        end_of_epoch(s, stage_start, train_loss, steps_done, train_s, epoch_start + compile_s)
        if not started_mid_epoch:  # a whole epoch, validation and checkpoints included: the guard's estimate
            s.budget.record_epoch(time.monotonic() - epoch_start - compile_s)
        if world > 1:
            torch.distributed.barrier()
            check_ranks_agree(s.model, world, device, s.pos.epoch)
        if any_rank(stop["signal"] is not None, world, device):
            raise Cancelled()
    return False


def finish(s: Session, stopped_early: bool) -> None:
    """The end: SWA of a stage the budget cut short, last.pt, the status and the closing log line."""
    if not s.main:
        return
    pos = s.pos
    if stopped_early:
        if s.swa is None and pos.epoch > 0:
            index, start = stage_at(s.config.stage_epochs, pos.epoch - 1)  # the last epoch's stage
            stage = s.config.stages[index]
            if stage.swa_start is not None and pos.epoch - start < stage.epochs:  # cut before its averaging began
                s.swa = swa_update(None, s.model)  # its last weights
        if s.swa is not None:  # the budget ended the SWA stage early: average what it has
            finish_swa(s)
        pos.wall_s = s.wall_used(time.monotonic())
        save_checkpoint(s.run.last_path, payload(s))
        log.info(
            "time budget: stopped after %d of %d planned epochs (%.0f s used of %.0f s)",
            pos.epoch,
            s.config.total_epochs,
            pos.wall_s,
            s.budget.seconds,
        )
    pos.wall_s = s.wall_used(time.monotonic())
    message = (
        f"done: time budget reached after {pos.epoch} of {s.config.total_epochs} epochs" if stopped_early else "done"
    )
    s.run.write_status(state="done", eta_s=0, message=message, finished=time.time(), wall_s=pos.wall_s)
    log.info(
        "done: best val score %.4f at epoch %s (all-empty score of these images %.4f), %.0f s",
        pos.best_score,
        pos.best_epoch,
        empty_score(s.data.val_masks),
        pos.wall_s,
    )
