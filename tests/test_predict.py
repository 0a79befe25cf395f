"""Test-set prediction: submissions, TTA, ensembles, refusals, a killed predict."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from saltlab.dataset import load_dataset
from saltlab.predict import PredictError, predict_images, predict_test_set, write_outputs
from saltlab.rle import decode, read_submission
from saltlab.training.checkpoint import load_checkpoint
from saltlab.training.inference import predict

PROJECT = Path(__file__).resolve().parents[1]


def saltlab(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "saltlab", *args], cwd=PROJECT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.real_data
def test_submission_for_the_real_test_images(trained_run, real_root, tmp_path):
    out = tmp_path / "submission.csv"
    result = saltlab("predict", "--runs", str(trained_run.path), "--data", str(real_root), "--out", str(out), "--min-size", "10")
    assert result.returncode == 0, result.stderr
    submission = pd.read_csv(out, dtype=str, keep_default_na=False)
    sample = pd.read_csv(real_root / "sample_submission.csv", dtype=str)
    assert submission["id"].tolist() == sample["id"].tolist()
    assert all(decode(r).shape == (101, 101) for r in submission["rle_mask"])
    ids, masks = read_submission(out)
    assert len(ids) == 2000 and masks.shape == (2000, 101, 101)
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


class PointwiseModel(nn.Module):
    """A flip-equivariant dummy: each output pixel depends on its own input pixel only."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(3.0)
            self.conv.bias.fill_(-1.5)

    def forward(self, x):
        # The judge looks at the original 101x101 area only: flip-invariant under the (asymmetric) padding.
        return {"mask": self.conv(x), "judge": x[..., 13:114, 13:114].mean(dim=(1, 2, 3))}


def test_hflip_tta_of_a_flip_equivariant_model_equals_no_tta():
    images = np.random.default_rng(0).integers(0, 256, (10, 101, 101), dtype=np.uint8)
    model = PointwiseModel()
    plain, judge_plain = predict(model, images, 128, torch.device("cpu"), channels_last=False)
    tta, judge_tta = predict(model, images, 128, torch.device("cpu"), channels_last=False, tta=True)
    np.testing.assert_allclose(tta, plain, atol=1e-6)
    np.testing.assert_allclose(judge_tta, judge_plain, atol=1e-6)


def test_ensemble_of_two_identical_runs_equals_one_run(trained_run, demo_ds, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(trained_run.path, twin, ignore=shutil.ignore_patterns("eval"))
    one, _ = predict_images([trained_run.path], demo_ds.test_images)
    two, _ = predict_images([trained_run.path, twin], demo_ds.test_images)
    np.testing.assert_allclose(two, one, atol=1e-6)


def test_prediction_object_and_pngs(trained_run, demo_root, tmp_path):
    prediction = predict_test_set([trained_run.path], data=str(demo_root), threshold=0.5)
    assert prediction.ids == load_dataset(demo_root).submission_ids
    write_outputs(prediction, tmp_path / "s.csv", tmp_path / "pngs")
    assert len(list((tmp_path / "pngs").glob("*.png"))) == len(prediction.ids)
    _, masks = read_submission(tmp_path / "s.csv")
    np.testing.assert_array_equal(masks, prediction.masks)


def test_refusals(trained_run, demo_root, tmp_path):
    train_only = tmp_path / "train-only"
    shutil.copytree(demo_root, train_only, ignore=shutil.ignore_patterns("test"))
    with pytest.raises(PredictError, match="has no test images"):
        predict_test_set([trained_run.path], data=str(train_only))
    result = saltlab("predict", "--runs", str(tmp_path / "nope"), "--data", str(demo_root), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 2 and "run folder not found" in result.stderr
    old = tmp_path / "old"
    shutil.copytree(trained_run.path, old, ignore=shutil.ignore_patterns("eval"))
    ckpt = load_checkpoint(old / "best.pt")
    torch.save({**ckpt, "format_version": 0, "saltlab_version": "0.0.1"}, old / "best.pt")
    result = saltlab("predict", "--runs", str(old), "--data", str(demo_root), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 2 and "format 0" in result.stderr and "saltlab 0.0.1" in result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.real_data
def test_killed_predict_leaves_no_partial_csv(trained_run, real_root, tmp_path):
    out = tmp_path / "submission.csv"
    proc = subprocess.Popen([sys.executable, "-m", "saltlab", "predict", "--runs", str(trained_run.path), "--data",
                             str(real_root), "--out", str(out), "--tta"], cwd=PROJECT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(8)  # inside inference: imports, data and model take a few seconds, 4000 forward passes many more
    assert proc.poll() is None, "predict finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert list(tmp_path.iterdir()) == []
