"""From 101x101 images to the network's input size and back.

input_size 101: the image as it is (the decoder upsamples to each skip's size, so no padding).
input_size 128: edge-replicate padding 13 above/left, 14 below/right; outputs are cropped back.
input_size 256: resize 101 -> 202 (bilinear), edge-replicate padding 27 on each side; outputs
are cropped to 202 and resized back to 101. Losses and scores are always computed at 101x101.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.nn import functional as F

from saltlab.core.definitions import IMAGE_SIZE


def _layout(input_size: int) -> tuple[int, int, int]:
    """(inner size, pad before, pad after)."""
    if input_size not in (101, 128, 256):
        raise ValueError(f"input_size must be 101, 128 or 256, got {input_size}")
    inner = 2 * IMAGE_SIZE if input_size == 256 else IMAGE_SIZE
    before = (input_size - inner) // 2
    return inner, before, input_size - inner - before


def to_input(images: torch.Tensor, input_size: int) -> torch.Tensor:
    """Float images (N, 1, 101, 101) -> (N, 1, S, S), edge-padded (and resized for 256)."""
    inner, before, after = _layout(input_size)
    if not before and not after:
        return images
    if inner != IMAGE_SIZE:
        images = F.interpolate(images, size=(inner, inner), mode="bilinear", align_corners=False)
    return F.pad(images, (before, after, before, after), mode="replicate")


def from_output(logits: torch.Tensor, input_size: int) -> torch.Tensor:
    """Network output (N, C, S, S) -> (N, C, 101, 101)."""
    inner, before, _ = _layout(input_size)
    logits = logits[..., before : before + inner, before : before + inner]
    if inner != IMAGE_SIZE:
        logits = F.interpolate(logits, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return logits


def images_to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 101, 101), an array or a tensor on any device -> float32 (N, 1, 101, 101) in [0, 1]
    (Normalize(mean 0, std 1)), on the tensor's device."""
    if not isinstance(images, torch.Tensor):
        with warnings.catch_warnings():
            # A read-only array (the Explorer shares its arrays read-only) is only read here: .float() copies
            # it before anything is written, so torch's warning about writing to it does not apply.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            images = torch.from_numpy(np.ascontiguousarray(images))
    return images.unsqueeze(1).float().div_(255.0)
