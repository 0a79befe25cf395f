"""The explorer's numbers against direct computations; compare on two real (tiny, CPU-trained) runs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saltlab.analysis import summaries as analysis
from saltlab.core.metric import image_scores, image_scores_per_image, iou

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    truth = rng.random((120, 101, 101)) < rng.random((120, 1, 1))
    truth[:40] = False
    probs = np.clip(truth * 0.7 + rng.random(truth.shape) * 0.5, 0, 1).astype(np.float32)
    judge = rng.random(120)
    return probs, judge, truth


def test_bucket_table_against_direct_computation(case):
    probs, judge, truth = case
    s = analysis.summarize("m", probs, None, truth)
    pred = probs > 0.5
    direct = image_scores_per_image(pred, truth)
    assert s.score == pytest.approx(np.mean(direct))
    expected = pd.Series(direct).round(1).value_counts()
    for bucket, count in s.buckets.items():
        assert count == expected.get(bucket, 0)
    assert s.buckets.sum() == 120 and list(s.buckets.index) == analysis.BUCKETS
    assert s.mean_iou == pytest.approx(iou(pred, truth).mean())
    c = s.confusion
    assert c["true negative"] + c["false positive"] == 40 and sum(c.values()) == 120


def test_judge_summary_states_the_gap(case):
    probs, judge, truth = case
    probs = probs.copy()
    probs[:20] += 0.2  # false alarms on half of the empty images: the gates now matter
    s = analysis.summarize("j", probs, judge, truth)
    j = s.judge
    # Each number computed here from its definition: masks gated by the judge's call, by the TRUE empty
    # label, and not gated at all. They differ on this case, so a swapped or missing gate fails.
    has_salt = truth.reshape(len(truth), -1).any(1)
    pixels = probs > 0.5
    honest = np.mean(image_scores_per_image(pixels & (judge > 0.5)[:, None, None], truth))
    oracle = np.mean(image_scores_per_image(pixels & has_salt[:, None, None], truth))
    ungated = np.mean(image_scores_per_image(pixels, truth))
    assert len({round(honest, 4), round(oracle, 4), round(ungated, 4)}) == 3
    assert j["honest score"] == pytest.approx(honest) and s.score == pytest.approx(honest)
    assert j["oracle score"] == pytest.approx(oracle) and j["ungated score"] == pytest.approx(ungated)
    assert j["accuracy"] == pytest.approx(((judge > 0.5) == has_salt).mean())
    assert j["gap"] == pytest.approx(oracle - honest)


def test_min_component_size():
    masks = np.zeros((2, 101, 101), bool)
    masks[0, 10:20, 10:20] = True  # 100 px
    masks[0, 50:52, 50:52] = True  # 4 px
    masks[1, 0, 0] = True
    out = analysis.remove_small_components(masks, 10)
    assert out[0, 15, 15] and not out[0, 50, 50] and not out[1].any()
    assert masks[0, 50, 50]  # the input is untouched


def test_transitions_heatmap_crop_sweep(case):
    probs, judge, truth = case
    a = image_scores(probs > 0.5, truth)
    b = image_scores(probs > 0.6, truth)
    matrix = analysis.bucket_transitions(a, b)
    assert matrix.values.sum() == 120
    assert matrix.loc[1.0, 1.0] == int(((np.rint(a * 10) == 10) & (np.rint(b * 10) == 10)).sum())
    heat = analysis.error_heatmap(probs > 0.5, truth)
    assert heat.shape == (101, 101) and heat[3, 7] == pytest.approx(((probs[:, 3, 7] > 0.5) != truth[:, 3, 7]).mean())
    full, centre = analysis.central_crop_scores(probs > 0.5, truth)
    assert full == pytest.approx(a.mean())
    assert centre == pytest.approx(image_scores((probs > 0.5)[:, 5:95, 5:95], truth[:, 5:95, 5:95]).mean())
    sweep = analysis.threshold_sweep(probs, None, truth)
    assert sweep["best"].sum() >= 1 and sweep.loc[sweep["best"], "score"].iloc[0] == sweep["score"].max()
    assert sweep.loc[sweep["threshold"] == 0.5, "score"].iloc[0] == pytest.approx(a.mean())


def test_per_image_table_and_beats(case):
    probs, judge, truth = case
    images = np.zeros((120, 101, 101), np.uint8)
    preds = {"A": probs > 0.5, "B": probs > 0.7}
    table = analysis.per_image_table([f"i{k}" for k in range(120)], truth, images, np.arange(120.0), preds)
    assert (table["delta B - A"] == table["score B"] - table["score A"]).all()
    beats = analysis.where_beats(table, "A", "B")
    assert (beats["delta"] > 0).all() and beats["delta"].is_monotonic_decreasing
    by_class = analysis.score_by_group(
        table["score A"].to_numpy(), table["coverage_class"].to_numpy(), "coverage_class"
    )
    assert by_class["images"].sum() == 120


def test_compare_cli_on_two_real_runs(trained_run, demo_root, tmp_path):
    from saltlab.training.engine import train
    from tests.helpers import tiny_config

    other = train(
        tiny_config(demo_root, seed=9, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]),
        run_dir=tmp_path / "other",
    )
    result = subprocess.run(
        [sys.executable, "-m", "saltlab", "compare", str(trained_run.path), str(other.path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    n_val = len(trained_run.read_split()["val_ids"])
    assert f"{n_val} validation images" in out and "images per IoU bucket" in out and "bucket transitions" in out
    assert f"where {other.path.name} beats {trained_run.path.name}" in out


def test_explore_names_other_checkpoints_of_a_run(trained_run, tmp_path):
    import shutil

    from saltlab.analysis.explore import explore, model_name

    run = tmp_path / "r"
    shutil.copytree(trained_run.path, run, ignore=shutil.ignore_patterns("eval"))
    # Another checkpoint of the same run, with weights that surely differ from best.pt's.
    from saltlab.runs.checkpoint import load_checkpoint, save_checkpoint

    other = load_checkpoint(run / "best.pt")
    head = [k for k in other["model"] if k.startswith("head") and k.endswith("weight")][0]
    other["model"][head] = other["model"][head] * 0.5
    save_checkpoint(
        run / "swa.pt", {k: v for k, v in other.items() if k not in ("format", "format_version", "saltlab_version")}
    )
    assert model_name(run) == "r" and model_name(run / "best.pt") == "r" and model_name(run, "swa") == "r/swa.pt"
    ex = explore([run / "best.pt", run / "swa.pt"])
    assert ex.names == ["r", "r/swa.pt"] and ex.evaluations["r/swa.pt"].checkpoint == run / "swa.pt"
    assert not np.array_equal(ex.probs["r"], ex.probs["r/swa.pt"])


def test_depth_coverage_shares_keep_empty_masks_apart_and_sum_to_one_per_band(demo_ds):
    from saltlab.core.table import image_table

    table = image_table(demo_ds)
    train = table[table["split"] == "train"]
    counts, shares = analysis.depth_coverage_shares(table)
    assert counts.index[:2].tolist() == ["empty", "0, not empty"] and len(counts) == 12
    assert counts.loc["empty"].sum() == int(train["empty"].astype(bool).sum())
    small = (~train["empty"].astype(bool)) & (train["coverage_class"].astype(int) == 0)
    assert counts.loc["0, not empty"].sum() == int(small.sum())
    assert counts.to_numpy().sum() == len(train)  # test images (no mask) are not counted
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)
    lows = [int(band.split("-")[0]) for band in counts.columns if band != "unknown"]
    assert lows == sorted(lows)
