"""What a run tells the world: its log (train.log and the console), per-step and per-epoch metrics
(metrics.jsonl) and its status (status.json, read by the Train page and `runs`). Only rank 0 reports."""

from __future__ import annotations

import logging
import time

import numpy as np

from saltlab.runs.run_folder import RunFolder
from saltlab.training.state import Session

log = logging.getLogger("saltlab.train")


def setup_logging(run: RunFolder, rank: int) -> None:
    """INFO lines with a timestamp to RUN/train.log and the console from rank 0; nothing from the others."""
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


def status(s: Session, **fields) -> None:
    if s.main:
        s.run.write_status(**fields)


def report_step(s: Session, lr: float, loss: float, seconds_this_epoch: float) -> None:
    """Every log_every steps and at an epoch's last step: a metrics line and the status (img/s, ETA)."""
    pos, config = s.pos, s.config
    if not s.main or not (pos.global_step % config.log_every == 0 or pos.step_in_epoch == s.data.steps_per_epoch):
        return
    rate = s.session_steps / max(s.train_seconds + seconds_this_epoch, 1e-9)
    total_steps = s.data.steps_per_epoch * config.total_epochs
    eta = (total_steps - pos.global_step) / rate + (np.mean(s.val_seconds) if s.val_seconds else 0) * (
        config.total_epochs - pos.epoch
    )
    s.run.append_metrics(
        {
            "kind": "step",
            "epoch": pos.epoch + 1,
            "step": pos.global_step,
            "loss": loss,
            "lr": lr,
            "img_per_s": rate * config.batch_size * s.world,
            "time": time.time(),
        }
    )
    s.run.write_status(epoch=pos.epoch, step=pos.global_step, eta_s=eta, stage=s.stage.name, lr=lr, loss=loss)
    if pos.step_in_epoch != s.data.steps_per_epoch:  # the epoch's end has its own line
        log.info(
            "epoch %d, step %d/%d: loss %.4f, lr %.2e, %.1f img/s, about %.1f min left",
            pos.epoch + 1,
            pos.step_in_epoch,
            s.data.steps_per_epoch,
            loss,
            lr,
            rate * config.batch_size * s.world,
            eta / 60,
        )


def report_epoch(s: Session, record: dict, improved: bool, steps_done: int, train_s: float) -> None:
    """The epoch's metrics line and its log line (scores, speed, GPU memory)."""
    s.run.append_metrics(record)
    extra = "".join(f", {k} {record[k]:.4f}" for k in ("val_score_oracle", "judge_accuracy") if k in record)
    speed = f"; training {train_s:.1f} s, {steps_done * s.config.batch_size * s.world / max(train_s, 1e-9):.0f} img/s"
    if "gpu_memory_gib" in record:
        speed += f", GPU memory peak {record['gpu_memory_gib']:.1f} GiB"
    log.info(
        "epoch %d/%d: train loss %.4f, val loss %.4f, val score %.4f, val IoU %.4f%s%s%s",
        s.pos.epoch,
        s.config.total_epochs,
        record["train_loss"],
        record["val_loss"],
        record["val_score"],
        record["val_iou"],
        extra,
        " (best)" if improved else "",
        speed,
    )
