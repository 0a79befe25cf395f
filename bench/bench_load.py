"""Load the real data set: cached load vs first (decoding) load, both in this run.

Targets: cached load <= 0.3 s and at least 10x faster than the first load.
Run: .venv/bin/python bench/bench_load.py
"""

import os
import tempfile

from _common import best_of, real_data, report


def main() -> bool:
    root = real_data()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SALTLAB_CACHE"] = cache
        from saltlab.dataset import load_dataset

        first = best_of(lambda: load_dataset(root, use_cache=False), repeat=2)
        load_dataset(root)  # writes the cache
        cached = best_of(lambda: load_dataset(root), repeat=5)
        assert load_dataset(root).from_cache
    ok = report("load of the real set (3499 train + 2000 test), cached vs first", cached, first, 10,
                f"cached {cached:.3f} s (target <= 0.3 s) ")  # fmt: skip
    return ok and cached <= 0.3


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
