"""What a model is, as data: its architecture, encoder, widths and input size (a run's config holds one)."""

from __future__ import annotations

from dataclasses import dataclass

# The vocabularies a config names, each in one place: the CLI's choices, the Train page's widgets,
# config validation and the tests derive from these; the implementations (models.build_model,
# models.losses) are keyed by the same names and check at import that they cover them.
ARCH_OPTIONS = {  # each architecture: the SaltUNet options it sets
    "baseline": dict(scse=False, hypercolumn=False, judge=False),
    "scse_hypercol": dict(scse=True, hypercolumn=True, judge=False),
    "binary_judge": dict(scse=True, hypercolumn=True, judge=True),
}
ARCHS = tuple(ARCH_OPTIONS)
# The losses a stage trains with (models.losses: MASK_LOSSES and the judge's own).
LOSSES = ("bce", "lovasz", "lovasz_symmetric", "dice", "focal", "bce_dice", "bce_lovasz", "judge")
INPUT_SIZES = (101, 128, 256)
UPSAMPLINGS = ("nearest", "bilinear")
HYPERCOLUMN_HEADS = ("logits", "features")
# The scSE models changed twice on 2026-11-27 (checkpoint formats 4 and 5); a model config written
# before a field existed lacks it and means the older model: see `as_trained`.
HYPERCOLUMN_ARCHS = ("scse_hypercol", "binary_judge")


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
    # How the hypercolumn meets the last convolution (scse_hypercol, binary_judge; see models.unet):
    # "logits", one channel per coarser level added to the head's output, or "features", the older,
    # costlier form (16 channels per level summed at full resolution, BatchNorm + ReLU, then the head).
    hypercolumn_head: str = "logits"


def as_trained(model: dict) -> dict:
    """A model config dict as its model was trained (a copy; others unchanged). Configs of the scSE
    models written before a field existed lack it: without `decoder_upsample` (checkpoint format 3)
    the decoder upsampled bilinearly; without `hypercolumn_head` (formats 3 and 4) it was "features"."""
    if not isinstance(model, dict) or model.get("arch") not in HYPERCOLUMN_ARCHS:
        return model
    return {"decoder_upsample": "bilinear", "hypercolumn_head": "features", **model}
