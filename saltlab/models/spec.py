"""What a model is, as data: its architecture, encoder, widths and input size (a run's config holds one)."""

from __future__ import annotations

from dataclasses import dataclass

ARCHS = ("baseline", "scse_hypercol", "binary_judge")
INPUT_SIZES = (101, 128, 256)
UPSAMPLINGS = ("nearest", "bilinear")
# Until 2026-11-27 scse_hypercol and binary_judge also upsampled bilinearly in the decoder; a model config
# written then has no `decoder_upsample` (checkpoint format 3, config.json): see `with_legacy_upsampling`.
LEGACY_BILINEAR_ARCHS = ("scse_hypercol", "binary_judge")


@dataclass
class ModelConfig:
    arch: str = "baseline"
    encoder: str = "resnet34"
    encoder_weights: str | None = None  # None (from scratch), "imagenet", or a local weights file
    decoder_channels: int = 64
    deep_supervision: bool = False
    coordconv: bool = False
    input_size: int = 128  # 101: as it is; 128: 101 edge-padded; 256: 101 resized to 202, edge-padded
    # The decoder blocks' x2 upsampling: nearest (smp's default; the case study's decoder says only
    # "upsampling") or bilinear. The hypercolumn always upsamples bilinearly, as the case study says.
    decoder_upsample: str = "nearest"


def with_legacy_upsampling(model: dict) -> dict:
    """A model config dict as its model was trained: one without `decoder_upsample` predates the field,
    when the scSE models' decoder upsampled bilinearly (a copy with that filled in; others unchanged)."""
    if isinstance(model, dict) and "decoder_upsample" not in model and model.get("arch") in LEGACY_BILINEAR_ARCHS:
        return {**model, "decoder_upsample": "bilinear"}
    return model
