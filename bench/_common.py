"""Shared helpers for the benchmarks: timing (best of several runs) and where the data is."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
REAL_DATA = PROJECT.parent / "shared" / "data" / "tgs"


def real_data() -> Path:
    path = Path(os.environ.get("SALTLAB_BENCH_DATA", REAL_DATA))
    if not (path / "train.csv").is_file():
        sys.exit(f"benchmark needs the real TGS data at {path} (or set SALTLAB_BENCH_DATA)")
    return path


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, ours: float, baseline: float, target_ratio: float, extra: str = "") -> bool:
    ratio = baseline / ours
    ok = ratio >= target_ratio
    verdict = f"(target >= {target_ratio:g}x) {extra}{'PASS' if ok else 'MISS'}" if target_ratio else extra
    print(f"{name}: ours {ours * 1000:.1f} ms, baseline {baseline * 1000:.1f} ms, ratio {ratio:.1f}x {verdict}")
    return ok


def bare_forward(model, n: int, batch: int, device) -> None:
    """The baseline of the inference benchmarks: model(x) on pre-padded channels_last batches,
    n images in all (the last batch partial), bf16 autocast on CUDA."""
    import torch

    from saltlab.models.geometry import to_input

    x = to_input(torch.rand(batch, 1, 101, 101, device=device), 128).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for done in range(0, n, batch):
            model(x[: min(batch, n - done)])
    if device.type == "cuda":
        torch.cuda.synchronize()
