"""The command line, run as a user would: `python -m saltlab ...` in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def saltlab(*args: str, cwd: Path = PROJECT, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "saltlab", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def test_info_json_on_demo(demo_root):
    result = saltlab("info", str(demo_root), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["n_train"] == 200 and info["n_test"] == 60 and info["issues"] == []


@pytest.mark.real_data
def test_info_text_on_real(real_root):
    result = saltlab("info", str(real_root))
    assert result.returncode == 0, result.stderr
    assert "3499 train, 2000 test" in result.stdout
    assert "empty masks   1363" in result.stdout
    assert "vertical      102" in result.stdout
    assert "health        clean" in result.stdout


def test_info_reports_bad_items_with_exit_code_1(demo_root, tmp_path):
    import shutil

    root = tmp_path / "d"
    shutil.copytree(demo_root, root)
    victim = sorted((root / "train/images").iterdir())[0]
    victim.write_bytes(b"garbage")
    result = saltlab("info", str(root))
    assert result.returncode == 1
    assert f"train/{victim.stem}" in result.stdout and "not a PNG file (wrong signature)" in result.stdout
    assert "199 train" in result.stdout


def test_bad_path_exit_code_2(tmp_path):
    result = saltlab("info", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "data set folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_data_then_folds(tmp_path):
    out = tmp_path / "demo"
    result = saltlab("demo-data", str(out), "--n", "30", "--n-test", "5", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "30 train, 5 test" in result.stdout
    again = saltlab("demo-data", str(out), "--n", "30")
    assert again.returncode == 2 and "not empty" in again.stderr
    folds = saltlab("folds", str(out), "--n-folds", "3", "--out", str(tmp_path / "folds.csv"))
    assert folds.returncode == 0, folds.stderr
    assert "3 folds (seed 198; an image's fold is a hash of its id" in folds.stdout
    lines = (tmp_path / "folds.csv").read_text().splitlines()
    assert lines[0] == "id,coverage_class,fold" and len(lines) == 31
    one = saltlab("folds", str(out), "--n-folds", "3", "--fold", "1", "--ids")
    held = [line.split(",")[0] for line in lines[1:] if line.endswith(",1")]
    assert one.returncode == 0 and f"fold 1: {30 - len(held)} train, {len(held)} validation ids" in one.stdout
    assert one.stdout.split("validation ids\n")[1].split() == held
    assert saltlab("folds", str(out), "--fold", "12").returncode == 2


def test_default_data_set_is_generated_demo(tmp_path):
    result = saltlab("info", "--json", cwd=tmp_path, env={"PYTHONPATH": str(PROJECT), "SALTLAB_DATA": ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["root"] == "data/demo"
    assert (tmp_path / "data/demo/train.csv").is_file()


def test_saltlab_data_env_wins(demo_root, tmp_path):
    result = saltlab("info", "--json", cwd=tmp_path, env={"PYTHONPATH": str(PROJECT), "SALTLAB_DATA": str(demo_root)})
    assert json.loads(result.stdout)["root"] == str(demo_root)
    assert not (tmp_path / "data").exists()


def test_every_error_a_user_can_act_on_shares_one_base_class():
    import importlib
    import inspect

    from saltlab.core.errors import SaltLabError

    internal = {"Cancelled", "BadFile"}  # control flow; a bad file is an item in the health report, never raised out
    found = []
    for path in sorted((PROJECT / "saltlab").rglob("*.py")):
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(
            ".".join(path.relative_to(PROJECT).with_suffix("").parts).replace(".__init__", "")
        )
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, Exception) and name not in internal:
                found.append(name)
                assert issubclass(cls, SaltLabError), f"{module.__name__}.{name} is not a SaltLabError"
    assert {"DataSetError", "ConfigError", "CheckpointError", "PredictError", "RunBusy", "WriteError"} <= set(found)


def test_exit_codes_tell_a_failed_run_from_an_unusable_input(demo_root, tmp_path):
    from tests.helpers import tiny_config

    bad = tiny_config(
        demo_root,
        max_train_images=16,
        max_val_images=8,
        stages=[{"name": "bad", "epochs": 1, "loss": "bce", "optimizer": "sgd", "lr": 1e30}],
    )
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bad))
    failed = saltlab("train", "--config", str(config), "--out", str(tmp_path / "run"))
    assert failed.returncode == 3, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: the run failed: FloatingPointError: loss became") and "Traceback" not in failed.stderr
    )
    unusable = saltlab(
        "train", "--config", str(config), "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2")
    )
    assert unusable.returncode == 2 and "error:" in unusable.stderr and not (tmp_path / "r2").exists()
