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
