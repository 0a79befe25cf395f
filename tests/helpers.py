"""Helpers shared by the test modules (not fixtures)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def tiny_config(data: Path, **extra) -> dict:
    config = {
        "name": "t",
        "data": str(data),
        "n_folds": 5,
        "fold": 0,
        "batch_size": 8,
        "log_every": 1,
        "max_train_images": 64,
        "max_val_images": 24,
        "seed": 3,
        "model": {"arch": "baseline", "encoder": "resnet18", "decoder_channels": 32},
        "stages": [{"name": "bce", "epochs": 2, "loss": "bce", "lr": 1e-3}],
    }
    for key, value in extra.items():
        config[key] = value
    return config


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(tmp: Path) -> dict:
    """The environment of a subprocess run: the project first on PYTHONPATH, whatever was there kept."""
    path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SALTLAB_CHECKPOINTS": str(tmp)}


def wait_for(predicate, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.05)


def start_training(config_path: Path, out: Path, tmp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "saltlab", "train", "--config", str(config_path), "--out", str(out), *extra],
        cwd=PROJECT,
        env=env_for(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def cancel_after(config: dict, out: Path, tmp: Path, done) -> str:
    """Train `config` into `out` in a subprocess, SIGTERM it once done(metrics) holds; its output (it must exit 130)."""
    from saltlab.runs.run_folder import RunFolder

    config_path = tmp / f"{out.name}.json"
    config_path.write_text(json.dumps(config))
    proc = start_training(config_path, out, tmp)
    wait_for(lambda: done(RunFolder(out).read_metrics()), what="the steps before cancelling")
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    return output


def resume(out: Path, tmp: Path) -> None:
    """Resume the run in `out` to its end, in this process (the engine's resume; the command's `--resume` is
    run as a process by the kill -9 test and by every queued run of the launcher tests)."""
    from saltlab.runs.run_folder import RunFolder
    from saltlab.training.engine import train

    train({}, run_dir=out, resume=True)
    assert RunFolder(out).read_status()["state"] == "done"
