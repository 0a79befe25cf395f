"""A segmentation_models_pytorch model trained elsewhere (a `save_pretrained` folder: config.json and
model.safetensors, loaded by `smp.from_pretrained`, so no pickle) run as SaltLab runs its own.

SaltLab feeds a model one channel of 101x101 images scaled to [0, 1]. A model trained in a notebook
expects its own convention, which the user states at import (`InputConvention`): how many channels
(the gray image repeated), the size it was trained at and how 101 was brought to it (reflect or edge
padding, or a resize), and the normalisation (SaltLab's [0, 1], ImageNet's mean and std, or 0-255).
`ImportedSmp` wraps the model with that convention and returns what SaltLab's models return: mask
logits at 101x101 under "mask".
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError

PADS = ("reflect", "replicate", "resize")
NORMALISATIONS = ("unit", "imagenet", "raw")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MODEL_FILES = ("config.json", "model.safetensors")


class ModelImportError(SaltLabError, ValueError):
    """A model folder that cannot be used (not an smp folder, unreadable, an output that does not fit)."""


@dataclass
class InputConvention:
    channels: int = 1  # 1, or 3 (the gray image repeated)
    size: int = 128  # the side the model was trained at: 101, or a multiple of 32 above it
    pad: str = "reflect"  # how 101 becomes `size`: reflect or replicate padding (centred), or a resize
    normalise: str = "unit"  # unit: [0, 1]; imagenet: then (x - mean) / std per channel; raw: 0-255

    def check(self) -> None:
        if self.channels not in (1, 3):
            raise ModelImportError(f"channels must be 1 or 3, got {self.channels}")
        if self.size != IMAGE_SIZE and (self.size < IMAGE_SIZE or self.size % 32):
            raise ModelImportError(f"size must be 101 or a multiple of 32 above it, got {self.size}")
        if self.pad not in PADS or self.normalise not in NORMALISATIONS:
            raise ModelImportError(
                f"pad must be one of {', '.join(PADS)} and normalise one of {', '.join(NORMALISATIONS)}"
            )

    def as_dict(self) -> dict:
        return asdict(self)


class ImportedSmp(nn.Module):
    """An smp model behind SaltLab's interface: (N, 1, 101, 101) in [0, 1] -> {"mask": (N, 1, 101, 101)}."""

    def __init__(self, net: nn.Module, convention: InputConvention):
        super().__init__()
        self.net, self.convention = net, convention
        mean = torch.tensor(IMAGENET_MEAN[: convention.channels] if convention.channels == 3 else [0.449])
        std = torch.tensor(IMAGENET_STD[: convention.channels] if convention.channels == 3 else [0.226])
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def _to_input(self, x: torch.Tensor) -> torch.Tensor:
        c = self.convention
        if c.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if c.normalise == "imagenet":
            x = (x - self.mean) / self.std
        elif c.normalise == "raw":
            x = x * 255.0
        if c.size == IMAGE_SIZE:
            return x
        if c.pad == "resize":
            return F.interpolate(x, size=(c.size, c.size), mode="bilinear", align_corners=False)
        before = (c.size - IMAGE_SIZE) // 2
        after = c.size - IMAGE_SIZE - before
        return F.pad(x, (before, after, before, after), mode=c.pad)

    def _to_101(self, logits: torch.Tensor) -> torch.Tensor:
        c = self.convention
        if c.size == IMAGE_SIZE:
            return logits
        if c.pad == "resize":
            return F.interpolate(logits, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        before = (c.size - IMAGE_SIZE) // 2
        return logits[..., before : before + IMAGE_SIZE, before : before + IMAGE_SIZE]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's deepest feature map of SaltLab-style input (for "more like this")."""
        return self.net.encoder(self._to_input(x))[-1]

    def forward(self, x: torch.Tensor) -> dict:
        out = self.net(self._to_input(x))
        if isinstance(out, (tuple, list)):  # smp with aux_params returns (mask, label)
            out = out[0]
        return {"mask": self._to_101(out)}


def is_smp_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in MODEL_FILES)


def load_smp(folder: str | Path, convention: InputConvention) -> ImportedSmp:
    """The model of an smp `save_pretrained` folder, wrapped, in eval mode on the CPU, checked to give one
    mask channel at 101x101; ModelImportError naming the folder and the reason otherwise."""
    import segmentation_models_pytorch as smp

    folder = Path(folder)
    convention.check()
    if not is_smp_folder(folder):
        raise ModelImportError(f"{folder}: not an smp model folder (needs {' and '.join(MODEL_FILES)})")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # smp prints "Loading weights from local directory"
            net = smp.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001 - whatever smp or safetensors raises, one line naming the folder
        raise ModelImportError(f"{folder}: cannot be loaded by smp ({type(exc).__name__}: {exc})") from None
    model = ImportedSmp(net, convention).eval()
    _check_output(model, folder)
    return model


def _check_output(model: ImportedSmp, folder: Path) -> None:
    with torch.inference_mode():
        try:
            out = model(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE))["mask"]
        except RuntimeError as exc:  # the convention's channels or size do not fit the network
            raise ModelImportError(
                f"{folder}: does not run on {model.convention.channels}-channel {model.convention.size}px input "
                f"({str(exc).splitlines()[0]})"
            ) from None
    if tuple(out.shape) != (1, 1, IMAGE_SIZE, IMAGE_SIZE):
        raise ModelImportError(
            f"{folder}: its output has shape {tuple(out.shape)} for one image; a salt model gives one mask channel"
        )
