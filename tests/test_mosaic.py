"""The mosaic: sections rebuilt from tiles cut out of a known layout, conflicts, the cache, the proxy."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from saltlab.core.mosaic import (
    assemble,
    compose,
    edge_agreement,
    load_mosaic,
    match_edges,
    section_table,
    summary,
)

T = 101


def seismic_section(rows: int, cols: int, seed: int) -> np.ndarray:
    """A layered, folded field like a seismic section (uint8), rows x cols tiles large."""
    rng = np.random.default_rng(seed)
    h, w = rows * T, cols * T
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fold = sum(rng.uniform(5, 25) * np.sin(2 * np.pi * x / rng.uniform(150, 600) + rng.uniform(0, 6)) for _ in range(3))
    depth = y + fold
    field = sum(
        rng.uniform(0.3, 1) * np.sin(2 * np.pi * depth / rng.uniform(6, 40) + rng.uniform(0, 6)) for _ in range(6)
    )
    field += 0.05 * rng.standard_normal((h, w))
    field = (field - field.min()) / (field.max() - field.min())
    return np.rint(field * 255).astype(np.uint8)


def cut(section: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    rows, cols = section.shape[0] // T, section.shape[1] // T
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    return np.stack([section[r * T : (r + 1) * T, c * T : (c + 1) * T] for r, c in cells]), cells


class FakeDataset:
    """The fields build_mosaic reads; a real Dataset needs files on disk, this test needs only tiles."""

    def __init__(self, images: np.ndarray, n_train: int, fingerprint: str):
        self.train_images, self.test_images = images[:n_train], images[n_train:]
        self.train_ids = [f"tr{i}" for i in range(n_train)]
        self.test_ids = [f"te{i}" for i in range(len(images) - n_train)]
        self.n_train = n_train
        self.fingerprint = fingerprint
        self.train_masks = np.zeros((n_train, T, T), dtype=bool)


def test_two_sections_cut_into_shuffled_tiles_are_rebuilt_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("SALTLAB_CACHE", str(tmp_path))
    big, small = seismic_section(4, 5, seed=1), seismic_section(3, 3, seed=2)
    tiles_big, cells_big = cut(big)
    tiles_small, cells_small = cut(small)
    blank = np.full((2, T, T), 128, dtype=np.uint8)  # constant tiles: nothing to match
    tiles = np.concatenate([tiles_big, tiles_small, blank])
    truth = [("big", *c) for c in cells_big] + [("small", *c) for c in cells_small] + [("blank", 0, 0)] * 2
    order = np.random.default_rng(0).permutation(len(tiles))
    ds = FakeDataset(tiles[order], n_train=20, fingerprint="synthetic")
    mosaic, cached = load_mosaic(ds)
    assert not cached
    sections = mosaic.sections()
    assert sections[["tiles", "rows", "cols"]].values.tolist() == [[20, 4, 5], [9, 3, 3]]
    for position, original in enumerate(order):
        name, r, c = truth[original]
        if name == "blank":
            assert mosaic.section[position] == -1
        else:
            assert mosaic.section[position] == (0 if name == "big" else 1)
            assert (mosaic.row[position], mosaic.col[position]) == (r, c)
    # the picture of the big section is the section itself
    assert np.array_equal(compose(mosaic, 0, np.concatenate([ds.train_images, ds.test_images])), big)
    # neighbours of the tile at (1, 1) of the big section
    at = {(mosaic.row[p], mosaic.col[p]): p for p in np.flatnonzero(mosaic.section == 0)}
    assert mosaic.neighbours(at[(1, 1)]) == {
        "up": at[(0, 1)],
        "down": at[(2, 1)],
        "left": at[(1, 0)],
        "right": at[(1, 2)],
    }
    again, cached = load_mosaic(ds)
    assert cached and np.array_equal(again.section, mosaic.section) and len(again.links) == len(mosaic.links)
    table = pd.read_csv(io.StringIO(section_table(mosaic)))
    assert len(table) == 29 and set(table["split"]) == {"train", "test"}


def test_a_link_that_contradicts_more_confident_ones_is_not_placed():
    links = pd.DataFrame(
        {
            "a": [0, 1, 0],
            "b": [1, 2, 2],
            "direction": ["right", "right", "down"],
            "correlation": [0.99, 0.98, 0.9],
            "confidence": [0.9, 0.8, 0.3],
        }
    )
    section, row, col, placed = assemble(3, links)
    assert placed["confidence"].tolist() == [0.9, 0.8]  # 2 is right of 1, so it cannot be below 0
    assert (row.tolist(), col.tolist()) == ([0, 0, 0], [0, 1, 2])
    assert section.tolist() == [0, 0, 0]


def test_a_tile_is_never_matched_to_itself_or_to_a_flat_edge():
    section = seismic_section(1, 2, seed=3)
    tiles, _ = cut(section)
    flat = np.full((1, T, T), 40, dtype=np.uint8)
    links = match_edges(np.concatenate([tiles, flat]), "right")
    assert links[["a", "b"]].values.tolist() == [[0, 1]]
    assert links["correlation"].iloc[0] > 0.95


def test_edge_agreement_counts_salt_continuing_across_links():
    masks = np.zeros((4, T, T), dtype=bool)
    masks[0, :, 40:60] = True  # a vertical body crossing from tile 0 into tile 1 below it
    masks[1, :, 40:60] = True
    masks[2, :, :] = True
    links = pd.DataFrame({"a": [0], "b": [1], "direction": ["down"], "correlation": [0.99], "confidence": [0.9]})

    class Linked:
        pass

    mosaic = Linked()
    mosaic.links = links
    result = edge_agreement(mosaic, masks)
    assert result["linked_iou"] == pytest.approx(1.0) and result["salty_links"] == 1
    assert result["random_iou"] < 0.9


def test_a_data_set_without_links_has_no_sections_and_a_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("SALTLAB_CACHE", str(tmp_path))
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (6, T, T), dtype=np.uint8)  # unrelated tiles: nothing continues into anything
    ds = FakeDataset(noise, n_train=4, fingerprint="noise")
    for _ in range(2):  # built, then from the cache
        mosaic, _ = load_mosaic(ds)
        assert mosaic.n_placed == 0 and mosaic.sections().empty
        numbers = summary(mosaic, ds)
        assert numbers["links"] == 0 and numbers["train_links"] == 0 and numbers["largest"] == []
