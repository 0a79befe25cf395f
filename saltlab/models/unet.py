"""The U-Net of the case study on any segmentation_models_pytorch encoder.

One class covers every model variant of DESIGN.md:
- baseline: plain decoder of `decoder_channels` (64) channels (32 in the last, full-resolution
  block), transposed-convolution upsampling, a skip connection from the encoder before each
  downsampling;
- scse_hypercol: scSE in every decoder block, bilinear upsampling, and a hypercolumn (every
  decoder level upsampled to the output size and concatenated before the last convolutions);
- binary_judge: scse_hypercol plus a classifier on the deepest features (global pooling, one
  linear unit) saying salt / no salt; at inference the mask is zeroed where it says no salt.
Options for all: deep supervision (a 1x1 head on every decoder level), CoordConv input channels.

forward() returns a dict: "mask" logits (N, 1, H, W) at the input size; "judge" logits (N,)
for judge models; "aux" (a list of logits, each at the input size) with deep supervision.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from saltlab.models.blocks import ConvBnRelu, DecoderBlock, add_coord_channels


class SaltUNet(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        encoder_channels: list[int],
        decoder_channels: int = 64,
        upsample: str = "transpose",
        scse: bool = False,
        hypercolumn: bool = False,
        judge: bool = False,
        deep_supervision: bool = False,
        coordconv: bool = False,
    ):
        super().__init__()
        self.encoder = encoder
        self.coordconv = coordconv
        self.hypercolumn = hypercolumn
        self.deep_supervision = deep_supervision
        # encoder_channels: [input, stride 2, 4, 8, 16, 32]; the decoder climbs from stride 32
        # to stride 1, taking the skip of the same stride on the way (none at stride 1).
        deepest = encoder_channels[-1]
        skips = list(reversed(encoder_channels[1:-1])) + [0]
        # The last block works at full resolution with no skip; it has half the channels,
        # which keeps the decoder from costing three times the encoder on a CPU.
        widths = [decoder_channels] * (len(skips) - 1) + [decoder_channels // 2]
        self.center = ConvBnRelu(deepest, decoder_channels)
        self.blocks = nn.ModuleList(
            DecoderBlock(w_in, skip, w_out, upsample, scse)
            for w_in, skip, w_out in zip([decoder_channels] + widths[:-1], skips, widths)
        )
        half = decoder_channels // 2
        if hypercolumn:
            self.head = nn.Sequential(ConvBnRelu(sum(widths), half, kernel_size=1), ConvBnRelu(half, half), nn.Conv2d(half, 1, 1))
        else:
            self.head = nn.Conv2d(half, 1, 1)
        self.aux_heads = (
            nn.ModuleList(nn.Conv2d(w, 1, 1) for w in widths[:-1]) if deep_supervision else None
        )
        self.judge = nn.Linear(deepest, 1) if judge else None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        size = x.shape[-2:]
        if self.coordconv:
            x = add_coord_channels(x)
        features = self.encoder(x)
        deepest = features[-1]
        skips = list(reversed(features[1:-1])) + [None]
        y = self.center(deepest)
        levels = []
        for block, skip in zip(self.blocks, skips):
            y = block(y, skip)
            levels.append(y)
        if self.hypercolumn:
            y = torch.cat([y] + [F.interpolate(lv, size=size, mode="bilinear", align_corners=False) for lv in levels[:-1]], 1)
        out: dict[str, torch.Tensor | list[torch.Tensor]] = {"mask": self.head(y)}
        if self.judge is not None:
            out["judge"] = self.judge(torch.flatten(F.adaptive_avg_pool2d(deepest, 1), 1)).squeeze(1)
        if self.aux_heads is not None:
            out["aux"] = [
                F.interpolate(head(lv), size=size, mode="bilinear", align_corners=False)
                for head, lv in zip(self.aux_heads, levels[:-1])
            ]
        return out
