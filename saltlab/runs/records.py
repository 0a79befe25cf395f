"""What a run folder stores, as typed records: status.json (a run's or a background job's state),
split.json (the images it trains and validates on) and metrics.jsonl's step and epoch lines.

One reader and one writer each live in `RunFolder` (`status()` / `write_status()`, `split()` /
`write_split()`); these records are their shape. A writer naming a field the record lacks is a
programming error (TypeError), so a typo never reaches a file. A reader is lenient: keys it does not
know (a newer or older SaltLab's) are kept in `extra` and written back unchanged, and a value of the
wrong type reads as unset, so one bad value never hides the rest of a run.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled")
_NUMBER = (int, float)


class _Record:
    """What both records share: read leniently from a dict, written back whole, read by key."""

    extra: dict

    @classmethod
    def from_dict(cls, values: dict):
        return _from_dict(cls, values)

    def to_dict(self) -> dict:
        return _to_dict(self)

    def get(self, key: str, default: Any = None) -> Any:
        """A field by name, or a kept unknown key (None counts as unset), for code that reads a mapping."""
        value = getattr(self, key, None) if key in _field_names(type(self)) else self.extra.get(key)
        return default if value is None else value


@dataclass
class RunStatus(_Record):
    """status.json. Times are Unix seconds; epochs count finished ones."""

    state: str | None = None
    message: str | None = None
    error: str | None = None
    # the process at work, and where
    pid: int | None = None
    pid_start: int | None = None
    host: str | None = None
    device: str | None = None
    slot: str | None = None
    world_size: int | None = None
    cancel_requested: bool | None = None
    # when
    created: float | None = None
    queued: float | None = None
    started: float | None = None
    finished: float | None = None
    updated: float | None = None
    # progress of a training run
    epoch: int | None = None
    epochs: int | None = None
    planned_epochs: list | None = None
    stage: str | None = None
    step: int | None = None
    total_steps: int | None = None
    steps_per_epoch: int | None = None
    loss: float | None = None
    lr: float | None = None
    eta_s: float | None = None
    wall_s: float | None = None
    compile_s: float | None = None
    budget_s: float | None = None
    epoch_estimate_s: float | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_pseudo: int | None = None
    # scores on the monitored validation images, beside predicting every mask empty
    best_score: float | None = None
    best_epoch: int | None = None
    last_score: float | None = None
    empty_score: float | None = None
    swa_score: float | None = None
    swa_epochs: int | None = None
    # progress and outcome of a background predict job
    done: int | None = None
    total: int | None = None
    n_images: int | None = None
    n_empty: int | None = None
    threshold: float | None = None
    threshold_source: str | None = None
    extra: dict = field(default_factory=dict)

    def score(self, key: str) -> float | None:
        """A score field as a finite number, or None (NaN, -inf and text never reach a table)."""
        value = getattr(self, key)
        return float(value) if isinstance(value, _NUMBER) and math.isfinite(value) else None


@dataclass
class RunSplit(_Record):
    """split.json: the data set (folder and fingerprint), the fold and the ids of each part."""

    val_ids: list
    train_ids: list = field(default_factory=list)
    monitor_ids: list = field(default_factory=list)  # validated after every epoch (max_val_images)
    excluded_ids: list = field(default_factory=list)  # left out of training (suspect labels)
    data: str | None = None
    fingerprint: str | None = None
    folds_version: int | None = None
    fold: int | None = None
    n_folds: int | None = None
    fold_seed: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> RunSplit | None:
        """None when the file is not a split (no list of validation ids)."""
        if not isinstance(values, dict) or not isinstance(values.get("val_ids"), list):
            return None
        return _from_dict(cls, values)


@dataclass
class StepRecord(_Record):
    """A metrics.jsonl line of kind "step" (every log_every steps): the training loss as it goes."""

    kind: str | None = None
    step: int | None = None
    epoch: int | None = None  # the epoch under way (1-based)
    loss: float | None = None
    lr: float | None = None
    img_per_s: float | None = None
    time: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class EpochRecord(_Record):
    """A metrics.jsonl line of kind "epoch": one validation, beside the all-empty score of its images."""

    kind: str | None = None
    epoch: int | None = None  # epochs finished
    stage: str | None = None
    lr: float | None = None
    epoch_s: float | None = None
    train_s: float | None = None
    time: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    val_score: float | None = None
    val_iou: float | None = None
    val_score_empty: float | None = None
    val_score_oracle: float | None = None
    gpu_memory_gib: float | None = None
    extra: dict = field(default_factory=dict)


def metric_records(lines: list) -> tuple[list[StepRecord], list[EpochRecord]]:
    """The step and epoch records of metrics.jsonl's parsed lines (other kinds and torn lines skipped)."""
    steps = [StepRecord.from_dict(m) for m in lines if isinstance(m, dict) and m.get("kind") == "step"]
    epochs = [EpochRecord.from_dict(m) for m in lines if isinstance(m, dict) and m.get("kind") == "epoch"]
    return steps, epochs


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls)) - {"extra"}


def _kinds(hint: str) -> tuple[type, ...]:
    """The Python types a field's annotation (a string here: `from __future__ import annotations`) allows."""
    names = {"str": (str,), "int": (int,), "float": _NUMBER, "bool": (bool,), "list": (list,), "dict": (dict,)}
    return tuple(t for part in hint.split("|") for t in names.get(part.strip(), ()))


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False  # True is an int to Python, not an epoch count
    return isinstance(value, kinds)


def _from_dict(cls: type, values: dict):
    known = {f.name: _kinds(f.type) for f in fields(cls) if f.name != "extra"}
    kept = {k: v for k, v in values.items() if k in known and (v is None or _fits(v, known[k]))}
    extra = {k: v for k, v in values.items() if k not in known}
    return cls(**kept, extra=extra)


def _to_dict(record) -> dict:
    values = asdict(record)
    extra = values.pop("extra")
    return {**extra, **{k: v for k, v in values.items() if v is not None}}


STATUS_FIELDS = _field_names(RunStatus)


def check_status_fields(names) -> None:
    """TypeError for a field status.json does not have (a typo in a writer)."""
    unknown = sorted(set(names) - STATUS_FIELDS)
    if unknown:
        raise TypeError(f"status.json has no field {', '.join(unknown)} (saltlab.runs.records.RunStatus)")
