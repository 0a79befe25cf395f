"""Shared fixtures: private cache and runs folders, a generated demo set, and the real data when present."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before saltlab is imported anywhere: tests never touch the user's cache.
_CACHE = tempfile.mkdtemp(prefix="saltlab-test-cache-")
os.environ["SALTLAB_CACHE"] = _CACHE
# Runs made without a folder of their own, and the device slots that every trainer holds, go to a private
# runs folder too: never the project's checkpoints/, and not shared by parallel test workers.
_RUNS = tempfile.mkdtemp(prefix="saltlab-test-runs-")
os.environ["SALTLAB_CHECKPOINTS"] = _RUNS
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.pop("SALTLAB_DATA", None)

PROJECT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT.parent / "shared" / "data" / "tgs"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)
    shutil.rmtree(_RUNS, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small demo data set (200 train, 60 test images), generated once per session."""
    from saltlab.core.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "tgs-demo", n=200, n_test=60, seed=1)


@pytest.fixture(scope="session")
def real_root() -> Path:
    if not (REAL_DATA / "train.csv").is_file():
        pytest.skip(f"real TGS data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_ds(real_root):
    from saltlab.core.dataset import load_dataset

    return load_dataset(real_root)


@pytest.fixture(scope="session")
def demo_ds(demo_root):
    from saltlab.core.dataset import load_dataset

    return load_dataset(demo_root)


@pytest.fixture(scope="session")
def trained_run(demo_root, tmp_path_factory):
    """A tiny real run (ResNet18, 64 demo images, 2 epochs), trained once per session."""
    from saltlab.training.engine import train
    from tests.helpers import tiny_config

    return train(tiny_config(demo_root), run_dir=tmp_path_factory.mktemp("runs") / "tiny")


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """The app saves the chosen data set; each test gets its own settings file (inherited by the apps it starts)."""
    monkeypatch.setenv("SALTLAB_SETTINGS", str(tmp_path / "settings.json"))
