"""The GPU path: training (bf16, channels_last, the device pipeline, torch.compile), resume and predict on CUDA.

Marked `gpu` and skipped where CUDA is absent. SALTLAB_TEST_DEVICE=cpu runs the same tests on the
CPU (a dry run of their logic on a machine without a GPU; bf16 autocast is then forced on).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from saltlab.runs.checkpoint import load_checkpoint
from saltlab.runs.run_folder import RunFolder
from saltlab.training.engine import train
from tests.helpers import cancel_after, resume, tiny_config

DEVICE = os.environ.get("SALTLAB_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="no CUDA GPU here"),
]


def gpu_config(demo_root, **extra) -> dict:
    return tiny_config(demo_root, device=DEVICE, amp=True, augment=True, **extra)


@pytest.fixture(scope="module")
def gpu_run(demo_root, tmp_path_factory):
    return train(gpu_config(demo_root), run_dir=tmp_path_factory.mktemp("gpu") / "run")


def test_a_short_run_on_the_gpu_uses_bf16_and_the_device_pipeline(gpu_run):
    log = gpu_run.log_path.read_text()
    assert f"device {DEVICE}" in log and "amp True" in log
    assert f"data pipeline: device (the training set as one tensor on {DEVICE}" in log
    status = gpu_run.read_status()
    assert status["state"] == "done" and status["epoch"] == 2
    steps = [m["loss"] for m in gpu_run.read_metrics() if m["kind"] == "step"]
    assert np.isfinite(steps).all() and np.mean(steps[-4:]) < np.mean(steps[:4])


def test_resume_on_the_gpu_matches_the_uninterrupted_run(demo_root, tmp_path, gpu_run):
    out = tmp_path / "interrupted"
    cancel_after(gpu_config(demo_root), out, tmp_path, lambda metrics: sum(m["kind"] == "step" for m in metrics) >= 3)
    resume(out, tmp_path)
    run = RunFolder(out)
    final, reference = load_checkpoint(run.last_path), load_checkpoint(gpu_run.last_path)
    assert final["global_step"] == reference["global_step"]
    # cuDNN's kernels are not bitwise reproducible and bf16 rounds: equal within a tolerance, per tensor.
    for key, value in reference["model"].items():
        if value.is_floating_point():
            scale = value.float().abs().mean().item() + 1e-3
            assert (final["model"][key].float() - value.float()).abs().mean().item() <= 0.02 * scale, key


def test_predict_on_the_gpu_agrees_with_the_cpu(gpu_run, demo_ds):
    from saltlab.inference.predict import predict_images

    images = demo_ds.test_images[:32]
    on_device, _ = predict_images([gpu_run.path], images, tta=True, device=DEVICE)
    on_cpu, _ = predict_images([gpu_run.path], images, tta=True, device="cpu")
    assert on_device.shape == on_cpu.shape == (32, 101, 101)
    diff = np.abs(on_device - on_cpu)
    assert diff.mean() < 0.01 and diff.max() < 0.1, (diff.mean(), diff.max())  # bf16 on the GPU, fp32 on the CPU


def test_the_device_pipeline_on_the_gpu_equals_the_cpu(demo_ds):
    from saltlab.training.device_pipeline import DeviceTrainData

    images, masks = demo_ds.train_images[:64], demo_ds.train_masks[:64]
    items = [(i, 31 * i + 5) for i in range(64)]
    x_dev, y_dev = DeviceTrainData(images, masks, True, torch.device(DEVICE)).batch(items)
    x_cpu, y_cpu = DeviceTrainData(images, masks, True, torch.device("cpu")).batch(items)
    assert x_dev.device.type == torch.device(DEVICE).type
    assert torch.allclose(x_dev.cpu(), x_cpu, atol=1e-5) and torch.equal(y_dev.cpu(), y_cpu)


def test_torch_compile_on_the_gpu(demo_root, tmp_path):
    run = train(
        gpu_config(
            demo_root,
            compile=True,
            max_train_images=32,
            max_val_images=8,
            stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}],
        ),
        run_dir=tmp_path / "compiled",
    )
    assert run.read_status()["state"] == "done" and run.read_status()["compile_s"] > 0
