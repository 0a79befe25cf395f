"""Suspect labels: the ranking and its reasons, out-of-fold predictions from real runs, the marks, and
training without the marked images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from saltlab.analysis.suspects import OutOfFold, SuspectsError, cut_off_row, out_of_fold, rank_labels
from saltlab.core.dataset import load_dataset
from saltlab.core.suspect_marks import MarksError, marked, set_marked
from saltlab.runs.config import ConfigError, from_dict
from saltlab.training.engine import RunDataError, train
from tests.helpers import tiny_config

T = 101


def test_confident_disagreement_ranks_first_with_its_reason_in_words():
    truth = np.zeros((4, T, T), dtype=bool)
    probs = np.full((4, T, T), 0.02, dtype=np.float32)
    probs[0, 20:80, 10:90] = 0.98  # the model is sure of salt where the label is empty
    truth[1, 50:, :] = True  # a fair label the model agrees with
    probs[1, 50:, :] = 0.97
    truth[2, :40, 30:70] = True  # identical rows from the top, stopping at row 40: a cut-off vertical mask
    probs[2, :40, 30:70] = 0.95
    truth[3, 60:, :] = True  # labelled salt where the model is sure there is none
    oof = OutOfFold(["a", "b", "c", "d"], probs, truth, ["r"] * 4)
    table = rank_labels(oof).set_index("id")
    order = table.index.tolist()
    assert order[-1] == "b"
    assert set(order[:3]) == {"a", "c", "d"}
    assert "98% sure of salt across 47% of the tile, label empty" in table.loc["a", "reason"]
    assert "vertical mask that stops at row 40, mid-tile" in table.loc["c", "reason"]
    assert "label marks salt on 41% of the tile where the model is 98% sure of none" in table.loc["d", "reason"]
    assert table.loc["b", "reason"] == "no confident disagreement"


def test_cut_off_row_finds_only_straight_cuts_of_identical_rows():
    mask = np.zeros((T, T), dtype=bool)
    assert cut_off_row(mask) is None
    mask[:, 20:40] = True  # a vertical mask over the whole height: not cut
    assert cut_off_row(mask) is None
    mask[70:] = False
    assert cut_off_row(mask) == 70
    mask[60, 50] = True  # rows differ: a natural shape
    assert cut_off_row(mask) is None
    full = np.zeros((T, T), dtype=bool)
    full[50:] = True  # a full-width block below a flat top: not a vertical mask
    assert cut_off_row(full) is None


def test_out_of_fold_covers_the_held_out_images_of_each_run(demo_root, tmp_path, trained_run):
    other = train(
        tiny_config(demo_root, fold=1, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]),
        run_dir=tmp_path / "fold1",
    )
    oof = out_of_fold([trained_run.path, other.path])
    held = set(trained_run.read_split()["val_ids"]) | set(other.read_split()["val_ids"])
    assert set(oof.ids) == held and len(oof.ids) == len(held)
    assert oof.probs.shape == (len(held), T, T) and oof.images.shape == (len(held), T, T)
    ds = load_dataset(demo_root)
    assert np.array_equal(oof.truth, ds.train_masks[ds.train_index(oof.ids)])
    k = oof.ids.index(sorted(other.read_split()["val_ids"])[0])
    assert oof.source[k] == "fold1"
    assert len(rank_labels(oof)) == len(held)


def test_runs_of_two_data_sets_are_refused(demo_root, tmp_path, trained_run):
    import shutil

    from saltlab.core.demo import generate_demo_dataset

    elsewhere = generate_demo_dataset(tmp_path / "other", n=40, n_test=4, seed=5)
    moved = tmp_path / "moved"  # the same run, its config pointed at another data set
    shutil.copytree(trained_run.path, moved, ignore=shutil.ignore_patterns("eval"))
    from saltlab.runs.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(moved / "best.pt")
    checkpoint["config"]["data"] = str(elsewhere)
    checkpoint["split"] = None  # its recorded ids are not in the other set; the fold is recomputed there
    save_checkpoint(moved / "best.pt", checkpoint)
    (moved / "split.json").unlink()
    with pytest.raises(SuspectsError, match="rank one data set"):
        out_of_fold([trained_run.path, moved])


def test_marks_round_trip_and_refuse_unknown_ids(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SALTLAB_CACHE", str(tmp_path))
    ds = load_dataset(demo_root)
    first, second = ds.train_ids[:2]
    set_marked(ds, first, reason="98% sure of salt")
    set_marked(ds, second)
    assert set(marked(demo_root)) == {first, second}  # by folder, without loading the data set
    set_marked(ds, second, mark=False)
    assert list(marked(ds)) == [first] and marked(ds)[first]["reason"] == "98% sure of salt"
    with pytest.raises(MarksError, match="nope: not a labelled image"):
        set_marked(ds, "nope")
    path = next((tmp_path / "suspects").glob("*.json"))
    path.write_text("{broken")
    with pytest.raises(MarksError, match="unreadable suspect marks"):
        marked(ds)


def test_a_run_leaves_the_excluded_images_out_of_training_only(demo_root):
    from saltlab.training.engine import record_split

    ds = load_dataset(demo_root)
    config = tiny_config(demo_root, max_train_images=None)
    split = record_split(from_dict(config), ds, None)
    left_out = split["train_ids"][:3] + split["val_ids"][:1]
    recorded = record_split(from_dict({**config, "exclude_ids": left_out}), ds, None)
    assert not set(left_out[:3]) & set(recorded["train_ids"])
    assert len(recorded["train_ids"]) == len(split["train_ids"]) - 3
    assert recorded["val_ids"] == split["val_ids"]  # validation keeps them: scores stay comparable
    assert recorded["excluded_ids"] == sorted(left_out[:3])
    assert json.loads(from_dict({**config, "exclude_ids": left_out}).to_json())["exclude_ids"] == left_out
    with pytest.raises(RunDataError, match="exclude_ids: 1 ids are not labelled images .* \\(e.g. ghost\\)"):
        record_split(from_dict({**config, "exclude_ids": ["ghost"]}), ds, None)
    with pytest.raises(ConfigError, match="exclude_ids: expected a list"):
        from_dict({**config, "exclude_ids": "abc"})


def test_cli_marks_and_train_exclude_suspects(demo_root, tmp_path, monkeypatch, capsys):
    from saltlab.cli import main

    monkeypatch.setenv("SALTLAB_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(demo_root)
    ids = ds.train_ids[:2]
    assert main(["suspects", "--data", str(demo_root), "--mark", *ids]) == 0
    assert f"2 images of {demo_root} marked" in capsys.readouterr().out
    assert main(["train", "--config", "smoke", "--data", str(demo_root), "--exclude-suspects", "--print-config"]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["exclude_ids"] == sorted(ids)
    assert "leaving out 2 images marked as suspect labels" in printed.err
    assert main(["suspects", "--data", str(demo_root), "--mark", "nope"]) == 2
    assert "nope: not a labelled image" in capsys.readouterr().err
    assert main(["suspects"]) == 2
