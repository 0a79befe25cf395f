"""Training speed of our models against the `smp.Unet` a user would write by hand, same encoder and input.

Each model runs training steps (forward, BCE, backward, Adam) on the same random batch in this
run, fp32 and bf16 autocast, channels_last; the baseline is `smp.Unet(encoder, encoder_weights=None,
in_channels=1, classes=1)` at 128x128 (it needs a multiple of 32). Ours also at 101x101 unpadded.
Each measurement is repeated (interleaved with the baseline so drift hits both); median and spread
printed. Target (issue 10): ours / smp >= 1.0 at the same input size.
`--hypercolumn-head features` times the scSE models' older hypercolumn (checkpoint formats 3 and 4).
Run: .venv/bin/python bench/bench_models.py [--encoder resnet34] [--batch 32] [--repeat 3] [--arch scse_hypercol]

`--family` (issue 25) instead times the model family sized for 101x101 tiles (saltlab.models.FAMILY)
beside `cpu_hour`'s ResNet34 U-Net at 101 and smp.Unet ResNet34 at 128, in the same run: parameters,
FLOPs per image at its input size, training img/s fp32 and bf16, and the ratio to smp.Unet.
"""

from __future__ import annotations

import argparse
import statistics
import time

import segmentation_models_pytorch as smp
import torch
from _common import PROJECT  # noqa: F401 (puts the project on sys.path)
from torch.nn import functional as F

from saltlab.inference.network import resolve_device
from saltlab.models import build_model
from saltlab.runs.config import ARCHS, HYPERCOLUMN_HEADS, ModelConfig


class SmpBaseline(torch.nn.Module):
    """smp.Unet returning our output dict, so one timing loop serves both."""

    def __init__(self, encoder: str):
        super().__init__()
        self.net = smp.Unet(encoder, encoder_weights=None, in_channels=1, classes=1)

    def forward(self, x):
        return {"mask": self.net(x)}


def img_per_s(model: torch.nn.Module, size: int, batch: int, steps: int, bf16: bool, device: torch.device) -> float:
    model = model.to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, size, size, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 1, size, size, generator=gen) > 0.6).float().to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)["mask"]
        loss = F.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (oneDNN / cuDNN picks its kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def flops_per_image(model: torch.nn.Module, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 1, size, size))
    return counter.get_total_flops()


def family(args, device: torch.device) -> int:
    """Params, FLOPs and training img/s of every family size beside the ResNet34 U-Net and smp.Unet."""
    from saltlab.models import FAMILY

    cases = [("resnet34-unet (cpu_hour)", ModelConfig(arch="baseline", encoder="resnet34", input_size=101))]
    cases += [(f"{name} ({cfg.encoder}, c{cfg.decoder_channels})", cfg) for name, cfg in FAMILY.items()]
    print(f"device {device}, batch {args.batch}, {args.steps} steps x {args.repeat} repeats; img/s median (min-max)")
    print("model | params M | GFLOPs/img | input | fp32 img/s | x smp | bf16 img/s | x smp")
    models = {"smp.Unet resnet34": SmpBaseline("resnet34")} | {n: build_model(c) for n, c in cases}
    sizes = {"smp.Unet resnet34": 128} | {n: c.input_size for n, c in cases}
    speeds: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.repeat):  # interleaved, so drift hits every model alike
        for bf16 in (False, True):
            for name, model in models.items():
                speeds.setdefault((name, bf16), []).append(
                    img_per_s(model, sizes[name], args.batch, args.steps, bf16, device)
                )
    for name, model in models.items():
        cells = []
        for bf16 in (False, True):
            runs = speeds[(name, bf16)]
            ratio = statistics.median(runs) / statistics.median(speeds[("smp.Unet resnet34", bf16)])
            cells.append(f"{statistics.median(runs):.1f} ({min(runs):.1f}-{max(runs):.1f}) | {ratio:.2f}")
        params = sum(p.numel() for p in model.parameters()) / 1e6
        gflops = flops_per_image(model, sizes[name]) / 1e9
        print(f"{name} | {params:.1f} | {gflops:.2f} | {sizes[name]} | {cells[0]} | {cells[1]}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hypercolumn-head", default="logits", choices=HYPERCOLUMN_HEADS)
    parser.add_argument("--arch", action="append", choices=ARCHS, help="only these models (repeatable)")
    parser.add_argument("--family", action="store_true", help="the model family sized for 101x101 tiles")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    if args.family:
        return family(args, device)
    cases = [(arch, 128) for arch in ARCHS] + [("baseline", 101)]
    cases = [(arch, size) for arch, size in cases if arch in (args.arch or ARCHS)]
    print(
        f"device {device}, encoder {args.encoder}, batch {args.batch}, hypercolumn head {args.hypercolumn_head}, "
        f"{args.steps} steps x {args.repeat} repeats; "
        "img/s median (min-max)"
    )
    ok = True
    for bf16 in (False, True):
        for arch, size in cases:
            ours_model = build_model(
                ModelConfig(arch=arch, encoder=args.encoder, input_size=size, hypercolumn_head=args.hypercolumn_head)
            )
            smp_model = SmpBaseline(args.encoder)
            ours, base = [], []
            for _ in range(args.repeat):
                base.append(img_per_s(smp_model, 128, args.batch, args.steps, bf16, device))
                ours.append(img_per_s(ours_model, size, args.batch, args.steps, bf16, device))
            ratio = statistics.median(ours) / statistics.median(base)
            verdict = "" if size != 128 else ("PASS" if ratio >= 1.0 else "MISS")
            ok &= ratio >= 1.0 or size != 128
            print(
                f"{'bf16' if bf16 else 'fp32'} {arch:<14} at {size}: ours {statistics.median(ours):6.1f} "
                f"({min(ours):.1f}-{max(ours):.1f}), smp.Unet at 128 {statistics.median(base):6.1f} "
                f"({min(base):.1f}-{max(base):.1f}), ratio {ratio:.2f} {verdict}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
