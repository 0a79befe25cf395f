"""Batched inference: probabilities at 101x101 for a stack of uint8 images, with optional hflip TTA.

The hot path has no per-image Python: a batch is padded on the device in one call, run
through the network (channels_last, bf16 autocast on CUDA), cropped back and kept on the
device until the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError
from saltlab.core.progress import Progress
from saltlab.models.geometry import from_output, images_to_tensor, to_input

if TYPE_CHECKING:
    from saltlab.runs.config import TrainConfig


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' is the first CUDA device when there is one, else the CPU; an unavailable CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but no CUDA GPU is available here; use 'cpu' or 'auto'")
    return device


def forward_101(
    model: nn.Module, images: torch.Tensor, input_size: int, amp: bool = False, channels_last: bool = True
) -> dict:
    """Float images (N, 1, 101, 101) on the model's device -> outputs at 101x101, as float32.

    Returns {"mask": logits (N, 1, 101, 101), "judge": logits (N,) or absent, "aux": [...] or absent}.
    """
    x = to_input(images, input_size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=amp):
        out = model(x)
    result = {"mask": from_output(out["mask"].float(), input_size)}
    if "judge" in out:
        result["judge"] = out["judge"].float()
    if "aux" in out:
        result["aux"] = [from_output(a.float(), input_size) for a in out["aux"]]
    return result


def load_model(checkpoint: dict, device: torch.device, name: str = "the checkpoint") -> tuple[nn.Module, "TrainConfig"]:
    """The model of a loaded checkpoint, on the device, in eval mode (channels_last when its config says so).
    CheckpointError naming `name` when its weights do not fit the model its config describes."""
    from saltlab.core.fileio import first_line
    from saltlab.models import build_model
    from saltlab.runs.checkpoint import CheckpointError
    from saltlab.runs.config import ConfigError, from_dict

    try:
        config = from_dict(checkpoint["config"])
        model = build_model(config.model)
        model.load_state_dict(checkpoint["model"])
    except (ConfigError, RuntimeError, ValueError) as exc:
        arch = checkpoint.get("config", {}).get("model", {})
        raise CheckpointError(
            f"{name}: its weights do not fit its model {arch.get('arch')}/{arch.get('encoder')} "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    return model.eval(), config


def load_imported_model(entry, device: torch.device) -> nn.Module:
    """An imported smp model entry (saltlab.runs.imported) wrapped with its input convention, on the device,
    in eval mode; ImportRefused for an entry that holds predictions only."""
    from saltlab.models.imported_smp import load_smp
    from saltlab.runs.imported import MODEL_DIR, ImportRefused, entry_folder, model_convention, read_record

    folder = entry_folder(entry)
    record = read_record(folder)
    if record.kind != "smp-model":
        raise ImportRefused(f"{folder} holds imported predictions, not a model: it cannot predict other images")
    return load_smp(folder / MODEL_DIR, model_convention(record)).to(device).eval()


def load_for_inference(path, device: torch.device) -> tuple[nn.Module, int, bool]:
    """(model in eval mode on the device, the input size to pad 101 to, channels_last) of a checkpoint file or
    an imported smp model entry (whose wrapper brings 101 to its own size, so 101)."""
    from saltlab.runs.checkpoint import load_checkpoint
    from saltlab.runs.imported import is_import

    if is_import(path):
        return load_imported_model(path, device), IMAGE_SIZE, False
    model, config = load_model(load_checkpoint(path, map_location="cpu"), device, str(path))
    return model, config.model.input_size, config.channels_last


class NonFiniteOutput(SaltLabError, FloatingPointError):
    """A model whose outputs overflowed: predictions would be silently empty, so there are none."""


@torch.inference_mode()
def predict(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    input_size: int,
    device: torch.device,
    batch_size: int = 64,
    amp: bool = False,
    channels_last: bool = True,
    tta: bool = False,
    progress: Progress | None = None,
    label: str = "predict",
) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities float32 (N, 101, 101), judge probabilities (N,) or None) for uint8 images
    (an array, or a tensor already on the device, as the training engine keeps its validation images)."""
    model.eval()
    probs, judges = [], []
    n = len(images)
    for start in range(0, n, batch_size):
        x = images_to_tensor(images[start : start + batch_size]).to(device, non_blocking=True)
        out = forward_101(model, x, input_size, amp, channels_last)
        p = torch.sigmoid(out["mask"])
        j = torch.sigmoid(out["judge"]) if "judge" in out else None
        if tta:
            flipped = forward_101(model, torch.flip(x, dims=[3]), input_size, amp, channels_last)
            p = (p + torch.flip(torch.sigmoid(flipped["mask"]), dims=[3])) / 2
            if j is not None:
                j = (j + torch.sigmoid(flipped["judge"])) / 2
        probs.append(p[:, 0])
        if j is not None:
            judges.append(j)
        if progress:
            progress(label, min(start + batch_size, n), n)
    if not probs:
        return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.float32), None
    prob = torch.cat(probs).cpu().numpy()
    judge = torch.cat(judges).cpu().numpy() if judges else None
    for name, values in (("mask", prob), ("judge", judge)):
        if values is not None and not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).reshape(len(values), -1).any(axis=1).sum())
            raise NonFiniteOutput(
                f"the model's {name} outputs are not finite (NaN or inf) for {bad} of {n} images: its weights "
                "or its inputs make it overflow; no result is given rather than a wrong one"
            )
    return prob, judge
