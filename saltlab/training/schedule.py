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

from saltlab.runs.config import StageConfig


def make_optimizer(stage: StageConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The stage's optimiser (Adam or SGD with momentum) over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if stage.optimizer == "sgd":
        return torch.optim.SGD(params, lr=stage.lr, momentum=stage.momentum, weight_decay=stage.weight_decay)
    return torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay)


def lr_at(stage: StageConfig, t: float) -> float:
    """The learning rate `t` epochs into the stage."""
    sched = stage.schedule
    if sched.kind == "constant":
        return stage.lr
    cycle_len = sched.cycle_epochs
    if sched.kind == "cyclic":
        cycle = math.floor(1 + t / cycle_len)
        x = abs(2 * t / cycle_len - 2 * cycle + 1)
        amplitude = (sched.max_lr - stage.lr) * max(0.0, 1 - x) / (2 ** (cycle - 1))
        return stage.lr + amplitude
    if sched.kind == "cosine":
        top = sched.max_lr or stage.lr
        phase = (t % cycle_len) / cycle_len
        return sched.min_lr + 0.5 * (top - sched.min_lr) * (1 + math.cos(math.pi * phase))
    if sched.kind == "onecycle":
        top = sched.max_lr or stage.lr
        frac = min(max(t / stage.epochs, 0.0), 1.0)
        if frac < sched.warmup:
            return sched.min_lr + (top - sched.min_lr) * frac / sched.warmup
        phase = (frac - sched.warmup) / (1 - sched.warmup)
        return sched.min_lr + 0.5 * (top - sched.min_lr) * (1 + math.cos(math.pi * phase))
    raise ValueError(f"unknown schedule {sched.kind!r}")


def is_cycle_end(stage: StageConfig, epoch_in_stage: int) -> bool:
    """True when the epoch that just finished (0-based within the stage) closes an LR cycle."""
    if stage.schedule.kind in ("constant", "onecycle"):
        return False
    done = epoch_in_stage + 1
    cycle = stage.schedule.cycle_epochs
    return abs(done / cycle - round(done / cycle)) < 1e-9 and done >= cycle
