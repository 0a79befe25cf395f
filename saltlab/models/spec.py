"""What a model is, as data: its architecture, encoder, widths and input size (a run's config holds one)."""

from __future__ import annotations

from dataclasses import dataclass

ARCHS = ("baseline", "scse_hypercol", "binary_judge")
INPUT_SIZES = (101, 128, 256)


@dataclass
class ModelConfig:
    arch: str = "baseline"
    encoder: str = "resnet34"
    encoder_weights: str | None = None  # None (from scratch), "imagenet", or a local weights file
    decoder_channels: int = 64
    deep_supervision: bool = False
    coordconv: bool = False
    input_size: int = 128  # 101: as it is; 128: 101 edge-padded; 256: 101 resized to 202, edge-padded
