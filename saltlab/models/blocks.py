"""What smp's blocks lack: CoordConv input channels."""

from __future__ import annotations

import torch


def add_coord_channels(x: torch.Tensor) -> torch.Tensor:
    """CoordConv: append two channels holding the row and column position in [-1, 1]."""
    n, _, h, w = x.shape
    rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([x, rows, cols], dim=1)
