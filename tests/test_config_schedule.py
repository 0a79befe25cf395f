"""Configs (presets, overrides, clear errors) and the learning-rate schedules."""

import math

import pytest

from saltlab.runs.config import (
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    ScheduleConfig,
    StageConfig,
    apply_overrides,
    from_dict,
    load_config,
    preset_names,
)
from saltlab.training.schedule import is_cycle_end, lr_at


def test_every_preset_loads():
    names = preset_names()
    for required in ("baseline", "baseline_aug", "baseline_lovasz", "scse_hypercol", "binary_judge"):
        assert required in names
    for name in names:
        config = from_dict(load_config(name))
        assert config.total_epochs >= 1


def test_case_study_recipes():
    base = from_dict(load_config("baseline"))
    assert (base.model.arch, base.model.encoder, base.model.decoder_channels, base.model.input_size) == (
        "baseline",
        "resnet34",
        64,
        128,
    )
    assert (base.stages[0].loss, base.stages[0].optimizer, base.stages[0].lr) == ("bce", "adam", 3e-4)
    assert not base.augment and from_dict(load_config("baseline_aug")).augment
    lov = from_dict(load_config("baseline_lovasz")).stages[-1]
    assert (lov.loss, lov.lr, lov.schedule.kind, lov.schedule.max_lr, lov.schedule.cycle_epochs) == (
        "lovasz",
        1e-4,
        "cyclic",
        1e-3,
        10,
    )
    judge = from_dict(load_config("binary_judge"))
    assert judge.model.arch == "binary_judge" and judge.stages[-1].loss == "judge"
    swa = from_dict(load_config("swa")).stages[-1]
    assert (swa.loss, swa.optimizer, swa.swa_start, swa.epochs) == ("lovasz", "sgd", 11, 30)
    assert from_dict(load_config("snapshot_cosine")).stages[-1].snapshot_every_cycle


def test_overrides():
    values = apply_overrides(
        load_config("baseline"), ["stages.0.epochs=2", "model.encoder=resnet18", "augment=true", "data=/x"]
    )
    config = from_dict(values)
    assert (
        config.stages[0].epochs == 2 and config.model.encoder == "resnet18" and config.augment and config.data == "/x"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"modle": {}}, "unknown setting"),
        ({"model": {"arch": "resnet"}}, "model.arch: 'resnet' is not one of"),
        ({"stages": [{"loss": "hinge"}]}, "stages.0.loss"),
        ({"stages": [{"loss": "judge"}]}, "needs model.arch = 'binary_judge'"),
        ({"stages": [{"schedule": {"kind": "cyclic"}}]}, "max_lr is needed"),
        ({"batch_size": "many"}, "batch_size: expected a number"),
        ({"fold": 10}, "fold must be in 0..9"),
        ({"stages": []}, "at least one stage"),
        ({"stages": [{"epochs": 5, "swa_start": 6}]}, "swa_start must be between 1 and"),
        ({"pseudo": {"runs": []}}, "pseudo.runs: name at least one run"),
        ({"pseudo": {"runs": ["r"], "low": 0.6}}, "pseudo.low and pseudo.high"),
        ({"pseudo": {"runs": ["r"], "mode": "boxes"}}, "pseudo.mode"),
        ({"minutes": -5}, r"minutes \(the time budget\) must be positive"),
        ({"stages": [{"schedule": {"kind": "onecycle", "warmup": 1.5}}]}, "warmup is a share of the stage"),
        ({"model": {"input_size": 100}}, "model.input_size: 100 is not one of 101, 128, 256"),
        (
            {"model": {"decoder_upsample": "bicubic"}},
            "model.decoder_upsample: 'bicubic' is not one of nearest, bilinear",
        ),
        (
            {"model": {"hypercolumn_head": "concat"}},
            "model.hypercolumn_head: 'concat' is not one of logits, features",
        ),
        ({"pipeline": "gpu"}, "pipeline: 'gpu' is not one of auto, device, albumentations"),
        ({"compile": "sometimes"}, "compile: expected"),
    ],
)
def test_bad_configs_are_clear(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(values)


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="presets: .*baseline"):
        load_config("nope")


def test_triangular2():
    stage = StageConfig(lr=1e-4, schedule=ScheduleConfig(kind="cyclic", max_lr=1e-3, cycle_epochs=10))
    assert lr_at(stage, 0) == pytest.approx(1e-4)
    assert lr_at(stage, 5) == pytest.approx(1e-3)
    assert lr_at(stage, 10) == pytest.approx(1e-4)
    assert lr_at(stage, 15) == pytest.approx(1e-4 + 0.9e-3 / 2)  # amplitude halves each cycle
    assert lr_at(stage, 25) == pytest.approx(1e-4 + 0.9e-3 / 4)
    assert lr_at(stage, 2.5) == pytest.approx(1e-4 + 0.9e-3 / 2)


def test_cosine_restarts_and_cycle_ends():
    stage = StageConfig(lr=0.01, schedule=ScheduleConfig(kind="cosine", max_lr=0.01, min_lr=1e-4, cycle_epochs=4))
    assert lr_at(stage, 0) == pytest.approx(0.01)
    assert lr_at(stage, 2) == pytest.approx((0.01 + 1e-4) / 2)
    assert lr_at(stage, 4) == pytest.approx(0.01)  # restart
    assert [e for e in range(12) if is_cycle_end(stage, e)] == [3, 7, 11]
    assert lr_at(StageConfig(lr=3e-4), 7.3) == 3e-4


def test_stage_table_merge_keeps_hidden_settings_by_name():
    """Deleting the first row of snapshot_cosine must not hand the SGDR stage the BCE stage's hidden settings."""
    from saltlab.runs.config import from_dict, load_config
    from saltlab.runs.stage_table import stage_table, stages_from_table

    values = load_config("snapshot_cosine")
    preset = values["stages"]
    rows = stage_table(from_dict(values).stages)
    assert len(rows) == 2
    second = preset[1]
    merged = stages_from_table(preset, rows[1:])  # the first row deleted
    assert len(merged) == 1 and merged[0]["name"] == second["name"]
    for key in ("weight_decay", "momentum"):
        if key in second:
            assert merged[0][key] == second[key]
    assert merged[0]["schedule"].get("min_lr") == second["schedule"].get("min_lr")
    # Reordered rows keep their own settings too, and a new row starts from the defaults.
    swapped = stages_from_table(preset, [rows[1], rows[0], {**rows[0], "name": "extra"}])
    assert [s["name"] for s in swapped] == [second["name"], preset[0]["name"], "extra"]
    assert swapped[0].get("weight_decay") == second.get("weight_decay")
    assert "weight_decay" not in swapped[2] and "min_lr" not in swapped[2]["schedule"]
    from_dict({**values, "stages": swapped})  # a valid config


def test_a_stage_named_after_its_loss_follows_a_changed_loss_and_a_chosen_name_stays():
    from saltlab.runs.config import from_dict, load_config
    from saltlab.runs.stage_table import stage_table, stages_from_table

    values = load_config("baseline_lovasz")  # stages "bce" and "lovasz"
    rows = stage_table(from_dict(values).stages)
    assert [r["name"] for r in rows] == ["bce", "lovasz"]
    rows[0]["loss"] = "bce_dice"
    rows[1] = {**rows[1], "name": "finetune", "loss": "lovasz_symmetric"}
    stages = stages_from_table(values["stages"], rows)
    assert [(s["name"], s["loss"]) for s in stages] == [("bce_dice", "bce_dice"), ("finetune", "lovasz_symmetric")]


def test_stage_table_row_with_blanks_is_refused():
    from saltlab.runs.config import ConfigError
    from saltlab.runs.stage_table import stages_from_table

    with pytest.raises(ConfigError, match=r"stage row 1 \(x\): fill in epochs, lr"):
        stages_from_table(
            [],
            [
                {
                    "name": "x",
                    "loss": "bce",
                    "epochs": float("nan"),
                    "optimizer": "adam",
                    "lr": None,
                    "schedule": "constant",
                }
            ],
        )


def test_one_request_builder_gives_the_cli_and_the_page_the_same_config(demo_root, tmp_path, capsys):
    """`train --epochs N` means N epochs in every stage; the page's total is shared out by `shared_epochs`
    and reaches the same builder: both end in one config, swa_start scaled with its stage."""
    import json

    from saltlab.cli import main
    from saltlab.runs.config import load_config
    from saltlab.runs.request import TrainRequest, build_config, shared_epochs

    assert main(["train", "--config", "cpu_hour", "--data", str(demo_root), "--epochs", "4", "--print-config"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    stages = load_config("cpu_hour")["stages"]
    assert [s["epochs"] for s in from_cli["stages"]] == [4] * len(stages)
    from_page = build_config(
        TrainRequest("cpu_hour", values={"data": str(demo_root)}, stage_epochs=shared_epochs(stages, 4 * len(stages)))
    )
    assert json.loads(from_page.to_json()) == from_cli
    assert from_cli["stages"][-1]["swa_start"] is not None and from_cli["stages"][-1]["swa_start"] <= 4
    three = build_config(
        TrainRequest("cpu_hour", values={"data": str(demo_root)}, stage_epochs=shared_epochs(stages, 3))
    )
    assert sum(s.epochs for s in three.stages) == 3  # a total on the page is a total
    none = build_config(TrainRequest("cpu_hour", minutes=0))
    assert none.minutes is None and build_config(TrainRequest("cpu_hour", minutes=7)).minutes == 7


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", SCHEDULES)
def test_every_schedule_and_optimizer_a_config_may_name_runs(kind, optimizer):
    """The vocabularies in runs.config are what the engine implements: each schedule gives finite, positive
    rates over its stage, and each optimiser steps."""
    import torch

    from saltlab.training.schedule import make_optimizer

    stage = StageConfig(
        epochs=6, optimizer=optimizer, lr=1e-3, schedule=ScheduleConfig(kind=kind, max_lr=1e-2, cycle_epochs=2)
    )
    rates = [lr_at(stage, t / 4) for t in range(25)]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    model = torch.nn.Linear(2, 1)
    before = model.weight.detach().clone()
    opt = make_optimizer(stage, model)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)
