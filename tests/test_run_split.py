"""Runs remember their split: the exact ids trained on, held out and validated, with the data set.
Evaluation, compare and resume use the recorded ids, say what is missing, and refuse when none is left."""

import shutil

import pytest

from saltlab.analysis.explore import ExploreError, explore
from saltlab.core.dataset import load_dataset
from saltlab.core.folds import fold_split
from saltlab.inference.evaluate import EvaluationError, evaluate_run
from saltlab.runs.checkpoint import load_checkpoint


def _copy_without(demo_root, tmp_path, drop: set[str]):
    """A copy of the demo data set without the given train images (image, mask and csv rows)."""
    copy = tmp_path / "data"
    shutil.copytree(demo_root, copy)
    for id_ in drop:
        (copy / "train" / "images" / f"{id_}.png").unlink()
        (copy / "train" / "masks" / f"{id_}.png").unlink()
    for name in ("train.csv", "depths.csv"):
        lines = (copy / name).read_text().splitlines()
        (copy / name).write_text("\n".join(line for line in lines if line.split(",")[0] not in drop) + "\n")
    return copy


def test_run_records_its_split(trained_run, demo_root):
    split = trained_run.read_split()
    ds = load_dataset(demo_root)
    assert split["data"] == str(ds.root) and split["fingerprint"] == ds.fingerprint
    assert split["folds_version"] == 2 and (split["fold"], split["n_folds"]) == (0, 5)
    train, held = set(split["train_ids"]), set(split["val_ids"])
    assert not train & held and set(split["monitor_ids"]) <= held
    assert (len(train), len(split["monitor_ids"])) == (64, 24)  # max_train_images, max_val_images
    assert split["val_ids"] == fold_split(ds, 0, 5, split["fold_seed"])[1]
    # Every checkpoint carries the same split, so a checkpoint copied elsewhere still knows it.
    assert load_checkpoint(trained_run.best_path)["split"] == split


def test_evaluation_on_a_changed_data_set(trained_run, demo_root, tmp_path, monkeypatch):
    from saltlab.runs.checkpoint import save_checkpoint
    from saltlab.runs.config import from_dict

    split = trained_run.read_split()
    val = split["val_ids"]
    data = _copy_without(demo_root, tmp_path, set(val[:5]))
    run = tmp_path / "run"
    shutil.copytree(trained_run.path, run, ignore=shutil.ignore_patterns("eval"))
    ckpt = load_checkpoint(run / "best.pt")
    config = from_dict(ckpt["config"])
    config.data = str(data)
    ckpt["config"] = config.to_dict()
    save_checkpoint(
        run / "best.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version", "saltlab_version")}
    )
    result = evaluate_run(run, use_cache=False)
    assert result.ids == val[5:] and result.scores["n_images"] == len(val) - 5
    assert result.scores["notes"] == [
        f"5 of the run's {len(val)} validation images are no longer in {data.resolve()}; "
        f"scored on the other {len(val) - 5}"
    ]
    # No validation image left: refused before any inference (no evaluation folder is made).
    gone = _copy_without(demo_root, tmp_path / "g", set(val))
    config.data = str(gone)
    ckpt["config"] = config.to_dict()
    save_checkpoint(
        run / "best.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version", "saltlab_version")}
    )
    shutil.rmtree(run / "eval")
    with pytest.raises(EvaluationError, match="none of the images to score it on"):
        evaluate_run(run, use_cache=False)
    assert not (run / "eval").exists()


def test_evaluate_on_given_data_leaves_training_images_out(trained_run, demo_root):
    split = trained_run.read_split()
    result = evaluate_run(trained_run.path, data=str(demo_root))
    assert not set(result.ids) & set(split["train_ids"])
    assert len(result.ids) == 200 - len(split["train_ids"])
    assert result.scores["subset"] == f"all labelled images except the {len(split['train_ids'])} the run trained on"


def test_compare_refuses_runs_without_common_images_before_inference(trained_run, demo_root, tmp_path):
    from saltlab.training.engine import train
    from tests.helpers import tiny_config

    other = train(
        tiny_config(demo_root, fold=1, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]),
        run_dir=tmp_path / "fold1",
    )
    mine = tmp_path / "mine"
    shutil.copytree(trained_run.path, mine, ignore=shutil.ignore_patterns("eval"))
    with pytest.raises(ExploreError, match="share no validation images"):
        explore([mine, other.path])
    assert not (mine / "eval").exists() and not (other.path / "eval").exists()


def test_resume_refuses_when_training_images_are_gone(demo_root, tmp_path):
    from saltlab.runs.config import from_dict
    from saltlab.training.engine import train
    from tests.helpers import tiny_config

    run = train(
        tiny_config(
            demo_root,
            stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}],
            max_train_images=16,
            max_val_images=8,
        ),
        run_dir=tmp_path / "r",
    )
    split = run.read_split()
    data = _copy_without(demo_root, tmp_path, {split["train_ids"][0]})
    config = from_dict(run.read_config())
    config.data = str(data)
    run.config_path.write_text(config.to_json())
    with pytest.raises(ValueError, match="cannot resume: 1 of the run's images are no longer in"):
        train(config, run_dir=run.path, resume=True)
