"""The training engine, for real on the CPU: learning, checkpoints, kill -9, cancel and resume, evaluate, DDP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from saltlab.inference.evaluate import evaluate_run
from saltlab.runs.checkpoint import CheckpointError, clean_temp_files, load_checkpoint, save_checkpoint
from saltlab.runs.config import from_dict
from saltlab.runs.run_folder import RunFolder
from saltlab.training.engine import train
from tests.helpers import PROJECT, cancel_after, env_for, free_port, resume, start_training, tiny_config, wait_for


def test_run_lowers_loss_and_writes_everything(trained_run):
    run = trained_run
    status = run.read_status()
    assert status["state"] == "done" and status["epoch"] == 2 and status["step"] == status["total_steps"] == 16
    steps = [m for m in run.read_metrics() if m["kind"] == "step"]
    epochs = [m for m in run.read_metrics() if m["kind"] == "epoch"]
    assert len(steps) == 16 and len(epochs) == 2
    first, last = np.mean([s["loss"] for s in steps[:4]]), np.mean([s["loss"] for s in steps[-4:]])
    assert last < first, (first, last)
    assert 0 <= epochs[-1]["val_score"] <= 1 and "val_iou" in epochs[-1]
    assert json.loads(run.config_path.read_text())["model"]["encoder"] == "resnet18"
    assert "epoch 2/2" in run.log_path.read_text()
    assert "epoch 1, step 1/8: loss" in run.log_path.read_text()  # the log moves within an epoch too
    best = load_checkpoint(run.best_path)
    last_ckpt = load_checkpoint(run.last_path)
    assert last_ckpt["epoch"] == 2 and last_ckpt["optimizer"] is not None and best["optimizer"] is None
    assert best["scores"]["val_score"] == status["best_score"]


def test_checkpoint_loads_with_weights_only(trained_run):
    data = torch.load(trained_run.last_path, weights_only=True)
    from saltlab.models import build_model

    model = build_model(from_dict(data["config"]).model)
    model.load_state_dict(data["model"])


def test_bad_checkpoints_are_refused_clearly(tmp_path, trained_run):
    good = load_checkpoint(trained_run.best_path)
    other = tmp_path / "other_version.pt"
    torch.save({**good, "format_version": 99, "saltlab_version": "9.9"}, other)
    with pytest.raises(CheckpointError, match="format 99 .*saltlab 9.9"):
        load_checkpoint(other)
    torn = tmp_path / "torn.pt"
    torn.write_bytes(trained_run.best_path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable SaltLab checkpoint"):
        load_checkpoint(torn)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "saltlab.checkpoint", "payload": Path("/etc")}, pickled)  # an arbitrary object
    with pytest.raises(CheckpointError, match="not a readable SaltLab checkpoint"):
        load_checkpoint(pickled)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a SaltLab checkpoint"):
        load_checkpoint(plain)


@pytest.mark.parametrize(
    "version, written, trained_as",
    [
        # Format 3: neither field; the decoder upsampled bilinearly, the hypercolumn was "features".
        (3, {}, {"decoder_upsample": "bilinear", "hypercolumn_head": "features"}),
        # Format 4: the decoder upsampling named, the hypercolumn head not yet.
        (4, {"decoder_upsample": "nearest"}, {"decoder_upsample": "nearest", "hypercolumn_head": "features"}),
    ],
)
def test_models_saved_before_a_model_field_existed_load_as_they_were_trained(tmp_path, version, written, trained_as):
    """Checkpoints and config.json files of the scSE models written before `decoder_upsample` (format 3) or
    `hypercolumn_head` (formats 3 and 4) existed must load as the model they trained, not today's defaults."""
    from saltlab.inference.network import load_model
    from saltlab.models import build_model
    from saltlab.runs.config import TrainConfig

    model_config = {"arch": "scse_hypercol", "encoder": "resnet18", "input_size": 101, **written}
    torch.manual_seed(0)
    trained = build_model(from_dict({"model": {**model_config, **trained_as}}).model).eval()
    old = tmp_path / "old.pt"
    torch.save(
        {
            "format": "saltlab.checkpoint",
            "format_version": version,
            "saltlab_version": "0.3.0",
            "config": {"model": model_config},
            "model": trained.state_dict(),
        },
        old,
    )
    loaded, config = load_model(load_checkpoint(old), torch.device("cpu"))
    assert (config.model.decoder_upsample, config.model.hypercolumn_head) == tuple(trained_as.values())
    assert all(block.interpolation_mode == trained_as["decoder_upsample"] for block in loaded.decoder.blocks)
    assert hasattr(loaded, "hyper_norm")  # the "features" hypercolumn
    x = torch.rand(2, 1, 101, 101)
    with torch.no_grad():
        assert torch.allclose(loaded(x)["mask"], trained(x)["mask"], atol=1e-5)  # loaded is channels_last
    if version == 3:
        nearest = build_model(from_dict({"model": {**model_config, "hypercolumn_head": "features"}}).model).eval()
        nearest.load_state_dict(trained.state_dict())  # the same weights with today's decoder upsampling
        with torch.no_grad():
            assert not torch.allclose(nearest(x)["mask"], trained(x)["mask"], atol=1e-3)
    run = RunFolder(tmp_path / "old-run")
    run.path.mkdir()
    run.config_path.write_text(json.dumps({"model": model_config, "stages": [{}]}))
    model = from_dict(run.read_config()).model
    assert (model.decoder_upsample, model.hypercolumn_head) == tuple(trained_as.values())
    run.config_path.write_text(json.dumps({"model": {**model_config, "arch": "baseline"}, "stages": [{}]}))
    model = from_dict(run.read_config()).model
    assert (model.decoder_upsample, model.hypercolumn_head) == (written.get("decoder_upsample", "nearest"), "logits")
    # What this version writes names both, so the rule never applies to a new run.
    fresh = TrainConfig(model=from_dict({"model": {"arch": "scse_hypercol"}}).model)
    run.write_config(fresh)
    assert {"decoder_upsample": "nearest", "hypercolumn_head": "logits"}.items() <= json.loads(
        run.config_path.read_text()
    )["model"].items()
    model = from_dict(run.read_config()).model
    assert (model.decoder_upsample, model.hypercolumn_head) == ("nearest", "logits")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "config": {}, "model": {}})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "config": {}, "model": {}})
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_cancel_then_resume_equals_uninterrupted(demo_root, tmp_path, trained_run):
    out = tmp_path / "interrupted"
    # Cancel in the middle of epoch 1, after the third optimiser step.
    cancel_after(tiny_config(demo_root), out, tmp_path, lambda metrics: sum(m["kind"] == "step" for m in metrics) >= 3)
    run = RunFolder(out)
    status = run.read_status()
    assert status["state"] == "cancelled", status
    ckpt = load_checkpoint(run.last_path)
    assert ckpt["epoch"] == 0 and 3 <= ckpt["step_in_epoch"] < 8
    resume(out, tmp_path)
    assert run.read_status()["state"] == "done"
    final = load_checkpoint(run.last_path)
    reference = load_checkpoint(trained_run.last_path)  # the same config, never interrupted
    assert final["epoch"] == reference["epoch"] == 2 and final["global_step"] == reference["global_step"]
    for key, value in reference["model"].items():
        assert torch.allclose(final["model"][key].float(), value.float(), atol=1e-5), key
    assert f"resuming at epoch 1, step {ckpt['step_in_epoch']}" in run.log_path.read_text()


def test_kill_9_leaves_a_readable_checkpoint_and_resume_continues(demo_root, tmp_path):
    config = tmp_path / "c.json"
    # With snapshots and SWA over every epoch: the SWA average must survive the kill too.
    stage = {
        "name": "bce",
        "epochs": 3,
        "loss": "bce",
        "lr": 1e-3,
        "snapshot_every_cycle": True,
        "swa_start": 1,
        "schedule": {"kind": "cosine", "min_lr": 1e-5, "cycle_epochs": 1},
    }
    config.write_text(json.dumps(tiny_config(demo_root, stages=[stage])))
    out = tmp_path / "killed"
    proc = start_training(config, out, tmp_path)
    run = RunFolder(out)
    wait_for(run.last_path.is_file, what="the first last.pt")
    # Kill while the next epoch runs and its last.pt is (likely) being written.
    wait_for(lambda: sum(m["kind"] == "step" for m in run.read_metrics()) >= 11, what="step 11")
    proc.kill()
    proc.wait(30)
    ckpt = load_checkpoint(run.last_path)  # readable: the previous or the new one, never torn
    assert ckpt["epoch"] in (1, 2)
    status = run.read_status()
    assert status["state"] == "failed" and "died" in status["error"]
    resumed = subprocess.run(
        [sys.executable, "-m", "saltlab", "train", "--resume", str(out)],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    epochs = [m["epoch"] for m in run.read_metrics() if m["kind"] == "epoch"]
    assert epochs[-1] == 3 and load_checkpoint(run.last_path)["epoch"] == 3
    assert not list(out.glob(".*.tmp"))
    snaps = [load_checkpoint(out / f"snapshot-e00{k}.pt")["model"] for k in (1, 2, 3)]
    swa = load_checkpoint(out / "swa.pt")
    assert swa["scores"]["swa_epochs"] == 3
    for key in (k for k in swa["model"] if "running_" not in k and "num_batches" not in k):
        torch.testing.assert_close(swa["model"][key], sum(s[key].float() for s in snaps) / 3, atol=1e-6, rtol=0)


def test_resume_sweeps_the_temp_files_of_killed_writes_but_not_a_write_under_way(tmp_path):
    import os
    import time

    left = [tmp_path / ".last.pt.a1b2.tmp", tmp_path / ".status.json.c3d4.tmp", tmp_path / ".notes.txt.e5f6.tmp"]
    fresh = [tmp_path / ".swa.pt.g7h8.tmp", tmp_path / ".status.json.i9j0.tmp"]
    for path in left + fresh:
        path.write_bytes(b"partial")
    start = time.time()
    for path in left:
        os.utime(path, (start - 5, start - 5))
    kept = tmp_path / "status.json"
    kept.write_text("{}")
    os.utime(kept, (start - 5, start - 5))
    clean_temp_files(tmp_path, before=start - 1)
    # Checkpoint temp files are the trainer's alone: all go. Others only when older than the run's start.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".status.json.i9j0.tmp", "status.json"]


def test_judge_model_reports_both_scores(demo_root, tmp_path):
    config = tiny_config(
        demo_root,
        model={"arch": "binary_judge", "encoder": "resnet18", "decoder_channels": 32},
        stages=[{"name": "judge", "epochs": 1, "loss": "judge", "lr": 1e-3}],
    )
    run = train(config, run_dir=tmp_path / "judge")
    [epoch] = [m for m in run.read_metrics() if m["kind"] == "epoch"]
    assert epoch["val_score_oracle"] >= epoch["val_score"]
    assert 0 <= epoch["judge_accuracy"] <= 1
    result = evaluate_run(run.path)
    assert result.judge is not None and result.judge.shape == (len(result.ids),)
    assert result.scores["score_oracle"] >= result.scores["score"]


def test_evaluate_caches_and_invalidates(trained_run, tmp_path):
    import shutil

    first = evaluate_run(trained_run.path, use_cache=False)  # predicts, whatever ran before
    assert not first.from_cache and first.probs.shape == (len(first.ids), 101, 101)
    assert first.scores["subset"] == "the run's validation images (fold 0 of 5)"
    assert first.ids == trained_run.read_split()["val_ids"] and first.scores["notes"] == []
    second = evaluate_run(trained_run.path)
    assert second.from_cache and second.folder == first.folder
    np.testing.assert_array_equal(second.probs, first.probs)
    assert second.scores == first.scores
    tta = evaluate_run(trained_run.path, tta=True, use_cache=False)
    assert tta.folder != first.folder
    # A changed checkpoint is a different key: evaluated again, never served the old predictions.
    copy = tmp_path / "copy"
    shutil.copytree(trained_run.path, copy, ignore=shutil.ignore_patterns("eval"))
    cached = evaluate_run(copy)
    assert not cached.from_cache and evaluate_run(copy).from_cache
    ckpt = load_checkpoint(copy / "best.pt")
    key = next(k for k, v in ckpt["model"].items() if v.dtype.is_floating_point and v.ndim == 4)
    ckpt["model"][key] = ckpt["model"][key] * 0.5
    save_checkpoint(
        copy / "best.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version", "saltlab_version")}
    )
    changed = evaluate_run(copy)
    assert not changed.from_cache and changed.folder != cached.folder


def test_cli_train_errors(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "saltlab", "train", "--config", "nope"],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "no preset named 'nope'" in bad.stderr and "Traceback" not in bad.stderr
    # A real data set, so that the run gets as far as building the model and asking for the weights.
    demo = subprocess.run(
        [sys.executable, "-m", "saltlab", "demo-data", str(tmp_path / "d"), "--n", "12"],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    imagenet = subprocess.run(
        [
            sys.executable,
            "-m",
            "saltlab",
            "train",
            "--config",
            "smoke",
            "--set",
            "model.encoder_weights=imagenet",
            "--data",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert imagenet.returncode == 2 and "Traceback" not in imagenet.stderr, imagenet.stderr[-2000:]
    assert "ImageNet weights for" in imagenet.stderr and "cannot be downloaded here" in imagenet.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "saltlab", "evaluate", str(tmp_path / "norun")],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "run folder not found" in missing.stderr
    printed = subprocess.run(
        [sys.executable, "-m", "saltlab", "train", "--config", "binary_judge", "--epochs", "1", "--print-config"],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0 and [s["epochs"] for s in json.loads(printed.stdout)["stages"]] == [1, 1]


def test_imagenet_fails_fast_in_a_run(demo_root, tmp_path):
    config = tiny_config(demo_root, model={"arch": "baseline", "encoder": "resnet18", "encoder_weights": "imagenet"})
    from saltlab.models import WeightsUnavailable

    with pytest.raises(WeightsUnavailable):
        train(config, run_dir=tmp_path / "imagenet")
    status = RunFolder(tmp_path / "imagenet").read_status()
    assert status["state"] == "failed" and "cannot be downloaded here" in status["error"]


def test_ddp_two_processes_on_cpu(demo_root, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            tiny_config(
                demo_root, max_train_images=32, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]
            )
        )
    )
    out = tmp_path / "ddp"
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "saltlab",
        "train",
        "--config",
        str(config),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    result = subprocess.run(
        torchrun,
        cwd=PROJECT,
        env={**env_for(tmp_path), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    status = RunFolder(out).read_status()
    assert status["state"] == "done" and status["world_size"] == 2
    assert status["steps_per_epoch"] == 2  # 32 images, batch 8 per rank, 2 ranks
    load_checkpoint(out / "last.pt")
    # The ranks compare weight checksums after every epoch (a divergence would fail the run).
    assert "epoch 1: weights identical on all 2 ranks" in (out / "train.log").read_text()


def test_dataloader_workers_give_the_same_run(demo_root, tmp_path):
    one_epoch = [{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]
    runs = {
        w: train(
            tiny_config(
                demo_root, max_train_images=32, augment=True, workers=w, stages=one_epoch, pipeline="albumentations"
            ),
            run_dir=tmp_path / f"w{w}",
        )
        for w in (0, 2)
    }
    assert "data pipeline: albumentations (per sample, 2 DataLoader workers)" in runs[2].log_path.read_text()
    a, b = (load_checkpoint(runs[w].last_path)["model"] for w in (0, 2))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


def test_init_from_checkpoint_and_mismatch(demo_root, tmp_path, trained_run):
    one_epoch = [{"name": "lovasz", "epochs": 1, "loss": "lovasz", "lr": 1e-4}]
    run = train(tiny_config(demo_root, init_from=str(trained_run.best_path), stages=one_epoch), run_dir=tmp_path / "ft")
    assert "weights initialised from" in run.log_path.read_text() and run.read_status()["state"] == "done"
    other = tiny_config(
        demo_root,
        init_from=str(trained_run.best_path),
        stages=one_epoch,
        model={"arch": "scse_hypercol", "encoder": "resnet18", "decoder_channels": 32},
    )
    with pytest.raises(CheckpointError, match="does not fit model scse_hypercol/resnet18"):
        train(other, run_dir=tmp_path / "mismatch")


def test_snapshots_and_swa_average_the_epochs(demo_root, tmp_path):
    """Cosine restarts every epoch with snapshots: swa.pt's weights are the mean of the snapshots of the
    epochs it averages, and its BatchNorm statistics are those of the training images."""
    stage = {
        "name": "sgdr",
        "epochs": 3,
        "loss": "bce",
        "optimizer": "sgd",
        "lr": 0.01,
        "snapshot_every_cycle": True,
        "swa_start": 2,
        "schedule": {"kind": "cosine", "min_lr": 1e-4, "cycle_epochs": 1},
    }
    run = train(tiny_config(demo_root, stages=[stage]), run_dir=tmp_path / "swa")
    assert sorted(p.name for p in run.path.glob("snapshot-*.pt")) == [
        "snapshot-e001.pt",
        "snapshot-e002.pt",
        "snapshot-e003.pt",
    ]
    snaps = [load_checkpoint(run.path / f"snapshot-e00{k}.pt")["model"] for k in (2, 3)]
    swa = load_checkpoint(run.path / "swa.pt")
    assert swa["scores"]["swa_epochs"] == 2 and "val_score" in swa["scores"]
    weights = [k for k in swa["model"] if not any(s in k for s in ("running_", "num_batches"))]
    assert len(weights) > 50
    for key in weights:
        torch.testing.assert_close(
            swa["model"][key], (snaps[0][key].float() + snaps[1][key].float()) / 2, atol=1e-6, rtol=0
        )
    # The first BatchNorm (after the stem conv) sees the same input whatever its own statistics are:
    # its running mean must be the mean of that input over the 64 training images.
    from saltlab.core.dataset import load_dataset
    from saltlab.core.folds import fold_split
    from saltlab.inference.network import forward_101, load_model
    from saltlab.models.geometry import images_to_tensor
    from saltlab.training.data import stratified_subset

    model, config = load_model(swa, torch.device("cpu"))
    ds = load_dataset(demo_root)
    train_ids, _ = fold_split(ds, config.fold, config.n_folds, config.fold_seed)
    pos = ds.train_index(train_ids)
    pos = pos[stratified_subset(train_ids, ds.train_masks[pos], config.max_train_images, config.seed)]
    name, first_bn = next((n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    first_bn.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].mean(dim=(0, 2, 3)) * len(inputs[0])))
    with torch.no_grad():
        forward_101(model, images_to_tensor(ds.train_images[pos]), config.model.input_size)
    expected = torch.stack(seen).sum(0) / len(pos)
    torch.testing.assert_close(swa["model"][f"{name}.running_mean"], expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(swa["model"][f"{name}.running_mean"], snaps[1][f"{name}.running_mean"], atol=1e-4)
    assert [m["kind"] for m in run.read_metrics() if m["kind"] in ("epoch", "swa")] == [
        "epoch",
        "epoch",
        "epoch",
        "swa",
    ]
    assert run.read_status()["swa_epochs"] == 2


TWO_STAGES = [
    {"name": "bce", "epochs": 1, "loss": "bce", "optimizer": "adam", "lr": 1e-3},
    {
        "name": "sgdr",
        "epochs": 2,
        "loss": "lovasz",
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "schedule": {"kind": "cosine", "max_lr": 0.01, "min_lr": 1e-4, "cycle_epochs": 2},
    },
]


def test_two_stages_switch_optimiser_reset_schedule_and_resume_into_stage_two(demo_root, tmp_path):
    # Augmented on the device pipeline (the default): per-sample seeds make the resumed batches the same.
    config = tiny_config(demo_root, stages=TWO_STAGES, max_train_images=32, max_val_images=8, augment=True)
    reference = train(config, run_dir=tmp_path / "straight")
    assert "data pipeline: device" in reference.log_path.read_text()
    epochs = [m for m in reference.read_metrics() if m["kind"] == "epoch"]
    steps = [m for m in reference.read_metrics() if m["kind"] == "step"]
    assert [m["stage"] for m in epochs] == ["bce", "sgdr", "sgdr"]
    # The schedule starts again with stage 2: its first step runs at the stage's max_lr, then decays.
    stage2 = [m for m in steps if m["step"] > 4]
    assert stage2[0]["lr"] == pytest.approx(0.01) and stage2[-1]["lr"] < 0.01
    assert all(m["lr"] == pytest.approx(1e-3) for m in steps if m["step"] <= 4)
    ckpt = load_checkpoint(reference.last_path)
    group = ckpt["optimizer"]["param_groups"][0]
    assert "momentum" in group and "betas" not in group and group["weight_decay"] == pytest.approx(1e-4)  # SGD now
    # Cancelled inside stage 2, resumed: the same weights as the uninterrupted run.
    out = tmp_path / "interrupted"
    cancel_after(config, out, tmp_path, lambda metrics: any(m["kind"] == "step" and m["step"] >= 6 for m in metrics))
    run = RunFolder(out)
    assert load_checkpoint(run.last_path)["stage"] == 1
    resume(out, tmp_path)
    final = load_checkpoint(run.last_path)
    assert final["global_step"] == ckpt["global_step"]
    for key, value in ckpt["model"].items():
        assert torch.allclose(final["model"][key].float(), value.float(), atol=1e-5), key


def test_non_finite_loss_stops_the_run_before_the_step(demo_root, tmp_path):
    # An absurd learning rate: the first step sends the weights to infinity, the next loss is not finite.
    config = tiny_config(
        demo_root,
        max_train_images=32,
        max_val_images=8,
        stages=[{"name": "bad", "epochs": 2, "loss": "bce", "optimizer": "sgd", "lr": 1e30}],
    )
    with pytest.raises(FloatingPointError, match="loss became (nan|inf) at epoch 1, step 2: lower the learning rate"):
        train(config, run_dir=tmp_path / "nan")
    status = RunFolder(tmp_path / "nan").read_status()
    assert status["state"] == "failed" and "lower the learning rate" in status["error"]


def test_losses_read_every_few_steps_still_stop_a_non_finite_run(demo_root, tmp_path, monkeypatch):
    """The GPU's rule (losses summed on the device, read on reporting steps only), run on the CPU: the
    same epoch losses as reading every step, and a non-finite loss still fails the run before any
    checkpoint holds the weights it touched."""
    from saltlab.training import engine

    config = tiny_config(demo_root, max_train_images=48, max_val_images=8, log_every=3)
    every_step = train(config, run_dir=tmp_path / "every")
    monkeypatch.setattr(engine, "_reads_loss_now", lambda s: s.pos.global_step % 3 == 2)  # reads at steps 3, 6, ...
    deferred = train(config, run_dir=tmp_path / "deferred")
    losses = [[m["train_loss"] for m in run.read_metrics() if m["kind"] == "epoch"] for run in (every_step, deferred)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    bad = {**config, "stages": [{"name": "bad", "epochs": 2, "loss": "bce", "optimizer": "sgd", "lr": 1e30}]}
    with pytest.raises(FloatingPointError, match="loss became (nan|inf) at epoch 1, step 3"):
        train(bad, run_dir=tmp_path / "nan")
    assert not (tmp_path / "nan" / "last.pt").exists() and not (tmp_path / "nan" / "best.pt").exists()


def test_torch_compile_trains_and_saves_plain_weights(demo_root, tmp_path):
    config = tiny_config(
        demo_root,
        max_train_images=16,
        max_val_images=8,
        compile=True,
        augment=True,
        stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3, "swa_start": 1}],
    )
    run = train(config, run_dir=tmp_path / "compiled")
    log = run.log_path.read_text()
    assert "torch.compile: the first training step took" in log and "the first validation took" in log
    status = run.read_status()
    assert status["state"] == "done" and status["compile_s"] > 0
    epoch = [m for m in run.read_metrics() if m["kind"] == "epoch"][0]
    assert epoch["epoch_s"] < status["wall_s"] - status["compile_s"]  # the compile time is not the epoch's
    for name in ("best.pt", "last.pt", "swa.pt"):  # state_dict names as an uncompiled model's: loadable anywhere
        weights = load_checkpoint(run.path / name)["model"]
        assert not any(k.startswith("_orig_mod") for k in weights), name
    evaluate_run(run.path)


def test_a_signal_before_the_first_step_stops_the_run_at_once(demo_root, tmp_path):
    # torch.compile on the CPU takes a minute before the first step ends: a cancel must not wait for it.
    config_path = tmp_path / "c.json"
    config_path.write_text(json.dumps(tiny_config(demo_root, compile=True)))
    out = tmp_path / "compiling"
    proc = start_training(config_path, out, tmp_path)
    wait_for(
        lambda: (out / "train.log").is_file() and "torch.compile: on" in (out / "train.log").read_text(),
        what="the compile to start",
    )
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, output
    status = RunFolder(out).read_status()
    assert status["state"] == "cancelled" and status["message"] == "cancelled by SIGTERM; nothing trained yet"
    assert not (out / "last.pt").exists()
