"""Checkpoint files: written atomically, read with torch.load(weights_only=True), version-checked.

A checkpoint holds only tensors and plain containers (weights, optimiser state, the resolved
config as a dict, position, scores, library version), so `weights_only=True` loads it and no
arbitrary object is ever unpickled from a file a user may have been handed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from saltlab import __version__

FORMAT = "saltlab.checkpoint"
FORMAT_VERSION = 3  # 2: models built on smp's UnetDecoder; 3: hypercolumn summed coarsest first (2026-11-26)


class CheckpointError(RuntimeError):
    """A file that is not a usable SaltLab checkpoint, with the reason."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """torch.save to a temp file in the same folder, fsync, then rename over `path`.

    A kill at any moment leaves either the previous file or the new one, never a torn one.
    """
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "saltlab_version": __version__, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint; raises CheckpointError with a clear reason otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refusals and torn files alike
        raise CheckpointError(
            f"{path} is not a readable SaltLab checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SaltLab checkpoint (no '{FORMAT}' marker)")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is a checkpoint of format {version} (written by saltlab {data.get('saltlab_version')}); "
            f"this saltlab {__version__} reads format {FORMAT_VERSION}"
        )
    return data


def clean_temp_files(folder: str | os.PathLike) -> None:
    """Remove temp files a killed save left behind."""
    for tmp in Path(folder).glob(".*.pt.*.tmp"):
        tmp.unlink(missing_ok=True)
