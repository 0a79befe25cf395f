"""What bilinear upsampling costs in the decoder, against the nearest upsampling of smp's default Unet.

The four x2 upsamplings of a ResNet34 U-Net decoder at 101x101 (batch 32: 256x7x7 -> 13, 128x13x13
-> 26, 64x26x26 -> 51, 32x51x51 -> 101), forward and backward, channels_last, in bf16 (what CPU
autocast keeps: upsampling is not cast to fp32) and fp32. The baseline is nearest, smp.Unet's
default `interpolation_mode`; `scse_hypercol` and `binary_judge` upsampled bilinearly in the decoder
until 2026-11-27 (since then nearest there, bilinear only in the hypercolumn, as the case study says:
this measurement is why).
Repeated, interleaved, median printed. Run: .venv/bin/python bench/bench_upsampling.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import PROJECT  # noqa: F401 (puts the project on sys.path)
from torch.nn import functional as F

LEVELS = [(256, 7, 13), (128, 13, 26), (64, 26, 51), (32, 51, 101)]


def step_ms(mode: str, dtype: torch.dtype, batch: int, inner: int = 5) -> float:
    """Milliseconds for the four upsamplings, forward and backward, averaged over `inner` calls."""
    inputs = []
    for channels, size, _ in LEVELS:
        x = torch.randn(batch, channels, size, size, dtype=dtype).contiguous(memory_format=torch.channels_last)
        inputs.append(x.requires_grad_(True))

    def once() -> None:
        for x, (_, _, out) in zip(inputs, LEVELS):
            extra = {} if mode == "nearest" else {"align_corners": False}
            F.interpolate(x, size=(out, out), mode=mode, **extra).sum().backward()

    once()  # warm-up
    start = time.perf_counter()
    for _ in range(inner):
        once()
    return (time.perf_counter() - start) / inner * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.repeat} repeats")
    for dtype in (torch.bfloat16, torch.float32):
        times = {"nearest": [], "bilinear": []}
        for _ in range(args.repeat):
            for mode in times:  # interleaved, so drift hits both
                times[mode].append(step_ms(mode, dtype, args.batch))
        base, ours = statistics.median(times["nearest"]), statistics.median(times["bilinear"])
        name = str(dtype).removeprefix("torch.")
        print(
            f"{name:9s} nearest (smp default) {base:6.1f} ms [{min(times['nearest']):.1f}-{max(times['nearest']):.1f}]"
            f"  bilinear {ours:6.1f} ms [{min(times['bilinear']):.1f}-{max(times['bilinear']):.1f}]"
            f"  bilinear costs {ours - base:+.1f} ms a step ({ours / base:.2f}x nearest)"
        )


if __name__ == "__main__":
    main()
