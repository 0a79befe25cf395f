"""Load the real data set: cached load vs first (decoding) load, both in this run.

Targets: cached load <= 0.3 s and at least 10x faster than the first load.
Run: .venv/bin/python bench/bench_load.py
"""

import os
import statistics
import tempfile

from _common import paired, real_data, report


def main() -> bool:
    root = real_data()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SALTLAB_CACHE"] = cache
        from saltlab.core.dataset import load_dataset

        load_dataset(root)  # writes the cache
        cached, first = paired(lambda: load_dataset(root), lambda: load_dataset(root, use_cache=False), repeat=3)
        assert load_dataset(root).from_cache
    median = statistics.median(cached)
    ok = report(
        "load of the real set (3499 train + 2000 test), cached vs first (decoding every PNG)",
        cached,
        first,
        10,
        f"cached {median:.3f} s (target <= 0.3 s) ",
    )
    return ok and median <= 0.3


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
