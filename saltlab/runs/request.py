"""One request to train, built into one config: the CLI (`train`), the Train page and the queue use it.

Every field has one meaning. `stage_epochs` is the epochs of each stage; a caller that thinks in
totals (the Train page) converts with `shared_epochs`, the one place where a total is shared out.
Suspect exclusion and pseudo-labels are resolved here, so both front ends leave out the same images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from saltlab.runs.config import DEFAULT_PRESET, StageConfig, TrainConfig, apply_overrides, from_dict, load_config
from saltlab.runs.epoch_plan import plan_epochs, scaled_swa_start


@dataclass(frozen=True)
class TrainRequest:
    """What a user asks for. `preset` is a preset name or a config file; `values` are top-level or nested
    settings merged over it (``{"model": {"encoder": ...}}`` updates the model's); `settings` are
    ``KEY=VALUE`` overrides as `--set` takes them, applied last."""

    preset: str = DEFAULT_PRESET
    values: dict = field(default_factory=dict)
    settings: tuple[str, ...] = ()
    stages: list[dict] | None = None  # whole stage dicts (the page's edited table), replacing the preset's
    stage_epochs: list[int] | int | None = None  # epochs of each stage (an int: every stage)
    minutes: float | None = None  # a time budget; 0 means none, even where the preset has one
    exclude_suspects: bool = False
    pseudo_runs: tuple[str, ...] = ()


def shared_epochs(stages: list[dict], total: int) -> list[int]:
    """A total number of epochs shared out over stages in the proportions of their own epochs."""
    return plan_epochs([int(s.get("epochs", StageConfig.epochs)) for s in stages], total)


def _set_stage_epochs(stages: list[dict], epochs: list[int] | int) -> None:
    counts = [epochs] * len(stages) if isinstance(epochs, int) else list(epochs)
    for stage, n in zip(stages, counts):
        old = int(stage.get("epochs", StageConfig.epochs))
        stage["swa_start"] = scaled_swa_start(stage.get("swa_start"), old, n)
        stage["epochs"] = n


def _merge(values: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = _merge(dict(values[key]), value)
        else:
            values[key] = value
    return values


def _values(request: TrainRequest) -> dict:
    values = _merge(load_config(request.preset), json.loads(json.dumps(request.values)))
    if request.stages is not None:
        values["stages"] = json.loads(json.dumps(request.stages))
    if request.minutes is not None:
        values["minutes"] = request.minutes or None
    if request.pseudo_runs:
        values.setdefault("pseudo", {})["runs"] = [str(r) for r in request.pseudo_runs]
    values = apply_overrides(values, list(request.settings))
    if request.stage_epochs is not None and values.get("stages"):
        _set_stage_epochs(values["stages"], request.stage_epochs)
    return values


def build_config(request: TrainRequest) -> TrainConfig:
    """The validated config of a request (ConfigError names the key and the reason)."""
    config = from_dict(_values(request))
    if request.exclude_suspects:
        from saltlab.core.paths import resolve_data_path
        from saltlab.core.suspect_marks import marked

        marks = marked(resolve_data_path(config.data))
        config = replace(config, exclude_ids=sorted(set(config.exclude_ids) | set(marks)))
    return config


def fold_configs(config: TrainConfig) -> list[TrainConfig]:
    """The same request once per fold (the queue's `--all-folds`)."""
    return [replace(config, fold=k) for k in range(config.n_folds)]


def pseudo_paths(root: Path, names: list[str]) -> tuple[str, ...]:
    """Run names of the runs folder as the absolute paths a config records."""
    return tuple(str(root.absolute() / name) for name in names)
