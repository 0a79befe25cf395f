"""The U-Net of the case study, built from segmentation_models_pytorch's own parts.

The encoder is any smp encoder; the decoder is smp's `UnetDecoder` (its blocks: upsample,
concatenate the skip of the same stride, two 3x3 conv-BN-ReLU, optional scSE attention). What
smp's `Unet` does not have is added on top, around its decoder blocks:
- scse_hypercol: scSE on the output of every decoder block (smp's SCSEModule, computed as
  x * (cSE + sSE): the same function with one full-size product fewer) and a hypercolumn: every
  decoder level brought to the output size by bilinear upsampling and concatenated before the last
  convolution. `hypercolumn_head` "logits" (the default) computes that convolution level by level:
  the 3x3 head on the full-resolution level plus a 1x1 projection of each coarser level to one
  channel at its own resolution, upsampled; "features" (the models of checkpoint formats 3 and
  4) sums 16-channel projections of every level at full resolution, then BatchNorm + ReLU + the
  head: more full-resolution passes for the same idea;
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
from saltlab.models.spec import HYPERCOLUMN_HEADS, UPSAMPLINGS


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


def _upsampled_sum(projections: nn.ModuleList, levels: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
    """Each level's projection, brought to `size` bilinearly and summed.

    Coarsest first: the running sum is upsampled to the next level's size and that level's projection
    added, so a coarse level goes through a chain of bilinear x2 steps (a slightly smoother kernel
    than one direct step) and only one upsampling per level is paid, on the projected channels.
    """
    y = projections[0](levels[0])
    for project, level in zip(projections[1:], levels[1:]):
        y = F.interpolate(y, size=level.shape[-2:], mode="bilinear") + project(level)
    return y if y.shape[-2:] == size else F.interpolate(y, size=size, mode="bilinear")


class SaltUNet(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        encoder_channels: list[int],
        decoder_channels: int = 64,
        decoder_upsample: str = "nearest",
        hypercolumn_head: str = "logits",
        scse: bool = False,
        hypercolumn: bool = False,
        judge: bool = False,
        deep_supervision: bool = False,
        coordconv: bool = False,
    ):
        super().__init__()
        if decoder_upsample not in UPSAMPLINGS:
            raise ValueError(f"decoder upsampling must be one of {', '.join(UPSAMPLINGS)}, got {decoder_upsample!r}")
        if hypercolumn_head not in HYPERCOLUMN_HEADS:
            raise ValueError(
                f"hypercolumn head must be one of {', '.join(HYPERCOLUMN_HEADS)}, got {hypercolumn_head!r}"
            )
        self.encoder = encoder
        self.coordconv = coordconv
        self.hypercolumn_head = hypercolumn_head
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
        self.hyper = None
        if hypercolumn and hypercolumn_head == "logits":
            # The last convolution over the concatenated hypercolumn is the sum of one convolution per
            # level, and a 1x1 one commutes with upsampling: so each coarser level is projected to one
            # channel at its own resolution, and only those single channels are upsampled (see forward).
            # The full-resolution level keeps the 3x3 head.
            self.hyper = nn.ModuleList(nn.Conv2d(w, 1, 1, bias=False) for w in widths[:-1])
        elif hypercolumn:
            # "features" (the models of checkpoint formats 3 and 4): every level projected to `last`
            # channels, summed at full resolution, BatchNorm + ReLU, then the 3x3 head.
            self.hyper = nn.ModuleList(nn.Conv2d(w, last, 1, bias=False) for w in widths)
            self.hyper_norm = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
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
        if self.hyper is None:
            mask = self.head(levels[-1])
        elif self.hypercolumn_head == "logits":
            mask = self.head(levels[-1]) + _upsampled_sum(self.hyper, levels[:-1], size)
        else:
            mask = self.head(self.hyper_norm(_upsampled_sum(self.hyper, levels, size)))
        out: dict[str, torch.Tensor | list[torch.Tensor]] = {"mask": mask}
        if self.judge is not None:
            out["judge"] = self.judge(features[-1]).squeeze(1)
        if self.aux_heads is not None:
            out["aux"] = [
                F.interpolate(head(lv), size=size, mode="bilinear", align_corners=False)
                for head, lv in zip(self.aux_heads, levels[:-1])
            ]
        return out
