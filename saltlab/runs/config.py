"""Training configuration as data: model, stages (loss, optimiser, schedule), data, fold, run options.

Configs are TOML files (presets in `configs/`) or dicts; `--set key.sub=value` overrides any
field. Unknown keys and bad values are errors that name the key and the allowed choices.
The resolved config is written to the run folder as config.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import parse_json, read_json
from saltlab.core.folds import DEFAULT_FOLDS, DEFAULT_SEED
from saltlab.models.spec import (  # noqa: F401 (re-exported: a run's config holds its model's)
    ARCHS,
    HYPERCOLUMN_HEADS,
    INPUT_SIZES,
    LOSSES,
    UPSAMPLINGS,
    ModelConfig,
)

PRESETS_DIR = Path(__file__).resolve().parents[2] / "configs"
# What a newcomer starts from: the one-hour recipe; its time budget plans the epochs on any device.
DEFAULT_PRESET = "cpu_hour_compact"

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cyclic", "cosine", "onecycle")
PSEUDO_MODES = ("pixels", "images")
PIPELINES = ("auto", "device", "albumentations")


class ConfigError(SaltLabError, ValueError):
    """A config that cannot be used, with the key and the reason."""


@dataclass
class ScheduleConfig:
    # constant | cyclic ("triangular2" between lr and max_lr) | cosine (warm restarts) |
    # onecycle (linear warm-up to the peak, then one cosine decay to min_lr at the stage's end)
    kind: str = "constant"
    max_lr: float | None = (
        None  # cyclic: the peak; cosine: the restart value; onecycle: the peak (default: the stage lr)
    )
    min_lr: float = 1e-6  # cosine, onecycle: the floor
    cycle_epochs: float = 10.0
    warmup: float = 0.0  # onecycle: the share of the stage spent warming up from min_lr to the peak


@dataclass
class StageConfig:
    name: str = "train"
    epochs: int = 30
    loss: str = "bce"
    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    snapshot_every_cycle: bool = False  # save snapshot-<epoch>.pt at the end of each LR cycle
    swa_start: int | None = None  # SWA: average the weights of this stage's epochs from this one (1-based) on -> swa.pt


@dataclass
class PseudoConfig:
    """Pseudo-labels: confident predictions of other runs on the test images, added to the training set."""

    runs: list[str] = field(default_factory=list)  # run folders or checkpoint files; several are averaged
    checkpoint: str = "best"
    tta: bool = True
    low: float = 0.2  # a pixel with p <= low is confident background
    high: float = 0.8  # a pixel with p >= high is confident salt
    mode: str = "pixels"  # pixels: the loss ignores unconfident pixels; images: whole images, labelled p >= 0.5
    min_confident: float = 0.9  # an image is used when at least this fraction of its pixels is confident
    max_images: int | None = None  # at most this many, the most confident first


@dataclass
class TrainConfig:
    name: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    data: str | None = None  # data set folder; None: the default (see saltlab.core.paths)
    fold: int = 0
    n_folds: int = DEFAULT_FOLDS
    fold_seed: int = DEFAULT_SEED
    seed: int = 0
    batch_size: int = 32
    augment: bool = False
    init_from: str | None = None  # a checkpoint whose weights start this run (e.g. baseline for Lovász)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    workers: int | None = None  # DataLoader workers; None: 0 on the CPU, 4 on a GPU
    amp: bool | None = None  # bf16 autocast; None: on for CUDA, off for the CPU
    channels_last: bool = True
    # The training data pipeline: "device" (the data set as one tensor on the training device, augmented
    # there in batches: saltlab.training.device_pipeline), "albumentations" (per sample, the reference) or
    # "auto" (device: the faster on the CPU and on a GPU, bench/bench_train.py).
    pipeline: str = "auto"
    compile: bool = False  # torch.compile the model (its compile time is logged apart from the epochs)
    log_every: int = 20  # steps between metrics lines
    max_train_images: int | None = None  # a subset for quick runs (taken evenly over coverage classes)
    max_val_images: int | None = None
    # labelled images left out of training (e.g. the ones marked as suspect labels: `train --exclude-suspects`);
    # the validation fold keeps them, so scores stay comparable with runs that trained on them
    exclude_ids: list[str] = field(default_factory=list)
    threshold: float = 0.5  # pixel threshold for the validation score
    aux_weight: float = 0.1  # deep-supervision loss weight per auxiliary head
    pseudo: PseudoConfig | None = None  # pseudo-labelled test images added to the training set
    # A time budget in minutes of wall time (validation included): the run times a few steps,
    # scales every stage's epochs (and swa_start) to fit, and stops at an epoch end if it must.
    minutes: float | None = None
    planned: bool = False  # set by the engine once the budget has fixed the epochs (config.json then holds them)

    @property
    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.stages)

    @property
    def stage_epochs(self) -> list[int]:
        """Each stage's epochs, in order (a new list)."""
        return [s.epochs for s in self.stages]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table of settings, got {value!r}")
        return _build(hint, value, key)
    if origin is list:
        (item,) = get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(v, item, f"{key}.{i}") for i, v in enumerate(value)]
    args = get_args(hint)
    if args and type(None) in args:  # Optional[X]
        if value is None or value == "none" or value == "":
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _convert(value, inner, key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint in (int, float):
        try:
            converted = hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if hint is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return converted
    if hint is str:
        return str(value)
    return value


def _build(cls: type, values: dict, prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f" in {prefix}" if prefix else ""
        raise ConfigError(f"unknown setting(s){where}: {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in values.items()}
    return cls(**kwargs)


def _check_choice(value: Any, choices: tuple, key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")


def _validate_stage(i: int, stage: StageConfig, arch: str) -> None:
    _check_choice(stage.loss, LOSSES, f"stages.{i}.loss")
    _check_choice(stage.optimizer, OPTIMIZERS, f"stages.{i}.optimizer")
    _check_choice(stage.schedule.kind, SCHEDULES, f"stages.{i}.schedule.kind")
    if stage.epochs < 1:
        raise ConfigError(f"stages.{i}.epochs must be at least 1")
    for key, value in (
        ("lr", stage.lr),
        ("weight_decay", stage.weight_decay),
        ("momentum", stage.momentum),
        ("schedule.min_lr", stage.schedule.min_lr),
        ("schedule.max_lr", stage.schedule.max_lr),
    ):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ConfigError(f"stages.{i}.{key} must be a finite number >= 0, got {value}")
    if stage.lr <= 0:
        raise ConfigError(f"stages.{i}.lr must be positive")
    if stage.loss == "judge" and arch != "binary_judge":
        raise ConfigError(f"stages.{i}.loss: the judge loss needs model.arch = 'binary_judge'")
    if stage.schedule.kind == "cyclic" and not stage.schedule.max_lr:
        raise ConfigError(f"stages.{i}.schedule.max_lr is needed for a cyclic schedule")
    if stage.swa_start is not None and not 1 <= stage.swa_start <= stage.epochs:
        raise ConfigError(f"stages.{i}.swa_start must be between 1 and the stage's {stage.epochs} epochs")
    if stage.schedule.cycle_epochs <= 0:
        raise ConfigError(f"stages.{i}.schedule.cycle_epochs must be positive")
    if not 0 <= stage.schedule.warmup < 1:
        raise ConfigError(f"stages.{i}.schedule.warmup is a share of the stage: 0 <= warmup < 1")


def _validate_model(model: ModelConfig) -> None:
    _check_choice(model.arch, ARCHS, "model.arch")
    _check_choice(model.input_size, INPUT_SIZES, "model.input_size")
    _check_choice(model.decoder_upsample, UPSAMPLINGS, "model.decoder_upsample")
    _check_choice(model.hypercolumn_head, HYPERCOLUMN_HEADS, "model.hypercolumn_head")
    from saltlab.models import encoder_names  # here: smp takes a second to import

    if model.encoder not in encoder_names():
        raise ConfigError(
            f"model.encoder: unknown encoder {model.encoder!r} (e.g. resnet18, resnet34, efficientnet-b0)"
        )
    if model.decoder_channels < 16:
        raise ConfigError(f"model.decoder_channels must be at least 16, got {model.decoder_channels}")


def _validate_numbers(config: TrainConfig) -> None:
    if config.log_every < 1:
        raise ConfigError(f"log_every must be at least 1, got {config.log_every}")
    for key in ("workers", "max_train_images", "max_val_images"):
        value = getattr(config, key)
        if value is not None and value < (0 if key == "workers" else 1):
            raise ConfigError(f"{key} must be {'>= 0' if key == 'workers' else 'at least 1'} (or unset), got {value}")
    for key in ("aux_weight", "minutes"):
        value = getattr(config, key)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
    if config.minutes is not None and config.minutes <= 0:
        raise ConfigError(f"minutes (the time budget) must be positive, got {config.minutes}")
    if config.n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {config.n_folds}")
    if not 0 <= config.fold < config.n_folds:
        raise ConfigError(f"fold must be in 0..{config.n_folds - 1}, got {config.fold}")
    if config.batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    if not 0 < config.threshold < 1:  # also refuses NaN
        raise ConfigError("threshold must be between 0 and 1")


def _validate_pseudo(pseudo: PseudoConfig) -> None:
    if not pseudo.runs:
        raise ConfigError("pseudo.runs: name at least one run whose test predictions become labels")
    _check_choice(pseudo.mode, PSEUDO_MODES, "pseudo.mode")
    if not 0 <= pseudo.low < 0.5 < pseudo.high <= 1:
        raise ConfigError(
            f"pseudo.low and pseudo.high must satisfy 0 <= low < 0.5 < high <= 1, got {pseudo.low} and {pseudo.high}"
        )
    if not 0 <= pseudo.min_confident <= 1:
        raise ConfigError("pseudo.min_confident must be between 0 and 1")


def validate(config: TrainConfig) -> TrainConfig:
    """Check choices and ranges; returns the config for chaining."""
    if not config.stages:
        raise ConfigError("stages: at least one stage is needed")
    for i, stage in enumerate(config.stages):
        _validate_stage(i, stage, config.model.arch)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", config.name or ""):
        raise ConfigError(f"name {config.name!r}: letters, digits, '.', '_' and '-' only (it names the run folder)")
    _validate_model(config.model)
    _validate_numbers(config)
    _check_choice(config.pipeline, PIPELINES, "pipeline")
    if not isinstance(config.exclude_ids, list) or not all(isinstance(i, str) for i in config.exclude_ids):
        raise ConfigError(f"exclude_ids must be a list of image ids, got {config.exclude_ids!r}")
    if config.pseudo is not None:
        _validate_pseudo(config.pseudo)
    return config


def from_dict(values: dict) -> TrainConfig:
    return validate(_build(TrainConfig, values))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_description(name: str) -> str:
    """The comment block at the top of configs/NAME.toml: what the preset is, its time and its score."""
    path = PRESETS_DIR / f"{name}.toml"
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return "\n".join(lines)


def load_config(name_or_path: str | Path) -> dict:
    """The raw settings of a preset name (configs/NAME.toml) or of a TOML / JSON file."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PRESETS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"no preset named {str(name_or_path)!r}; presets: {', '.join(preset_names())}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        if path.suffix == ".json":
            return read_json(path)
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, ValueError, RecursionError, OSError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})") from None


def _parse_value(text: str) -> Any:
    try:
        return parse_json(text)
    except ValueError:
        return text


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply `key.sub=value` overrides (values parsed as JSON when they can be, else strings)."""
    values = json.loads(json.dumps(values))  # a deep copy
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        target: Any = values
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(target, list):
                try:
                    target = target[int(part)]
                except (ValueError, IndexError):
                    raise ConfigError(f"override {key}: no item {part} in the list") from None
                continue
            if part not in target:
                target[part] = [] if nxt.isdigit() else {}
            target = target[part]
        last = parts[-1]
        if isinstance(target, list):
            try:
                target[int(last)] = _parse_value(raw)
            except (ValueError, IndexError):
                raise ConfigError(f"override {key}: no item {last} in the list") from None
        else:
            target[last] = _parse_value(raw)
    return values
