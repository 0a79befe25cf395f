"""A time budget (`minutes`): planned once, before the first step, and guarded at every epoch end.

A few real training steps and a validation batch are timed on a copy of the model, every stage's
epochs (and swa_start) are scaled to fill the budget, and config.json is rewritten with the plan
(`planned`), so a resumed run keeps it. Schedules that span their stage (onecycle) follow the new
length. After the first whole epoch the plan is made again if the estimate was off by more than 10%,
and after every later one if the epochs left would no longer fit, or two more would; the run ends
cleanly at the first epoch end where another epoch would not fit.
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import torch
from torch import nn

from saltlab.inference.network import forward_101, predict
from saltlab.models.losses import compute_loss
from saltlab.runs.config import TrainConfig, from_dict
from saltlab.runs.epoch_plan import plan_epochs, plan_remaining, scaled_swa_start
from saltlab.training.data import epoch_batches, iterate_batches
from saltlab.training.distributed import any_rank, sync, unwrap
from saltlab.training.schedule import make_optimizer
from saltlab.training.state import Session

log = logging.getLogger("saltlab.train")
MARGIN = 0.03  # the share of a time budget kept free when planning epochs


def probe_seconds(
    model: nn.Module,
    trainset,
    val_images: np.ndarray | torch.Tensor,
    config: TrainConfig,
    device: torch.device,
    amp: bool,
    workers: int,
) -> tuple[float, float]:
    """(seconds per training step, seconds per validation image), timed on a copy of the model.

    Two warm-up steps, then four timed ones with real batches of epoch 0 through the real loader;
    the run's own model, optimiser and random streams are untouched.
    """
    probe = copy.deepcopy(unwrap(model))
    optimizer = make_optimizer(config.stages[0], probe)
    batches = (epoch_batches(len(trainset), config.batch_size, config.seed, 0) * 6)[:6]
    loader = iterate_batches(trainset, batches, workers, device)
    probe.train()
    loss_name = "bce" if config.stages[0].loss == "judge" else config.stages[0].loss
    for i in range(6):
        if i == 2:
            sync(device)
            t0 = time.perf_counter()
        images, masks = next(loader)
        outputs = forward_101(probe, images, config.model.input_size, amp, config.channels_last)
        loss = compute_loss(loss_name, outputs, masks, config.aux_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    step_s = (time.perf_counter() - t0) / 4
    batch = max(2 * config.batch_size, 32)
    sample = val_images[:batch]
    predict(probe, sample, config.model.input_size, device, batch, amp, config.channels_last)  # warm-up
    t0 = time.perf_counter()
    predict(probe, sample, config.model.input_size, device, batch, amp, config.channels_last)
    per_image = (time.perf_counter() - t0) / len(sample)
    del probe, optimizer
    return step_s, per_image


def plan_budget(config: TrainConfig, budget_s: float, epoch_s: float, fixed_s: float) -> list[int]:
    """Epochs per stage that fill budget_s: the configured proportions, at least one epoch each."""
    return plan_epochs([s.epochs for s in config.stages], int((budget_s - fixed_s) // epoch_s))


def apply_plan(config: TrainConfig, epochs: list[int]) -> None:
    for stage, n in zip(config.stages, epochs):
        stage.swa_start = scaled_swa_start(stage.swa_start, stage.epochs, n)
        stage.epochs = n
    config.planned = True


def plan(s: Session) -> None:
    """Time a few steps and fit the epochs into the budget (rank 0; the other ranks read the plan)."""
    config, budget = s.config, s.budget
    budget.seconds = config.minutes * 60 if config.minutes else None
    if budget.seconds is None or config.planned:
        return
    if s.main:
        s.run.write_status(message="timing a few steps to plan the time budget")
        step_s, val_per_image = probe_seconds(
            s.model, s.data.trainset, s.data.val_images, config, s.device, s.amp, s.workers
        )
        budget.epoch_estimate = s.data.steps_per_epoch * step_s + len(s.data.val_images) * val_per_image
        # SWA's BatchNorm pass: a forward over the training images, plus one more validation.
        if any(stage.swa_start for stage in config.stages):
            budget.swa_s = (len(s.data.train_images) + len(s.data.val_images)) * val_per_image
        fixed = time.monotonic() - s.started + budget.swa_s + MARGIN * budget.seconds  # set-up so far, SWA, a margin
        budget.wanted = config.stage_epochs
        apply_plan(config, plan_budget(config, budget.seconds, budget.epoch_estimate, fixed))
        budget.replan = s.world == 1
        s.run.write_config(config)
        log.info(
            "time budget %.1f min: %.3f s/step, %.1f s/epoch with validation -> epochs %s (asked %s)",
            config.minutes,
            step_s,
            budget.epoch_estimate,
            config.stage_epochs,
            budget.wanted,
        )
        if fixed + budget.epoch_estimate > budget.seconds:
            log.warning(
                "time budget %.1f min is shorter than one epoch (about %.0f s with validation): the run "
                "trains one epoch and stops, over budget",
                config.minutes,
                budget.epoch_estimate,
            )
        s.run.write_status(
            budget_s=budget.seconds,
            planned_epochs=config.stage_epochs,
            epoch_estimate_s=budget.epoch_estimate,
        )
    if s.world > 1:
        torch.distributed.barrier()
        if not s.main:
            s.config = from_dict(s.run.read_config())


def replan(s: Session) -> None:
    """At an epoch's start, plan the epochs left again from the wall time of the last whole epochs
    (their median, up to three: `Budget.typical_epoch`).

    After the first epoch, when the probe's estimate was off by more than 10%, in either direction;
    later, whenever the epochs planned would no longer fit (the machine slowed down), shortening the
    stage under way and those after it, so every stage still runs and its schedule still decays
    (and SWA is still taken) before the budget ends, instead of the guard cutting the run short; and
    when two or more epochs more would fit (the probe was slow), lengthening them by all but one.
    """
    budget, config, pos = s.budget, s.config, s.pos
    if budget.seconds is None or s.world > 1 or pos.epoch == 0 or pos.step_in_epoch != 0 or budget.last_epoch_wall <= 0:
        return
    first = budget.replan and pos.epoch == 1
    budget.replan = False
    if first and abs(budget.last_epoch_wall - budget.epoch_estimate) <= 0.1 * budget.epoch_estimate:
        return
    epoch_s = budget.typical_epoch
    remaining = budget.seconds - s.wall_used(time.monotonic()) - budget.swa_s - MARGIN * budget.seconds
    total = pos.epoch + int(max(remaining, 0) // epoch_s)
    if not first and total > config.total_epochs:
        if total < config.total_epochs + 2:
            return
        total -= 1  # grow by all but one of the epochs that fit, so one slower epoch does not undo it at once
    if total == config.total_epochs:
        return
    planned = config.stage_epochs
    # A stage that averages no weights may end at once, leaving its epochs to the stages after it.
    epochs = plan_remaining(budget.wanted or planned, planned, pos.epoch, total, may_close=s.swa is None)
    if epochs == planned:
        return
    apply_plan(config, epochs)
    s.run.write_config(config)
    s.run.write_status(
        planned_epochs=epochs, epochs=config.total_epochs, total_steps=s.data.steps_per_epoch * config.total_epochs
    )
    log.info(
        "time budget: epochs take %.1f s (the last %.1f s) -> epochs %s (were %s)",
        epoch_s,
        budget.last_epoch_wall,
        epochs,
        planned,
    )


def out_of_time(s: Session) -> bool:
    """At an epoch's start: would another epoch end past the budget? (The same answer on every rank.)"""
    if s.budget.seconds is None or s.pos.epoch == 0 or s.pos.step_in_epoch != 0:
        return False
    return any_rank(s.wall_used(time.monotonic()) + s.budget.last_epoch_wall > s.budget.seconds, s.world, s.device)
