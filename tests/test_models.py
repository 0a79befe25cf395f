"""The model zoo: every variant builds and runs on 101x101 batches; weights options fail clearly."""

import itertools

import pytest
import torch
from segmentation_models_pytorch.base.modules import SCSEModule
from torch.utils.flop_counter import FlopCounterMode

from saltlab.inference.network import forward_101
from saltlab.models import FAMILY, WeightsUnavailable, build_encoder, build_model
from saltlab.models.geometry import from_output, to_input
from saltlab.models.spec import ARCHS
from saltlab.models.unet import FusedSCSE, decoder_widths
from saltlab.runs.config import ModelConfig

VARIANTS = [
    dict(arch=a, **opts)
    for a, opts in itertools.product(
        ARCHS,
        [{}, {"deep_supervision": True}, {"coordconv": True}, {"input_size": 256}, {"input_size": 101}],
    )
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_variant_forward_on_101(options):
    config = ModelConfig(encoder="resnet18", **options)
    model = build_model(config).eval()
    images = torch.rand(2, 1, 101, 101)
    with torch.no_grad():
        out = forward_101(model, images, config.input_size)
    assert out["mask"].shape == (2, 1, 101, 101)
    assert torch.isfinite(out["mask"]).all()
    assert ("judge" in out) == (config.arch == "binary_judge")
    if "judge" in out:
        assert out["judge"].shape == (2,)
    if config.deep_supervision:
        assert len(out["aux"]) == 4 and all(a.shape == (2, 1, 101, 101) for a in out["aux"])
    else:
        assert "aux" not in out


def test_scse_hypercol_structure():
    model = build_model(ModelConfig(arch="scse_hypercol", encoder="resnet18"))
    scse = [m for m in model.modules() if isinstance(m, SCSEModule)]
    assert len(scse) == 5  # smp's, one on each decoder block's output
    assert all(isinstance(block.attention2.attention, SCSEModule) for block in model.decoder.blocks)
    # smp's nearest upsampling in the decoder blocks unless asked; the hypercolumn's is bilinear (forward).
    assert all(block.interpolation_mode == "nearest" for block in model.decoder.blocks)
    bilinear = build_model(ModelConfig(arch="scse_hypercol", encoder="resnet18", decoder_upsample="bilinear"))
    assert all(block.interpolation_mode == "bilinear" for block in bilinear.decoder.blocks)
    # The hypercolumn: every coarser decoder level projected to one channel, added to the head's logits.
    assert [p.in_channels for p in model.hyper] == decoder_widths(64)[:-1]
    assert all(p.out_channels == 1 for p in model.hyper) and not hasattr(model, "hyper_norm")
    # The older form: every level projected to the head's width, summed, BatchNorm + ReLU, then the head.
    features = build_model(ModelConfig(arch="scse_hypercol", encoder="resnet18", hypercolumn_head="features"))
    assert [p.in_channels for p in features.hyper] == decoder_widths(64)
    assert features.hyper_norm[0].num_features == features.head.in_channels
    baseline = build_model(ModelConfig(arch="baseline", encoder="resnet18"))
    assert not any(isinstance(m, SCSEModule) for m in baseline.modules())


def test_fused_scse_is_smps_function():
    """The fused form x * (cSE + sSE) computes smp's x * cSE + x * sSE with the same weights."""
    torch.manual_seed(0)
    reference = SCSEModule(32)
    fused = FusedSCSE(32)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(2, 32, 9, 9)
    assert torch.allclose(fused(x), reference(x), atol=1e-6)


def _flops(model, size: int) -> int:
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 1, size, size))
    return counter.get_total_flops()


@pytest.mark.parametrize("size", [128, 256])
@pytest.mark.parametrize("arch", ARCHS)
def test_no_costlier_than_smp_unet(arch, size):
    """Each variant, deep supervision and CoordConv included, costs no more FLOPs than smp.Unet."""
    import segmentation_models_pytorch as smp

    reference = _flops(smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=1), size)
    ours = _flops(
        build_model(ModelConfig(arch=arch, encoder="resnet34", input_size=size, deep_supervision=True, coordconv=True)),
        size,
    )
    assert ours <= reference, f"{arch} at {size}: {ours / 1e9:.2f} GFLOPs > smp.Unet {reference / 1e9:.2f}"
    plain = _flops(build_model(ModelConfig(arch=arch, encoder="resnet34", input_size=size)), size)
    assert plain <= ours
    unpadded = _flops(build_model(ModelConfig(arch=arch, encoder="resnet34", input_size=101)), 101)
    assert unpadded < 0.75 * _flops(build_model(ModelConfig(arch=arch, encoder="resnet34")), 128)


@pytest.mark.parametrize("name", list(FAMILY))
def test_family_sized_for_the_tiles(name):
    """Each family size runs on 101x101 unpadded and costs at most 0.6 of the FLOPs of cpu_hour's ResNet34 U-Net."""
    config = FAMILY[name]
    model = build_model(config).eval()
    with torch.no_grad():
        out = forward_101(model, torch.rand(2, 1, 101, 101), config.input_size)
    assert out["mask"].shape == (2, 1, 101, 101) and torch.isfinite(out["mask"]).all()
    resnet34 = _flops(build_model(ModelConfig(arch="baseline", encoder="resnet34", input_size=101)), 101)
    assert _flops(model, 101) < 0.6 * resnet34


@pytest.mark.parametrize("encoder", ["resnet34", "efficientnet-b0", "mobilenet_v2", "tu-resnet10t"])
def test_other_encoders(encoder):
    model = build_model(ModelConfig(encoder=encoder)).eval()
    with torch.no_grad():
        assert forward_101(model, torch.rand(1, 1, 101, 101), 128)["mask"].shape == (1, 1, 101, 101)


def test_geometry_round_trip():
    r = torch.arange(101.0)
    x = (torch.sin(r / 9)[:, None] * torch.cos(r / 7)[None, :]).expand(3, 1, 101, 101)  # smooth
    assert torch.equal(from_output(to_input(x, 101), 101), x)
    for size in (128, 256):
        padded = to_input(x, size)
        assert padded.shape == (3, 1, size, size)
        back = from_output(padded, size)
        tol = 0 if size == 128 else 0.01  # 101 -> 202 -> 101 bilinear is close, not exact
        assert (back - x).abs().mean() <= tol
    padded = to_input(x, 128)
    assert torch.equal(padded[..., 0, 13:114], x[..., 0, :])  # edge replication above


def test_imagenet_offline_fails_clearly():
    with pytest.raises(WeightsUnavailable, match="cannot be downloaded here"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights="imagenet"))


def test_local_weights_file(tmp_path):
    source = build_encoder("resnet18", 1, None)
    torch.save(source.state_dict(), tmp_path / "enc.pth")
    model = build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "enc.pth")))
    for key, value in source.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)
    # A 3-channel (ImageNet-style) file onto the 1-channel input: the first conv is adapted.
    rgb = build_encoder("resnet18", 3, None)
    torch.save(rgb.state_dict(), tmp_path / "rgb.pth")
    adapted = build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "rgb.pth")))
    assert torch.allclose(adapted.encoder.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))


def test_bad_weights_files(tmp_path):
    with pytest.raises(WeightsUnavailable, match="not found"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "missing.pth")))
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsUnavailable, match="cannot read"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "junk.pth")))
    torch.save(build_encoder("efficientnet-b0", 1, None).state_dict(), tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailable, match="does not fit"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "other.pth")))
    diverged = build_encoder("resnet18", 1, None).state_dict()
    diverged["layer2.0.bn1.running_var"][3] = float("inf")
    torch.save(diverged, tmp_path / "diverged.pth")
    with pytest.raises(WeightsUnavailable, match="'layer2.0.bn1.running_var' holds non-finite"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "diverged.pth")))


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown encoder"):
        build_model(ModelConfig(encoder="resnet1000"))
