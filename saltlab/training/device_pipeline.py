"""The training data on the training device: the case study's augmentations as batched tensor operations.

The whole training set lives as one uint8 tensor on the device (3,500 images of 101x101 are
36 MB). A batch is a list of (index, augmentation seed) items, as for the albumentations
pipeline in `data.py` (the reference). Every sample's random choices are a pure function of its
seed (a counter-based hash, the same on every device), so a resumed run sees exactly the
batches of an uninterrupted one.

What it reproduces, per sample (`data.case_study_augmentation`):
- horizontal flip, p 0.5;
- p 0.2: a random 90x90 crop (offsets 0..11, uniform) resized back to 101 (bilinear for the
  image with OpenCV's half-pixel centres and edge clamping; nearest, floor(j * 90 / 101), for
  the mask, as `cv2.INTER_NEAREST` does);
- p 0.2: one of brightness (+U(-0.1, 0.1) of the full range), contrast (x U(0.9, 1.1)) or gamma
  (U(0.8, 1.2)), each with probability 1/3; clipped to [0, 1].
Flip, crop and resize are one gather per corner of the bilinear kernel; the colour change is one
multiply-add and one power over the batch. Differences from the reference: intensities stay in
float instead of being rounded to uint8 after each step (at most 1/255 apart).
"""

from __future__ import annotations

import numpy as np
import torch

from saltlab.core.definitions import IMAGE_SIZE

CROP = 90
FLIP_P, CROP_P, COLOUR_P = 0.5, 0.2, 0.2
BRIGHTNESS, CONTRAST, GAMMA = 0.1, 0.1, (0.8, 1.2)
N_DRAWS = 7  # flip, crop?, crop x, crop y, colour?, which colour, its amount

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def uniforms(seeds: np.ndarray, k: int = N_DRAWS) -> np.ndarray:
    """(len(seeds), k) uniforms in [0, 1): splitmix64 of (seed, draw number). Pure and device-independent."""
    with np.errstate(over="ignore"):
        z = (
            np.asarray(seeds, dtype=np.uint64)[:, None] * _GOLDEN
            + np.arange(1, k + 1, dtype=np.uint64)[None, :] * _MIX1
        )
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def draw_params(seeds: np.ndarray) -> dict[str, np.ndarray]:
    """Every sample's augmentation: flip, crop offsets (or None: -1), brightness/contrast/gamma."""
    u = uniforms(seeds)
    flip = u[:, 0] < FLIP_P
    crop = u[:, 1] < CROP_P
    span = IMAGE_SIZE - CROP + 1
    x0 = np.where(crop, np.minimum((u[:, 2] * span).astype(np.int64), span - 1), -1)
    y0 = np.where(crop, np.minimum((u[:, 3] * span).astype(np.int64), span - 1), -1)
    colour = u[:, 4] < COLOUR_P
    which = np.where(colour, np.minimum((u[:, 5] * 3).astype(np.int64), 2), -1)  # 0 brightness, 1 contrast, 2 gamma
    v = u[:, 6]
    beta = np.where(which == 0, -BRIGHTNESS + 2 * BRIGHTNESS * v, 0.0)
    alpha = np.where(which == 1, 1 - CONTRAST + 2 * CONTRAST * v, 1.0)
    gamma = np.where(which == 2, GAMMA[0] + (GAMMA[1] - GAMMA[0]) * v, 1.0)
    return {"flip": flip, "x0": x0, "y0": y0, "which": which, "alpha": alpha, "beta": beta, "gamma": gamma}


def _axis(start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source positions along one axis for each sample: (bilinear, fractional; nearest, integer).

    start -1 means no crop (the identity); otherwise a CROP-wide window from `start`, resized to 101.
    """
    size = np.where(start < 0, IMAGE_SIZE, CROP)[:, None].astype(np.float64)
    offset = np.maximum(start, 0)[:, None]
    j = np.arange(IMAGE_SIZE, dtype=np.float64)[None, :]
    linear = np.clip((j + 0.5) * size / IMAGE_SIZE - 0.5, 0, size - 1) + offset  # OpenCV INTER_LINEAR
    nearest = np.floor(j * size / IMAGE_SIZE).astype(np.int64) + offset  # OpenCV INTER_NEAREST
    return linear, nearest


def crop_geometry(x0: np.ndarray, y0: np.ndarray) -> dict[str, np.ndarray]:
    """Index arrays for cropped samples: rows and columns (bilinear: low index + fraction; nearest)."""
    rows, rows_nn = _axis(y0)
    cols, cols_nn = _axis(x0)
    r0, c0 = np.floor(rows), np.floor(cols)
    return {
        "r0": r0.astype(np.int64),
        "fr": rows - r0,
        "c0": c0.astype(np.int64),
        "fc": cols - c0,
        "rn": rows_nn,
        "cn": cols_nn,
    }


class DeviceTrainData:
    """Training images and masks as uint8 tensors on `device`, and batches of them, augmented there."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, augment: bool, device: torch.device):
        self.device = device
        self.augment = augment
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(device)
        self.masks = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.uint8)).to(device)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, items: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float (B, 1, 101, 101) in [0, 1], masks float (B, 1, 101, 101)) on the device."""
        index = torch.tensor([i for i, _ in items], dtype=torch.long, device=self.device)
        images, masks = self.images[index], self.masks[index]
        if not self.augment:
            return images.unsqueeze(1).float().div_(255.0), masks.unsqueeze(1).float()
        params = draw_params(np.array([s for _, s in items], dtype=np.int64))
        return self.apply(images, masks, params)

    def apply(
        self, images: torch.Tensor, masks: torch.Tensor, params: dict[str, np.ndarray]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment uint8 (B, 101, 101) images and masks on their device with the given parameters.

        Each step touches only the samples it applies to: flip, then crop + resize, then colour.
        """
        x = images.float().div_(255.0)
        y = masks.clone()
        flipped = params["flip"]
        if flipped.any():
            rows = self._where(flipped)
            x[rows] = x[rows].flip(-1)
            y[rows] = y[rows].flip(-1)
        cropped = params["x0"] >= 0
        if cropped.any():
            rows = self._where(cropped)
            geo = {
                k: torch.from_numpy(v).to(self.device, non_blocking=True)
                for k, v in crop_geometry(params["x0"][cropped], params["y0"][cropped]).items()
            }
            b = torch.arange(len(rows), device=self.device)[:, None, None]
            last = IMAGE_SIZE - 1
            r0, c0 = geo["r0"][:, :, None], geo["c0"][:, None, :]
            r1, c1 = (r0 + 1).clamp_(max=last), (c0 + 1).clamp_(max=last)
            fr, fc = geo["fr"].float()[:, :, None], geo["fc"].float()[:, None, :]
            xc = x[rows]
            top = torch.lerp(xc[b, r0, c0], xc[b, r0, c1], fc)
            bottom = torch.lerp(xc[b, r1, c0], xc[b, r1, c1], fc)
            x[rows] = torch.lerp(top, bottom, fr)
            y[rows] = y[rows][b, geo["rn"][:, :, None], geo["cn"][:, None, :]]
        linear = (params["which"] == 0) | (params["which"] == 1)  # brightness or contrast
        if linear.any():
            rows = self._where(linear)
            alpha, beta = self._per_sample(params["alpha"][linear]), self._per_sample(params["beta"][linear])
            x[rows] = torch.addcmul(beta, x[rows], alpha).clamp_(0.0, 1.0)
        gamma = params["which"] == 2
        if gamma.any():
            rows = self._where(gamma)
            x[rows] = x[rows].pow(self._per_sample(params["gamma"][gamma]))
        return x.unsqueeze(1), y.unsqueeze(1).float()

    def _per_sample(self, values: np.ndarray) -> torch.Tensor:
        """One value per sample, shaped to broadcast over its image."""
        return torch.from_numpy(values).to(self.device, torch.float32)[:, None, None]

    def _where(self, flags: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.flatnonzero(flags)).to(self.device, non_blocking=True)
