"""Building blocks of the decoders: convolution units, scSE attention, upsampling, CoordConv."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ConvBnRelu(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze-excitation (Roy et al. 2018), channel reduction 16."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.channel = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel(x) + x * self.spatial(x)


class Upsample(nn.Module):
    """x2 upsampling: a transposed convolution (the baseline) or bilinear interpolation."""

    def __init__(self, channels: int, mode: str):
        super().__init__()
        if mode not in ("transpose", "bilinear"):
            raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {mode!r}")
        self.mode = mode
        self.up = nn.ConvTranspose2d(channels, channels, 2, stride=2) if mode == "transpose" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up is not None:
            return self.up(x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class DecoderBlock(nn.Module):
    """Upsample, concatenate the skip connection, two 3x3 convolutions, optional scSE."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsample: str, scse: bool):
        super().__init__()
        self.upsample = Upsample(in_channels, upsample)
        self.conv1 = ConvBnRelu(in_channels + skip_channels, out_channels)
        self.conv2 = ConvBnRelu(out_channels, out_channels)
        self.attention = SCSE(out_channels) if scse else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.upsample(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.attention(self.conv2(self.conv1(x)))


def add_coord_channels(x: torch.Tensor) -> torch.Tensor:
    """CoordConv: append two channels holding the row and column position in [-1, 1]."""
    n, _, h, w = x.shape
    rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([x, rows, cols], dim=1)
