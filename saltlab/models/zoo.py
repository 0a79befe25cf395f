"""The model zoo: build any model variant of the case study from a ModelConfig (imports torch and smp).

Weights start from scratch by default. "imagenet" needs a model hub: with no route to one
(these machines), it fails within seconds with a clear message instead of retrying for
minutes; SALTLAB_ALLOW_DOWNLOAD=1 lets huggingface_hub try. A local weights file (.pt, .pth
or .safetensors holding an encoder state dict) can be given instead.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from saltlab.core.errors import SaltLabError
from saltlab.models.spec import ARCH_OPTIONS, ModelConfig
from saltlab.models.unet import SaltUNet


class WeightsUnavailable(SaltLabError, RuntimeError):
    """Pretrained weights that cannot be had here (offline hub, missing or unfitting file)."""


# timm encoders (smp's "tu-" names) sized for 101x101 tiles: lighter than any ResNet of smp's own list,
# and faster on the CPU where full-resolution stages dominate (bench/bench_models.py --family).
COMPACT_ENCODERS = ("tu-resnet10t", "tu-resnet14t")


# The model family sized for 101x101 tiles (issue 25), by measured CPU training speed, not parameters:
# the scSE + hypercolumn U-Net, unpadded, on a compact timm encoder with a narrow decoder.
# Each size's params, FLOPs and img/s beside smp.Unet: bench/bench_models.py --family.
FAMILY = {
    "compact-s": ModelConfig(arch="scse_hypercol", encoder="tu-resnet10t", decoder_channels=16, input_size=101),
    "compact-m": ModelConfig(arch="scse_hypercol", encoder="tu-resnet10t", decoder_channels=32, input_size=101),
    "compact-l": ModelConfig(arch="scse_hypercol", encoder="tu-resnet14t", decoder_channels=32, input_size=101),
}


def encoder_names() -> list[str]:
    from segmentation_models_pytorch.encoders import get_encoder_names

    return sorted(get_encoder_names()) + list(COMPACT_ENCODERS)


def first_non_finite(state: dict) -> tuple[str, int] | None:
    """(name, how many values) of the first floating tensor of a state dict holding NaN or inf; None if none."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            return key, int((~torch.isfinite(value)).sum())
    return None


def _load_local_weights(encoder: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise WeightsUnavailable(f"encoder weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise WeightsUnavailable(f"cannot read encoder weights from {path}: {exc}") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{path} holds a {type(state).__name__}, not a state dict of weights")
    bad = first_non_finite(state)
    if bad:
        raise WeightsUnavailable(f"{path}: weight {bad[0]!r} holds non-finite values (NaN or inf): not usable")
    state = {k.removeprefix("encoder."): v for k, v in state.items() if not k.startswith("fc.")}
    own = encoder.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    # A 3-channel first convolution onto our 1 (or 3 with CoordConv) input channels: sum, as smp does.
    for k, v in state.items():
        if (
            k in own
            and k not in fitting
            and v.ndim == 4
            and own[k].shape[0] == v.shape[0]
            and own[k].shape[2:] == v.shape[2:]
        ):
            fitting[k] = v.sum(dim=1, keepdim=True).expand_as(own[k]).clone() / own[k].shape[1]
    if len(fitting) < len(own) // 2:
        raise WeightsUnavailable(
            f"{path} does not fit this encoder: {len(fitting)} of {len(own)} tensors match by name and shape"
        )
    encoder.load_state_dict(fitting, strict=False)


def build_encoder(name: str, in_channels: int, weights: str | None) -> nn.Module:
    from segmentation_models_pytorch.encoders import get_encoder

    if name not in encoder_names():
        raise ValueError(f"unknown encoder {name!r}; e.g. resnet18, resnet34, resnet50, efficientnet-b0, mobilenet_v2")
    if weights in (None, "", "none"):
        return get_encoder(name, in_channels=in_channels, depth=5, weights=None)
    if weights == "imagenet":
        try:
            return get_encoder(name, in_channels=in_channels, depth=5, weights="imagenet")
        except Exception as exc:  # noqa: BLE001 - hub errors come in many types
            raise WeightsUnavailable(
                f"ImageNet weights for {name} cannot be downloaded here ({type(exc).__name__}); "
                "train from scratch (model.encoder_weights = none, the default) or give a local weights "
                "file (model.encoder_weights = '/path/to/encoder.pth'). Set SALTLAB_ALLOW_DOWNLOAD=1 to "
                "let it try the hub."
            ) from None
    encoder = get_encoder(name, in_channels=in_channels, depth=5, weights=None)
    _load_local_weights(encoder, Path(weights).expanduser())
    return encoder


def build_model(config: ModelConfig) -> SaltUNet:
    """A fresh model for the config (weights from scratch unless encoder_weights says otherwise)."""
    if config.arch not in ARCH_OPTIONS:
        raise ValueError(f"unknown model arch {config.arch!r}; choose one of {', '.join(ARCH_OPTIONS)}")
    in_channels = 3 if config.coordconv else 1
    encoder = build_encoder(config.encoder, in_channels, config.encoder_weights)
    return SaltUNet(
        encoder,
        list(encoder.out_channels),
        decoder_channels=config.decoder_channels,
        decoder_upsample=config.decoder_upsample,
        hypercolumn_head=config.hypercolumn_head,
        deep_supervision=config.deep_supervision,
        coordconv=config.coordconv,
        **ARCH_OPTIONS[config.arch],
    )
