"""The state of a training process: where the run stands (saved in every checkpoint) and what this
session holds (data, model, optimiser, budget, timings)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from saltlab.runs.config import StageConfig, TrainConfig
from saltlab.runs.run_folder import RunFolder


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

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> Position:
        return cls(
            epoch=checkpoint["epoch"],
            step_in_epoch=checkpoint["step_in_epoch"],
            global_step=checkpoint["global_step"],
            best_score=checkpoint["best_score"] if checkpoint["best_score"] is not None else float("-inf"),
            best_epoch=checkpoint["best_epoch"],
            elapsed_s=checkpoint["elapsed_s"],
            history=list(checkpoint["history"]),
            wall_s=checkpoint.get("wall_s", 0.0),
        )


@dataclass
class TrainingData:
    """The images a run trains and validates on, as this session holds them."""

    split: dict  # the ids (see engine.prepare_data), recorded in split.json and every checkpoint
    train_images: np.ndarray | torch.Tensor  # uint8 (N, 101, 101); a device tensor with the device pipeline
    train_masks: np.ndarray
    val_images: np.ndarray | torch.Tensor
    val_masks: np.ndarray
    trainset: object  # DeviceTrainData or SaltTrainSet (training.data.make_train_data)
    steps_per_epoch: int
    n_pseudo: int = 0


@dataclass
class Budget:
    """A time budget in seconds (None: none) and what planning it measured."""

    seconds: float | None = None
    epoch_estimate: float = 0.0  # seconds an epoch takes, validation included
    swa_s: float = 0.0  # the SWA BatchNorm pass and its validation
    wanted: list[int] = field(default_factory=list)  # the epochs the config asked for, before planning
    replan: bool = False  # after the first whole epoch: plan again if the probe was off by more than 10%
    epoch_walls: list[float] = field(default_factory=list)  # every whole epoch's wall time, this session

    def record_epoch(self, wall: float) -> None:
        self.epoch_walls.append(wall)

    @property
    def last_epoch_wall(self) -> float:
        """The guard's estimate of the next epoch: the last whole one's wall time, else the probe's."""
        return self.epoch_walls[-1] if self.epoch_walls else self.epoch_estimate

    @property
    def typical_epoch(self) -> float:
        """What planning counts an epoch as: the median of the last three whole epochs (one slow epoch,
        e.g. one that writes snapshots or SWA, does not re-plan the run), else the last estimate."""
        return statistics.median(self.epoch_walls[-3:]) if self.epoch_walls else self.last_epoch_wall


@dataclass
class Session:
    """One training process's view of the run: settings, data, model, optimiser and clocks."""

    config: TrainConfig
    run: RunFolder
    device: torch.device
    rank: int
    world: int
    amp: bool
    workers: int
    stop: dict  # {"signal": name or None, "interruptible": bool}, shared with the signal handler
    started: float  # time.monotonic() at the start of this session
    data: TrainingData
    model: nn.Module
    pos: Position
    swa: dict | None = None  # the running SWA average of the current stage, when it has swa_start
    checkpoint: dict | None = None  # the last.pt this session resumed from
    optimizer: torch.optim.Optimizer | None = None
    stage_index: int = -1
    scores: dict = field(default_factory=dict)  # the last validation's
    budget: Budget = field(default_factory=Budget)
    wall_base: float = 0.0  # wall seconds of earlier sessions
    train_seconds: float = 0.0  # in the step loops of this session (data + steps), validation excluded
    session_steps: int = 0
    val_seconds: list[float] = field(default_factory=list)

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates and writes the run's files."""
        return self.rank == 0

    @property
    def stage(self) -> StageConfig:
        return self.config.stages[self.stage_index]

    def wall_used(self, now: float) -> float:
        return self.wall_base + now - self.started
