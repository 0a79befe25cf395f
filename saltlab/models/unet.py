"""The U-Net of the case study, built from segmentation_models_pytorch's own parts.

The encoder is any smp encoder; the decoder is smp's `UnetDecoder` (its blocks: upsample,
concatenate the skip of the same stride, two 3x3 conv-BN-ReLU, optional scSE attention). What
smp's `Unet` does not have is added on top, around its decoder blocks:
- scse_hypercol: scSE on the output of every decoder block (smp's SCSEModule, computed as
  x * (cSE + sSE): the same function with one full-size product fewer) and a hypercolumn: every
  decoder level brought to the output size by bilinear upsampling and combined before the last
  convolutions (see `SaltUNet.forward`);
- binary_judge: scse_hypercol plus smp's ClassificationHead on the deepest features (global
  average pooling, one linear unit) saying salt / no salt;
- deep supervision (a 1x1 head on every coarser decoder level) and CoordConv input channels.

Decoder widths are (c, c, c, c/2, c/4) for `decoder_channels` c (64 by default): with smp's
default (256, 128, 64, 32, 16) the decoder costs more than this one, and the case study's
decoder is 64 channels wide. Every variant costs no more FLOPs than `smp.Unet` with the same
encoder and input size (tested with torch.utils.flop_counter).

The decoder blocks upsample with `decoder_upsample`: nearest by default, as in smp's Unet (the
case study names bilinear for the hypercolumn only; bilinear in the decoder blocks made the scSE
models train slower than smp.Unet in bf16, bench/bench_upsampling.py). Each block upsamples to the
size of its skip connection, so the input need not be a multiple of 32: at input size 101 the image
goes in unpadded (0.62 of the pixels of 128).

forward() returns a dict: "mask" logits (N, 1, H, W) at the input size; "judge" logits (N,)
for judge models; "aux" (a list of logits, each at the input size) with deep supervision.
"""

from __future__ import annotations

import torch
from segmentation_models_pytorch.base.heads import ClassificationHead
from segmentation_models_pytorch.base.modules import Attention, SCSEModule
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from torch import nn
from torch.nn import functional as F

from saltlab.models.blocks import add_coord_channels
from saltlab.models.spec import UPSAMPLINGS


def decoder_widths(channels: int) -> list[int]:
    """The five decoder blocks' widths, from the deepest to full resolution.

    At least 16 channels each: smp's scSE squeezes channels by 16.
    """
    return [max(c, 16) for c in (channels, channels, channels, channels // 2, channels // 4)]


class FusedSCSE(SCSEModule):
    """smp's scSE, x * cSE(x) + x * sSE(x), computed as x * (cSE(x) + sSE(x)).

    Same parameters and function; one full-size product and its backward fewer, which is most
    of scSE's cost at the decoder's full-resolution levels.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.cSE(x) + self.sSE(x))


class SaltUNet(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        encoder_channels: list[int],
        decoder_channels: int = 64,
        decoder_upsample: str = "nearest",
        scse: bool = False,
        hypercolumn: bool = False,
        judge: bool = False,
        deep_supervision: bool = False,
        coordconv: bool = False,
    ):
        super().__init__()
        if decoder_upsample not in UPSAMPLINGS:
            raise ValueError(f"decoder upsampling must be one of {', '.join(UPSAMPLINGS)}, got {decoder_upsample!r}")
        self.encoder = encoder
        self.coordconv = coordconv
        self.hypercolumn = hypercolumn
        widths = decoder_widths(decoder_channels)
        self.decoder = UnetDecoder(
            encoder_channels=encoder_channels,
            decoder_channels=widths,
            n_blocks=len(widths),
            attention_type="scse" if scse else None,
            interpolation_mode=decoder_upsample,
        )
        for block in self.decoder.blocks:
            # One scSE per block, on its output, as the case study has it. smp also puts one on the
            # concatenated input of every block; that doubles the attention cost for no described gain.
            block.attention1 = Attention(None)
            if scse:
                block.attention2.attention = FusedSCSE(block.conv2[0].out_channels)
        last = widths[-1]
        if hypercolumn:
            # A 1x1 convolution over the concatenated, upsampled levels is the sum of one 1x1 convolution
            # per level, and both commute with upsampling. So each level is projected to `last` channels
            # at its own resolution and only those few channels are upsampled and summed, coarsest first,
            # one upsampling step per level (see forward).
            self.hyper = nn.ModuleList(nn.Conv2d(w, last, 1, bias=False) for w in widths)
            self.hyper_norm = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        else:
            self.hyper = None
        self.head = nn.Conv2d(last, 1, 3, padding=1)  # smp's SegmentationHead: one 3x3 convolution
        self.aux_heads = nn.ModuleList(nn.Conv2d(w, 1, 1) for w in widths[:-1]) if deep_supervision else None
        self.judge = ClassificationHead(encoder_channels[-1], 1, pooling="avg", dropout=None) if judge else None

    def _decode(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """smp's UnetDecoder.forward, keeping every level's output."""
        shapes = [f.shape[2:] for f in features][::-1]
        deep_first = features[1:][::-1]
        skips = deep_first[1:]
        y = self.decoder.center(deep_first[0])
        levels = []
        for i, block in enumerate(self.decoder.blocks):
            y = block(y, shapes[i + 1][0], shapes[i + 1][1], skip_connection=skips[i] if i < len(skips) else None)
            levels.append(y)
        return levels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        size = x.shape[-2:]
        if self.coordconv:
            x = add_coord_channels(x)
        features = self.encoder(x)
        levels = self._decode(features)
        y = levels[-1]
        if self.hyper is not None:
            # Coarsest first: upsample the running sum to the next level's size and add that level's
            # projection. Every level reaches the output size, as in the concatenated hypercolumn, with
            # one full-resolution upsampling instead of four; a coarse level goes through a chain of
            # bilinear x2 steps (a slightly smoother kernel than one direct step).
            y = self.hyper[0](levels[0])
            for project, level in zip(self.hyper[1:], levels[1:]):
                y = F.interpolate(y, size=level.shape[-2:], mode="bilinear") + project(level)
            y = self.hyper_norm(y)
        out: dict[str, torch.Tensor | list[torch.Tensor]] = {"mask": self.head(y)}
        if self.judge is not None:
            out["judge"] = self.judge(features[-1]).squeeze(1)
        if self.aux_heads is not None:
            out["aux"] = [
                F.interpolate(head(lv), size=size, mode="bilinear", align_corners=False)
                for head, lv in zip(self.aux_heads, levels[:-1])
            ]
        return out
