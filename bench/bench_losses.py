"""The per-image Lovász hinge: ours (every image of the batch in one sort) vs smp's LovaszLoss(per_image=True).

Both give the same number (checked here); the baseline is what a user of smp would call. Forward
and backward on a batch of 32 logit maps of 101x101, median of several repeats in this run.
Run: .venv/bin/python bench/bench_losses.py
"""

from __future__ import annotations

import statistics
import time

import torch
from _common import PROJECT  # noqa: F401 (puts the project on sys.path)
from segmentation_models_pytorch.losses import LovaszLoss

from saltlab.models.losses import lovasz_hinge


def timed(fn, logits, target, repeat: int = 15) -> list[float]:
    times = []
    for _ in range(repeat):
        x = logits.clone().requires_grad_(True)
        start = time.perf_counter()
        fn(x, target).backward()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 1, 101, 101, generator=gen)
    target = (torch.rand(32, 1, 101, 101, generator=gen) > 0.6).float()
    target[:12] = 0  # about a third of the images are empty, as in the data
    smp_loss = LovaszLoss("binary", per_image=True)
    assert torch.allclose(smp_loss(logits, target), lovasz_hinge(logits, target), atol=1e-5)
    timed(lovasz_hinge, logits, target, 2), timed(smp_loss, logits, target, 2)  # warm-up
    ours, base = [], []
    for _ in range(3):  # interleaved, so that drift hits both
        base += timed(smp_loss, logits, target, 5)
        ours += timed(lovasz_hinge, logits, target, 5)
    o, b = statistics.median(ours), statistics.median(base)
    print(
        f"Lovász hinge, 32 x 101x101, forward + backward, {torch.get_num_threads()} threads: ours {o * 1000:.1f} ms "
        f"({min(ours) * 1000:.1f}-{max(ours) * 1000:.1f}), smp LovaszLoss(per_image=True) {b * 1000:.1f} ms "
        f"({min(base) * 1000:.1f}-{max(base) * 1000:.1f}), ratio {b / o:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
