"""Checkpoint files: written atomically, read with torch.load(weights_only=True), version-checked.

A checkpoint holds only tensors and plain containers (weights, optimiser state, the resolved
config as a dict, position, scores, library version), so `weights_only=True` loads it and no
arbitrary object is ever unpickled from a file a user may have been handed.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path

import torch

from saltlab import __version__
from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import atomic_write, first_line
from saltlab.models import first_non_finite
from saltlab.models.spec import as_trained

FORMAT = "saltlab.checkpoint"
# 2: models built on smp's UnetDecoder; 3: hypercolumn summed coarsest first (2026-11-26);
# 4: the model config names its decoder upsampling (2026-11-27; format 3 reads as it was trained);
# 5: and its hypercolumn head (2026-11-27; formats 3 and 4 read as "features", as they were trained)
FORMAT_VERSION = 5
READABLE_VERSIONS = (3, 4, 5)


# A ResNet34 run's last.pt (weights and Adam's state) is about 270 MB; the largest smp encoders stay
# under 1 GB. A file far over that is not one of ours and is not read.
MAX_CHECKPOINT_BYTES = 4 * 2**30


class CheckpointError(SaltLabError, RuntimeError):
    """A file that is not a usable SaltLab checkpoint, with the reason."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """torch.save through fileio.atomic_write: a kill at any moment leaves either the previous file or
    the new one, never a torn one; a full disk raises WriteError naming the file and the free space."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "saltlab_version": __version__, **payload}
    return atomic_write(path, lambda f: torch.save(data, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint; raises CheckpointError with a clear reason otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path} is {size:,} bytes: larger than any SaltLab checkpoint "
            f"({MAX_CHECKPOINT_BYTES // 2**30} GiB); not read"
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refusals and torn files alike
        raise CheckpointError(
            f"{path} is not a readable SaltLab checkpoint ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SaltLab checkpoint (no '{FORMAT}' marker)")
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} is a checkpoint of format {version} (written by saltlab {data.get('saltlab_version')}); "
            f"this saltlab {__version__} reads formats {', '.join(map(str, READABLE_VERSIONS))}"
        )
    missing = [key for key in ("config", "model") if not isinstance(data.get(key), dict)]
    if missing:
        raise CheckpointError(f"{path} has no {' or '.join(repr(k) for k in missing)} in it: not a usable checkpoint")
    _check_finite_weights(path, data["model"])
    if isinstance(data["config"].get("model"), dict):
        data["config"]["model"] = as_trained(data["config"]["model"])
    return data


def _check_finite_weights(path: Path, state: dict) -> None:
    """Refuse weights that hold NaN or inf (a diverged or damaged model predicts nothing useful, silently)."""
    bad = first_non_finite(state)
    if bad:
        key, count = bad
        raise CheckpointError(
            f"{path}: weight {key!r} holds {count} non-finite value{'s' if count > 1 else ''} (NaN or inf); "
            "the model diverged or the file is damaged: not usable"
        )


def clean_temp_files(folder: str | os.PathLike, before: float) -> None:
    """Remove the temp files that killed atomic writes (checkpoints, status.json, ...) left behind.

    Checkpoints are written by the training process alone, so all of theirs go; of the other files,
    only temp files last written before `before` (the run's start): a write the app makes meanwhile
    (notes, a cancel request in status.json) is newer and keeps its temp file until its rename.
    """
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            if fnmatch(tmp.name, ".*.pt.*.tmp") or tmp.stat().st_mtime < before:
                tmp.unlink(missing_ok=True)
        except FileNotFoundError:  # renamed into place meanwhile
            pass
