"""Helpers shared by the test modules (not fixtures)."""

from __future__ import annotations

import socket
from pathlib import Path


def tiny_config(data: Path, **extra) -> dict:
    config = {
        "name": "t", "data": str(data), "n_folds": 5, "fold": 0, "batch_size": 8, "log_every": 1,
        "max_train_images": 64, "max_val_images": 24, "seed": 3,
        "model": {"arch": "baseline", "encoder": "resnet18", "decoder_channels": 32},
        "stages": [{"name": "bce", "epochs": 2, "loss": "bce", "lr": 1e-3}],
    }  # fmt: skip
    for key, value in extra.items():
        config[key] = value
    return config


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
