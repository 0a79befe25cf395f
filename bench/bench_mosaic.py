"""The mosaic of the real set (3,499 train + 2,000 test tiles): edge matching against the usual
nearest-neighbour tool, the whole build, and the cached load.

1. Matching one direction (every tile's lower edge against every tile's upper edge, the mutual
   best match with its runner-up): ours is one matrix product of the z-normalised descriptors;
   the baseline is scipy's cKDTree (k=3 queries both ways) over the same descriptors.
2. build_mosaic (both directions, assembly) first time; load_mosaic from the cache. Target: the
   first build in <= 30 s on the 2-core CPU, the cached load instant (< 0.1 s).
Interleaved repeats, median and spread. Run: .venv/bin/python bench/bench_mosaic.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from _common import paired, real_data, report, spread
from scipy.spatial import cKDTree

from saltlab.core.dataset import load_dataset
from saltlab.core.mosaic import _seam_descriptors, build_mosaic, load_mosaic, match_edges


def kdtree_matches(images: np.ndarray) -> np.ndarray:
    """The same mutual best matches with their distance ratio, by k-d tree queries (k=3: a tile can be its own
    nearest neighbour, which does not count)."""
    first, second, _ = _seam_descriptors(images, "down")
    rows = np.arange(len(images))
    found = []
    for query, tree in ((first, cKDTree(second)), (second, cKDTree(first))):
        dist, idx = tree.query(query, k=3)
        own = idx == rows[:, None]
        dist = np.where(own, np.inf, dist)
        order = np.argsort(dist, axis=1)
        found.append((np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)))
    (best, d_ab), (back, _) = found
    mutual = back[best[:, 0], 0] == rows
    with np.errstate(invalid="ignore", divide="ignore"):  # flat edges: inf / inf
        ratio = d_ab[:, 0] / d_ab[:, 1]
    return rows[mutual & (ratio <= 0.75)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["SALTLAB_CACHE"] = tempfile.mkdtemp()
    ds = load_dataset(real_data())
    images = np.concatenate([ds.train_images, ds.test_images])
    print(f"{len(images)} tiles")
    ours, baseline = paired(lambda: match_edges(images, "down"), lambda: kdtree_matches(images), args.repeat)
    report("matching one direction: one matrix product vs scipy cKDTree (k=3, both ways)", ours, baseline, 0)
    builds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        mosaic = build_mosaic(ds)
        builds.append(time.perf_counter() - start)
    print(f"build_mosaic (both directions + assembly): {spread(builds, 1, ' s')}, target <= 30 s")
    load_mosaic(ds)  # writes the cache
    loads = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        cached, from_cache = load_mosaic(ds)
        loads.append(time.perf_counter() - start)
        assert from_cache
    print(f"load_mosaic from the cache: {spread(loads)}, target < 100 ms")
    print(
        f"placed {mosaic.n_placed} of {len(mosaic.ids)} tiles in {len(mosaic.sections())} sections; "
        f"median build / cached load: {statistics.median(builds) / statistics.median(loads):.0f}x"
    )


if __name__ == "__main__":
    main()
