"""Test-set prediction: submissions, TTA, ensembles, refusals, a killed predict."""

import os
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

from saltlab.core.dataset import load_dataset
from saltlab.core.rle import decode, read_submission
from saltlab.inference.network import predict
from saltlab.inference.predict import PredictError, predict_images, predict_test_set, write_outputs
from saltlab.runs.checkpoint import load_checkpoint
from tests.helpers import wait_for

PROJECT = Path(__file__).resolve().parents[1]


def saltlab(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "saltlab", *args], cwd=PROJECT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.real_data
def _real_test_subset(real_root: Path, folder: Path, every: int = 10) -> list[str]:
    """A Kaggle-layout folder of every `every`-th real test image (links to the real PNGs, never copies), with
    the sample submission cut to those ids in its own order; the ids."""
    sample = pd.read_csv(real_root / "sample_submission.csv", dtype=str)
    keep = sample.iloc[::every]
    (folder / "test" / "images").mkdir(parents=True)
    for id_ in keep["id"]:
        (folder / "test" / "images" / f"{id_}.png").symlink_to(real_root / "test" / "images" / f"{id_}.png")
    keep.to_csv(folder / "sample_submission.csv", index=False)
    (folder / "depths.csv").symlink_to(real_root / "depths.csv")
    return keep["id"].tolist()


def test_submission_for_the_real_test_images(trained_run, real_root, tmp_path):
    """Real test PNGs (200 of the 2,000: the rows' order and the RLE are per image) in the sample's order."""
    data = tmp_path / "real-subset"
    ids_wanted = _real_test_subset(real_root, data)
    out = tmp_path / "out" / "submission.csv"
    out.parent.mkdir()
    result = saltlab(
        "predict", "--runs", str(trained_run.path), "--data", str(data), "--out", str(out), "--min-size", "10"
    )
    assert result.returncode == 0, result.stderr
    submission = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert submission["id"].tolist() == ids_wanted
    assert all(decode(r).shape == (101, 101) for r in submission["rle_mask"])
    ids, masks = read_submission(out)
    assert len(ids) == 200 and masks.shape == (200, 101, 101)
    assert [p.name for p in out.parent.iterdir()] == ["submission.csv"]


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
    result = saltlab(
        "predict", "--runs", str(tmp_path / "nope"), "--data", str(demo_root), "--out", str(tmp_path / "x.csv")
    )
    assert result.returncode == 2 and "run folder not found" in result.stderr
    old = tmp_path / "old"
    shutil.copytree(trained_run.path, old, ignore=shutil.ignore_patterns("eval"))
    ckpt = load_checkpoint(old / "best.pt")
    torch.save({**ckpt, "format_version": 0, "saltlab_version": "0.0.1"}, old / "best.pt")
    result = saltlab("predict", "--runs", str(old), "--data", str(demo_root), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 2 and "format 0" in result.stderr and "saltlab 0.0.1" in result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.real_data
def test_a_write_killed_midway_leaves_the_previous_file(tmp_path):
    """Every output (submission CSV, checkpoints, status, caches) goes through fileio.atomic_write: a kill
    while it is writing leaves the previous file whole, never a torn one."""
    target = tmp_path / "submission.csv"
    target.write_text("id,rle_mask\nold,1 1\n")
    script = (
        f"import time\nfrom saltlab.core.fileio import atomic_write\n"
        f"def slow(f):\n    for _ in range(2000):\n        f.write(b'x' * 65536); f.flush(); time.sleep(0.01)\n"
        f"atomic_write({str(target)!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".submission.csv.") and p.stat().st_size > 4 * 65536 for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the writer ended or never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-write: a quarter of a megabyte and more is in the temporary file
    proc.wait(30)
    assert target.read_text() == "id,rle_mask\nold,1 1\n"


def test_threshold_default_comes_from_the_validation_sweep(trained_run, tmp_path):
    from saltlab.analysis.summaries import threshold_sweep
    from saltlab.inference.evaluate import evaluate_run
    from saltlab.inference.predict import suggested_threshold

    run = tmp_path / "run"
    shutil.copytree(trained_run.path, run, ignore=shutil.ignore_patterns("eval"))
    assert suggested_threshold([run]) is None  # not evaluated yet
    ev = evaluate_run(run)
    ds = load_dataset(ev.scores["data"])
    sweep = threshold_sweep(ev.probs, ev.judge, ds.train_masks[ds.train_index(ev.ids)])
    best = float(sweep.loc[sweep["best"], "threshold"].iloc[0])
    assert ev.scores["sweep_threshold"] == best
    threshold, source = suggested_threshold([run])
    assert threshold == round(best, 2) and "validation sweep" in source
    result = saltlab("predict", "--runs", str(run), "--data", ev.scores["data"], "--out", str(tmp_path / "s.csv"))
    assert result.returncode == 0 and f"pixel threshold {round(best, 2)}" in result.stderr, result.stderr


def test_uploads_are_decoded_or_refused_by_name(demo_ds):
    import cv2

    from saltlab.inference.predict import decode_uploads, masks_zip

    ok = cv2.imencode(".png", demo_ds.test_images[0])[1].tobytes()
    rgb = cv2.imencode(".png", np.repeat(demo_ds.test_images[1][..., None], 3, 2))[1].tobytes()
    big = cv2.imencode(".png", np.zeros((128, 128), np.uint8))[1].tobytes()
    ids, images, problems = decode_uploads(
        [("a.png", ok), ("b.png", rgb), ("c.png", big), ("d.png", b"hello"), ("a.png", ok)]
    )
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(images, demo_ds.test_images[:2])
    assert [p[0] for p in problems] == ["c.png", "d.png", "a.png"]
    assert "wrong size 128x128" in problems[0][1] and "not a PNG" in problems[1][1] and "same name" in problems[2][1]
    masks = images > 100
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(masks_zip(ids, masks))) as archive:
        back = [cv2.imdecode(np.frombuffer(archive.read(f"{i}.png"), np.uint8), cv2.IMREAD_UNCHANGED) > 0 for i in ids]
    np.testing.assert_array_equal(np.stack(back), masks)


@pytest.mark.real_data
def test_background_job_finishes_or_cancels_without_a_csv(trained_run, demo_root, real_root, tmp_path):
    from saltlab.jobs.predict_jobs import cancel_job, list_jobs, start_job

    job = start_job([str(trained_run.path)], str(demo_root), threshold=0.5, root=tmp_path / "jobs")
    wait_for(lambda: (job.read_status() or {}).get("state") != "running", 120, "the job to end")
    status = job.read_status()
    assert status["state"] == "done", (status, job.log_path.read_text())
    assert status["n_images"] == 60 and status["done"] == status["total"] == 60
    ids, _ = read_submission(job.csv_path)
    assert ids == load_dataset(demo_root).submission_ids and len(list(job.masks_dir.glob("*.png"))) == 60

    slow = start_job([str(trained_run.path)] * 3, str(real_root), tta=True, root=tmp_path / "jobs")
    wait_for(lambda: (slow.read_status() or {}).get("done", 0) > 0, 120, "inference under way")
    assert cancel_job(slow) == "stopping"
    wait_for(lambda: (slow.read_status() or {}).get("state") != "running", 60, "the cancel")
    assert slow.read_status()["state"] == "cancelled"
    assert not slow.csv_path.exists() and not list(slow.path.glob(".*.tmp"))
    assert [j.path for j in list_jobs(tmp_path / "jobs")] == [slow.path, job.path]


@pytest.mark.real_data
def test_a_killed_job_reads_as_failed(trained_run, real_root, tmp_path):
    import os

    from saltlab.jobs.predict_jobs import start_job

    job = start_job([str(trained_run.path)], str(real_root), tta=True, root=tmp_path / "jobs")
    wait_for(lambda: (job.read_status() or {}).get("done", 0) > 0, 120, "inference under way")
    os.kill(job.read_status()["pid"], signal.SIGKILL)
    wait_for(lambda: job.read_status()["state"] != "running", 30, "the job to read as ended")
    status = job.read_status()
    assert status["state"] == "failed" and "died" in status["error"]
    assert not job.csv_path.exists()
