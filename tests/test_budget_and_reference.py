"""The time budget (planning, the onecycle schedule, a real budgeted run) and the all-empty reference score."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from saltlab.analysis import summaries as analysis
from saltlab.core.scoring import empty_score
from saltlab.runs.config import (
    ScheduleConfig,
    StageConfig,
    from_dict,
    load_config,
    preset_description,
    preset_names,
)
from saltlab.runs.epoch_plan import plan_epochs, plan_remaining, scaled_swa_start
from saltlab.runs.registry import format_row, run_row
from saltlab.runs.run_folder import RunFolder
from saltlab.training.schedule import is_cycle_end, lr_at
from tests.helpers import tiny_config

PROJECT = Path(__file__).resolve().parents[1]


def test_plan_epochs_keeps_proportions_and_one_epoch_each():
    assert plan_epochs([24, 24], 48) == [24, 24]
    assert plan_epochs([30, 40], 14) == [6, 8]
    assert plan_epochs([20, 50], 140) == [40, 100]  # a budget can also lengthen a recipe
    assert plan_epochs([1, 10, 1], 3) == [1, 1, 1]
    assert plan_epochs([3, 3], 1) == [1, 1]  # never a stage without an epoch
    assert sum(plan_epochs([7, 11, 13], 50)) == 50
    assert (
        scaled_swa_start(17, 24, 48) == 34
        and scaled_swa_start(17, 24, 3) == 2
        and scaled_swa_start(None, 24, 3) is None
    )
    assert scaled_swa_start(1, 30, 1) == 1 and scaled_swa_start(30, 30, 5) == 5


def test_plan_remaining_keeps_what_ran_and_shortens_what_is_left():
    assert plan_remaining([24, 24], [25, 24], 20, 48) == [24, 24]  # the BCE stage gives back its extra epoch
    assert plan_remaining([24, 24], [25, 24], 30, 40) == [25, 15]  # a finished stage keeps its epochs
    assert plan_remaining([24, 24], [25, 24], 24, 30) == [25, 5]  # the stage under way ends after its next epoch
    assert plan_remaining([24, 24], [25, 24], 1, 60) == [30, 30]  # a plan can also grow
    assert plan_remaining([24, 24], [25, 24], 10, 11) == [11, 1]  # too little left: every stage keeps one epoch
    assert plan_remaining([24, 24], [25, 24], 49, 49) == [25, 24]  # the run is over: nothing to plan
    # A stage that may close ends with the epochs it ran, so the last stage (and its SWA) still runs.
    assert plan_remaining([24, 24], [25, 24], 8, 9, may_close=True) == [8, 1]
    assert plan_remaining([24, 24], [25, 24], 30, 30, may_close=True) == [25, 6]  # never the last stage


def test_a_run_that_falls_behind_its_budget_is_planned_shorter(demo_root, tmp_path):
    """When epochs get slower the epochs left are planned again so they fit, the last stage and its SWA
    kept; one slow epoch alone changes nothing (the median of the last three counts); after faster ones
    the plan grows again."""
    from types import SimpleNamespace

    from saltlab.training import budget as budget_module
    from saltlab.training.state import Budget, Position

    stages = [
        {"name": "bce", "epochs": 5, "loss": "bce", "lr": 1e-3, "schedule": {"kind": "onecycle", "min_lr": 1e-5}},
        {"name": "lovasz", "epochs": 5, "loss": "lovasz", "lr": 5e-4, "swa_start": 4},
    ]
    config = from_dict(tiny_config(demo_root, stages=stages, minutes=100 / 60))
    config.planned = True
    run = RunFolder(tmp_path / "behind")
    run.path.mkdir()
    run.write_config(config)
    s = SimpleNamespace(
        config=config,
        run=run,
        world=1,
        pos=Position(epoch=3),
        budget=Budget(seconds=100.0, epoch_estimate=8.0, wanted=[5, 5], epoch_walls=[8.0, 8.5]),
        data=SimpleNamespace(steps_per_epoch=2),
        swa=None,
        wall_used=lambda now: 37.0,
    )
    budget_module.replan(s)  # 7 epochs of 8.5 s still fit in the 60 s left (less a 3 s margin): no change
    assert [st.epochs for st in config.stages] == [5, 5]
    s.pos, s.wall_used = Position(epoch=6), lambda now: 60.0
    s.budget.record_epoch(12.0)  # one slow epoch: the median of 8.0, 8.5, 12 is 8.5; (100 - 60 - 3) // 8.5 = 4
    budget_module.replan(s)
    assert [st.epochs for st in config.stages] == [5, 5]
    s.budget.record_epoch(12.0)  # the machine slowed down: the median is 12
    s.wall_used = lambda now: 65.0
    budget_module.replan(s)  # (100 - 65 - 3) // 12 = 2 more epochs
    assert [st.epochs for st in config.stages] == [5, 3]
    assert config.stages[1].swa_start == 2  # the same share of the stage averaged
    assert [st["epochs"] for st in run.read_config()["stages"]] == [5, 3]  # a resumed run keeps the new plan
    assert run.read_status()["planned_epochs"] == [5, 3]
    s.wall_used = lambda now: 60.0
    budget_module.replan(s)  # (100 - 60 - 3) // 12 = 3 more: one more epoch than planned is not enough to grow
    assert [st.epochs for st in config.stages] == [5, 3]
    s.budget.record_epoch(9.0)
    s.budget.record_epoch(9.0)
    budget_module.replan(s)  # (100 - 60 - 3) // 9 = 4 more, two over the plan: it grows by one, one kept in hand
    assert [st.epochs for st in config.stages] == [5, 4]


def test_a_budget_that_cuts_a_stage_before_its_averaging_still_writes_swa(demo_root, tmp_path, monkeypatch):
    """The guard ends the Lovász stage after 1 of its 3 epochs, before its SWA (from the 3rd) began.

    swa.pt then holds the stage's last weights (BatchNorm recomputed), so best, last and SWA are all written.
    """
    from saltlab.training import budget as budget_module
    from saltlab.training.engine import train

    stages = [
        {"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3},
        {"name": "lovasz", "epochs": 3, "loss": "lovasz", "lr": 5e-4, "swa_start": 3},
    ]
    config = tiny_config(demo_root, stages=stages, minutes=60, planned=True, max_train_images=16, max_val_images=8)
    monkeypatch.setattr(budget_module, "out_of_time", lambda s: s.pos.epoch == 2)  # the clock, not the training
    monkeypatch.setattr(budget_module, "replan", lambda s: None)  # keep the 4 epochs the config plans
    run = train(config, run_dir=tmp_path / "cut")
    status = run.read_status()
    assert status["state"] == "done" and "time budget reached after 2 of 4 epochs" in status["message"]
    swa = [m for m in run.read_metrics() if m["kind"] == "swa"]
    assert len(swa) == 1 and swa[0]["stage"] == "lovasz" and swa[0]["swa_epochs"] == 1
    assert (run.path / "swa.pt").is_file() and (run.path / "best.pt").is_file() and run.last_path.is_file()


def test_onecycle_spans_the_stage_whatever_its_length():
    for epochs in (4, 40):
        stage = StageConfig(
            epochs=epochs, lr=1e-3, schedule=ScheduleConfig(kind="onecycle", max_lr=1e-3, min_lr=1e-5, warmup=0.1)
        )
        assert lr_at(stage, 0) == pytest.approx(1e-5)
        assert lr_at(stage, 0.1 * epochs) == pytest.approx(1e-3)  # the peak at the end of the warm-up
        assert lr_at(stage, 0.55 * epochs) == pytest.approx((1e-3 + 1e-5) / 2)  # half-way down the cosine
        assert lr_at(stage, epochs) == pytest.approx(1e-5)
        values = [lr_at(stage, t * epochs / 100) for t in range(10, 101)]
        assert all(a >= b for a, b in zip(values, values[1:]))  # only down after the warm-up
        assert not any(is_cycle_end(stage, e) for e in range(epochs))


def test_empty_score_is_the_share_of_empty_masks():
    truth = np.zeros((10, 101, 101), bool)
    truth[:4, 50, 50] = True
    assert empty_score(truth) == pytest.approx(0.6)
    probs = np.zeros(truth.shape, np.float32)
    nothing = analysis.summarize("nothing", probs, None, truth)
    assert nothing.score == pytest.approx(0.6) and nothing.empty_score == pytest.approx(0.6) and nothing.below_empty
    perfect = analysis.summarize("perfect", truth.astype(np.float32), None, truth)
    assert perfect.score == 1.0 and not perfect.below_empty


def _fake_run(folder: Path, best: float | None, empty: float) -> RunFolder:
    run = RunFolder(folder)
    folder.mkdir(parents=True)
    run.config_path.write_text(from_dict(load_config("cpu_hour")).to_json())
    run.write_status(state="done", epoch=3, epochs=3, best_score=best, empty_score=empty, device="cpu", wall_s=90.0)
    return run


def test_registry_flags_runs_below_the_all_empty_score(tmp_path):
    weak = run_row(_fake_run(tmp_path / "weak", 0.196, 0.3914))
    assert weak["below all-empty"] is True and weak["all-empty score"] == 0.3914
    assert "BELOW ALL-EMPTY" in format_row(weak)
    good = run_row(_fake_run(tmp_path / "good", 0.77, 0.3714))
    assert good["below all-empty"] is False and "BELOW" not in format_row(good)
    assert good["budget min"] == 60 and good["used min"] == 1.5 and good["model"] == "baseline/resnet34@101"
    fresh = run_row(_fake_run(tmp_path / "fresh", None, 0.4))  # no best score yet: no crash, no flag
    assert fresh["best score"] is None and fresh["below all-empty"] is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert run_row(RunFolder(tmp_path / "broken"))["state"] == "unreadable"
    out = subprocess.run(
        [sys.executable, "-m", "saltlab", "runs", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "all-empty" in out.stdout and "BELOW ALL-EMPTY" in out.stdout and "unreadable" in out.stdout


def test_every_preset_says_what_it_is_and_how_long_it_takes():
    for name in preset_names():
        text = preset_description(name)
        assert "CPU" in text and "GPU" in text, name  # its expected time on both
        assert "score" in text.lower(), name


def test_a_budgeted_run_plans_its_epochs_and_ends_within_the_budget(demo_root, tmp_path, monkeypatch):
    """A 45-second budget on 16 images: more epochs than asked are planned, SWA included, and it ends in time.

    On a fake clock that runs three times as fast as the real one (every time.monotonic() the run reads), so
    the 45 seconds pass in 15: the plan, the re-plans and the guard all see one consistent clock, and the
    step timing of the probe (perf_counter, real) is three times too optimistic, which the re-plan corrects.
    """
    from saltlab.training.engine import train

    real, t0, speed = time.monotonic, time.monotonic(), 3.0
    monkeypatch.setattr(time, "monotonic", lambda: t0 + speed * (real() - t0))

    stages = [
        {
            "name": "bce",
            "epochs": 1,
            "loss": "bce",
            "lr": 1e-3,
            "schedule": {"kind": "onecycle", "min_lr": 1e-5, "warmup": 0.2},
        },
        {
            "name": "lovasz",
            "epochs": 1,
            "loss": "lovasz",
            "lr": 5e-4,
            "swa_start": 1,
            "schedule": {"kind": "onecycle", "min_lr": 1e-6},
        },
    ]
    budget_s = 45.0
    config = tiny_config(demo_root, stages=stages, minutes=budget_s / 60, max_train_images=16, max_val_images=16)
    start = time.monotonic()
    run = train(config, run_dir=tmp_path / "budget")
    elapsed = time.monotonic() - start
    status = run.read_status()
    saved = run.read_config()
    epochs = [m for m in run.read_metrics() if m["kind"] == "epoch"]
    assert status["state"] == "done" and saved["planned"]
    planned = [s["epochs"] for s in saved["stages"]]
    assert planned == status["planned_epochs"] and sum(planned) > 2  # lengthened to fill the budget
    assert 1 <= saved["stages"][1]["swa_start"] <= planned[1]
    assert (run.path / "swa.pt").is_file()
    # Within the budget, give or take one epoch (its validation included) should the estimate be off.
    longest = max(m["epoch_s"] for m in epochs) + 1.0
    assert elapsed <= budget_s + longest, (elapsed, longest)
    assert status["wall_s"] <= budget_s + longest
    if len(epochs) == sum(planned):  # ran to its end: the schedule decayed to its floor
        assert epochs[-1]["lr"] == pytest.approx(1e-6)
    # The all-empty reference rides along every validation: the share of empty masks among the validation images.
    from saltlab.core.dataset import load_dataset

    ds = load_dataset(demo_root)
    masks = ds.train_masks[ds.train_index(run.read_split()["monitor_ids"])]
    assert len(masks) == 16
    assert all(m["val_score_empty"] == pytest.approx(empty_score(masks)) for m in epochs)
    assert status["empty_score"] == pytest.approx(empty_score(masks))
