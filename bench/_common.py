"""Shared helpers for the benchmarks: interleaved repeats reported as median and spread, and where the data is."""

from __future__ import annotations

import os
import statistics
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


def paired(
    ours: Callable[[], object], baseline: Callable[[], object], repeat: int = 3
) -> tuple[list[float], list[float]]:
    """Seconds of `repeat` runs of each, interleaved (baseline, ours, baseline, ...) so drift hits both."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((baseline, times[1]), (ours, times[0])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times


def spread(times: list[float], unit: float = 1000.0, suffix: str = " ms") -> str:
    """'median (min-max)' of seconds, in ms by default."""
    return f"{statistics.median(times) * unit:.1f}{suffix} ({min(times) * unit:.1f}-{max(times) * unit:.1f})"


def report(name: str, ours: list[float], baseline: list[float], target_ratio: float, extra: str = "") -> bool:
    """One line: both medians with their spread, and the ratio of the medians (baseline time / ours)."""
    ratio = statistics.median(baseline) / statistics.median(ours)
    ok = ratio >= target_ratio
    verdict = f"(target >= {target_ratio:g}x) {extra}{'PASS' if ok else 'MISS'}" if target_ratio else extra
    print(
        f"{name}: ours {spread(ours)}, baseline {spread(baseline)}; median of {len(ours)} runs each, "
        f"ratio {ratio:.2f}x {verdict}"
    )
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
