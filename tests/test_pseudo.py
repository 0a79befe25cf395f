"""Pseudo-labelling: only confident pixels / images are kept, the loss ignores the rest, and a run
trained with pseudo-labels records them (config.json, pseudo-labels.npz) and uses them."""

import json

import numpy as np
import pytest
import torch

from saltlab.inference.pseudo import IGNORE, load, select_confident
from saltlab.models.losses import compute_loss
from saltlab.runs.config import LOSSES, PseudoConfig
from saltlab.training.data import SaltTrainSet
from saltlab.training.engine import train
from tests.helpers import tiny_config


def probs_stack() -> np.ndarray:
    rng = np.random.default_rng(0)
    probs = np.zeros((4, 101, 101), np.float32)
    probs[0] = 0.05  # all confident background
    probs[0, :20, :20] = 0.95  # and a confident salt corner
    probs[1] = rng.uniform(0, 1, (101, 101))  # mostly unconfident: 40% of pixels confident
    probs[2] = 0.05
    probs[2, 50:55] = 0.5  # 5 unconfident rows: 95% confident
    probs[3] = 0.9
    return probs


def test_pixels_mode_keeps_only_confident_pixels_and_images():
    probs = probs_stack()
    positions, labels, confident = select_confident(
        probs, None, PseudoConfig(runs=["x"], low=0.2, high=0.8, min_confident=0.9)
    )
    assert positions.tolist() == [0, 2, 3]
    assert confident.tolist() == pytest.approx([1.0, 1 - 5 / 101, 1.0])
    np.testing.assert_array_equal(labels[0], (probs[0] >= 0.8).astype(np.uint8))
    assert (labels[1][50:55] == IGNORE).all() and (labels[1][:50] == 0).all() and (labels[1][55:] == 0).all()
    assert (labels[2] == 1).all()
    # Every kept label agrees with a confident probability; every ignored pixel was unconfident.
    kept = probs[positions]
    assert ((labels == 1) <= (kept >= 0.8)).all() and ((labels == 0) <= (kept <= 0.2)).all()
    assert ((labels == IGNORE) == ((kept > 0.2) & (kept < 0.8))).all()


def test_images_mode_max_images_and_the_judge():
    probs = probs_stack()
    options = PseudoConfig(runs=["x"], mode="images", min_confident=0.9, max_images=2)
    positions, labels, _ = select_confident(probs, None, options)
    assert positions.tolist() == [0, 3]  # the two fully confident images (2 is 95%)
    assert set(np.unique(labels)) <= {0, 1}
    judge = np.array([0.1, 0.99, 0.5, 0.95], np.float32)  # 0: judged empty; 2: the judge is unsure
    positions, labels, _ = select_confident(probs, judge, PseudoConfig(runs=["x"], min_confident=0.9))
    assert positions.tolist() == [0, 3]
    assert (labels[0] == 0).all()  # the judge's confident 'no salt' overrides the salt corner


@pytest.mark.parametrize("loss", LOSSES)
def test_losses_ignore_the_ignored_pixels(loss):
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 101, 101, requires_grad=True)
    judge = torch.randn(3, requires_grad=True)
    target = (torch.rand(3, 1, 101, 101) > 0.6).float()
    valid = torch.rand(3, 1, 101, 101) > 0.3
    outputs = {"mask": logits, "judge": judge, "aux": [logits * 0.5]}
    value = compute_loss(loss, outputs, torch.where(valid, target, torch.full_like(target, IGNORE)), valid=valid)
    value.backward()
    assert torch.isfinite(value)
    assert (logits.grad[~valid] == 0).all() and logits.grad[valid].abs().sum() > 0
    # The label of an ignored pixel does not matter.
    other = compute_loss(loss, outputs, torch.where(valid, target, 1 - target), valid=valid)
    assert torch.allclose(value, other)


def test_augmentation_keeps_ignore_labels_exact():
    images = np.random.default_rng(0).integers(0, 256, (1, 101, 101), dtype=np.uint8)
    masks = np.zeros((1, 101, 101), np.uint8)
    masks[0, 30:70, 30:70] = IGNORE
    masks[0, 40:60, 40:60] = 1
    data = SaltTrainSet(images, masks, augment=True)
    seen = set()
    for seed in range(60):  # crops, flips and intensity changes
        seen |= set(np.unique(data[(0, seed)][1].numpy()).tolist())
    assert seen == {0.0, 1.0, float(IGNORE)}


def test_a_run_trained_with_pseudo_labels(demo_root, demo_ds, trained_run, tmp_path):
    from saltlab.inference.predict import predict_images

    # The tiny teacher is unsure everywhere (p near 0.5): thresholds from its own quantiles give a mix.
    probs, _ = predict_images([trained_run.path], demo_ds.test_images)
    low, high = min(float(np.quantile(probs, 0.3)), 0.499), max(float(np.quantile(probs, 0.7)), 0.501)
    per_image = ((probs <= low) | (probs >= high)).reshape(len(probs), -1).mean(1)
    min_confident = float(np.median(per_image))
    pseudo = {"runs": [str(trained_run.path)], "low": low, "high": high, "min_confident": min_confident, "tta": False}
    config = tiny_config(demo_root, pseudo=pseudo, stages=[{"name": "bce", "epochs": 1, "loss": "lovasz", "lr": 1e-3}])
    run = train(config, run_dir=tmp_path / "pseudo")
    status = run.read_status()
    assert status["state"] == "done"
    recorded = json.loads(run.config_path.read_text())["pseudo"]
    assert recorded["runs"] == [str(trained_run.path)] and recorded["low"] == low and recorded["high"] == high
    labels = load(run.path)
    assert labels is not None and labels.n_candidates == 60
    assert status["n_pseudo"] == len(labels.ids) == int((per_image >= min_confident).sum())
    assert 0 < len(labels.ids) < 60 and status["n_train"] == 64 + len(labels.ids)
    assert (labels.confident >= min_confident - 1e-6).all()
    assert IGNORE in labels.masks and set(np.unique(labels.masks)) <= {0, 1, IGNORE}
    assert "pseudo-labelled" in run.log_path.read_text()


def test_saved_labels_are_reused_and_the_cli_records_the_runs(demo_root, demo_ds, trained_run, tmp_path):
    import subprocess
    import sys

    from saltlab.inference.pseudo import PseudoLabels, pseudo_training_data, save

    ids = list(demo_ds.test_ids[:3])
    masks = np.zeros((3, 101, 101), np.uint8)
    masks[:, :10] = IGNORE
    save(PseudoLabels(ids, masks, np.ones(3, np.float32), 60), tmp_path)
    # The runs named do not exist: the saved file is used, nothing is predicted again.
    images, labels = pseudo_training_data(PseudoConfig(runs=["/nowhere"]), tmp_path, demo_ds)
    np.testing.assert_array_equal(images, demo_ds.test_images[:3])
    np.testing.assert_array_equal(labels, masks)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "saltlab",
            "train",
            "--config",
            "tiny",
            "--pseudo-from",
            str(trained_run.path),
            "--set",
            "pseudo.mode=images",
            "--print-config",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    pseudo = json.loads(result.stdout)["pseudo"]
    assert pseudo["runs"] == [str(trained_run.path)] and pseudo["mode"] == "images"
