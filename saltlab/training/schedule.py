"""A stage's optimiser, and learning-rate schedules as pure functions of the position in a stage
(in epochs, fractional).

Being pure, the schedule needs no state in the checkpoint: a resumed run lands on the same LR.
- constant: the stage lr.
- cyclic "triangular2" (Smith 2017): from lr up to max_lr and back over `cycle_epochs`, the
  amplitude halving every cycle.
- cosine with warm restarts (SGDR): from max_lr (default: lr) down to min_lr over each cycle,
  then back up: the end of each cycle is a snapshot for snapshot ensembles.
- onecycle: linear warm-up from min_lr to max_lr (default: lr) over the first `warmup` share of
  the stage, then one cosine decay to min_lr at the stage's end. It spans the stage whatever its
  length, so a time budget that rescales the epochs rescales the schedule with them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from saltlab.runs.config import OPTIMIZERS as OPTIMIZER_NAMES
from saltlab.runs.config import SCHEDULES, StageConfig

OPTIMIZERS = {
    "adam": lambda params, stage: torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay),
    "sgd": lambda params, stage: torch.optim.SGD(
        params, lr=stage.lr, momentum=stage.momentum, weight_decay=stage.weight_decay
    ),
}


def make_optimizer(stage: StageConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The stage's optimiser (Adam, or SGD with momentum) over the model's trainable parameters."""
    return OPTIMIZERS[stage.optimizer]([p for p in model.parameters() if p.requires_grad], stage)


def _constant(stage: StageConfig, t: float) -> float:
    return stage.lr


def _cyclic(stage: StageConfig, t: float) -> float:
    sched = stage.schedule
    cycle = math.floor(1 + t / sched.cycle_epochs)
    x = abs(2 * t / sched.cycle_epochs - 2 * cycle + 1)
    return stage.lr + (sched.max_lr - stage.lr) * max(0.0, 1 - x) / (2 ** (cycle - 1))


def _cosine(stage: StageConfig, t: float) -> float:
    sched = stage.schedule
    top = sched.max_lr or stage.lr
    phase = (t % sched.cycle_epochs) / sched.cycle_epochs
    return sched.min_lr + 0.5 * (top - sched.min_lr) * (1 + math.cos(math.pi * phase))


def _onecycle(stage: StageConfig, t: float) -> float:
    sched = stage.schedule
    top = sched.max_lr or stage.lr
    frac = min(max(t / stage.epochs, 0.0), 1.0)
    if frac < sched.warmup:
        return sched.min_lr + (top - sched.min_lr) * frac / sched.warmup
    phase = (frac - sched.warmup) / (1 - sched.warmup)
    return sched.min_lr + 0.5 * (top - sched.min_lr) * (1 + math.cos(math.pi * phase))


SCHEDULE_LR = {"constant": _constant, "cyclic": _cyclic, "cosine": _cosine, "onecycle": _onecycle}
if set(SCHEDULE_LR) != set(SCHEDULES) or set(OPTIMIZERS) != set(OPTIMIZER_NAMES):
    raise RuntimeError("runs.config's SCHEDULES / OPTIMIZERS and their implementations here differ")


def lr_at(stage: StageConfig, t: float) -> float:
    """The learning rate `t` epochs into the stage."""
    try:
        return SCHEDULE_LR[stage.schedule.kind](stage, t)
    except KeyError:
        raise ValueError(f"unknown schedule {stage.schedule.kind!r}") from None


def is_cycle_end(stage: StageConfig, epoch_in_stage: int) -> bool:
    """True when the epoch that just finished (0-based within the stage) closes an LR cycle."""
    if stage.schedule.kind in ("constant", "onecycle"):
        return False
    done = epoch_in_stage + 1
    cycle = stage.schedule.cycle_epochs
    return abs(done / cycle - round(done / cycle)) < 1e-9 and done >= cycle
