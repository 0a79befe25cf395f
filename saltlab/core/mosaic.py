"""Seismic sections rebuilt from their 101x101 tiles by matching tile edges.

Every TGS tile is a cut of a larger seismic section. As the competition's top teams did: each
border is extrapolated one step outwards (2 * edge - next row), and a seam between tile A and tile
B compares [A's extrapolated border, A's border] with [B's border, B's extrapolated border],
z-normalised (correlation). A link is kept when the two tiles are each other's best match, the
correlation is high, and the best match is clearly better than the second best (a ratio test on
the distances). Links are then placed most confident first, each only where it puts no two tiles
on one cell, so every section is a consistent grid. Train and test tiles are placed together.
The result is cached beside the data set (its fingerprint).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from saltlab.core.dataset import Dataset
from saltlab.core.fileio import atomic_write
from saltlab.core.progress import Progress

MOSAIC_VERSION = 1
FLAT_EDGE_STD = 2.0  # grey levels: an edge this flat (blank or constant) matches anything
MIN_CORRELATION = 0.85  # a quarter of the seams inside real tiles correlate below 0.86-0.92
MAX_RATIO = 0.75  # best distance / second-best distance
DIRECTIONS = {"down": (1, 0), "right": (0, 1)}  # b's cell relative to a's


@dataclass
class Mosaic:
    """Where each tile sits: train tiles first, then test tiles, in the data set's order.

    section: -1 for a tile linked to nothing; sections are numbered by size, largest first.
    row, col: the tile's cell within its section, from 0. links: one row per placed link (a, b:
    tile positions; direction: b is "down" or "right" of a; correlation; confidence = 1 - ratio).
    """

    ids: list[str]
    is_train: np.ndarray
    section: np.ndarray
    row: np.ndarray
    col: np.ndarray
    links: pd.DataFrame

    @property
    def n_placed(self) -> int:
        return int((self.section >= 0).sum())

    def sections(self) -> pd.DataFrame:
        """One row per section, largest first: tiles, train tiles, rows, columns."""
        placed = self.section >= 0
        frame = pd.DataFrame(
            {"section": self.section[placed], "train": self.is_train[placed], "row": self.row[placed]}
        ).assign(col=self.col[placed])
        out = frame.groupby("section").agg(
            tiles=("train", "size"), train_tiles=("train", "sum"), rows=("row", "max"), cols=("col", "max")
        )
        out[["rows", "cols"]] += 1
        return out.reset_index().sort_values(["tiles", "section"], ascending=[False, True], ignore_index=True)

    def grid(self, section: int) -> np.ndarray:
        """(rows, cols) tile positions of one section, -1 where no tile of this data set sits."""
        members = np.flatnonzero(self.section == section)
        if len(members) == 0:
            raise KeyError(f"no section {section}")
        out = np.full((self.row[members].max() + 1, self.col[members].max() + 1), -1, dtype=np.int64)
        out[self.row[members], self.col[members]] = members
        return out

    def neighbours(self, position: int) -> dict[str, int]:
        """The tiles above, below, left and right of one tile (positions), where placed."""
        if self.section[position] < 0:
            return {}
        grid = self.grid(int(self.section[position]))
        r, c = int(self.row[position]), int(self.col[position])
        out = {}
        for name, (dr, dc) in {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}.items():
            rr, cc = r + dr, c + dc
            if 0 <= rr < grid.shape[0] and 0 <= cc < grid.shape[1] and grid[rr, cc] >= 0:
                out[name] = int(grid[rr, cc])
        return out

    def position(self, id_: str) -> int:
        return self.ids.index(id_)


def tile_at(ds: Dataset, position: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(image, truth mask or None for a test tile) at a mosaic position (train tiles first, then test)."""
    if position < ds.n_train:
        return ds.train_images[position], ds.train_masks[position]
    return ds.test_images[position - ds.n_train], None


def _znorm(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centred = rows - rows.mean(1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norm, 1e-6), norm[:, 0]


def _seam_descriptors(images: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(descriptors of the first tile's side, of the second tile's side, usable): z-normalised."""
    x = images.astype(np.float32)
    if direction == "right":
        x = x.transpose(0, 2, 1)  # columns become rows: "b right of a" is "b below a" transposed
    first = np.concatenate([2 * x[:, -1] - x[:, -2], x[:, -1]], axis=1)
    second = np.concatenate([x[:, 0], 2 * x[:, 0] - x[:, 1]], axis=1)
    usable = (x[:, -1].std(1) >= FLAT_EDGE_STD, x[:, 0].std(1) >= FLAT_EDGE_STD)
    return _znorm(first)[0], _znorm(second)[0], usable


def match_edges(images: np.ndarray, direction: str) -> pd.DataFrame:
    """Candidate links in one direction: mutual best matches passing the correlation and ratio tests."""
    first, second, (usable_a, usable_b) = _seam_descriptors(images, direction)
    n = len(images)
    corr = first @ second.T  # (n, n): the correlation of a's side with b's side
    np.fill_diagonal(corr, -2.0)
    corr[~usable_a] = -2.0
    corr[:, ~usable_b] = -2.0
    best = corr.argmax(1)
    rows = np.arange(n)
    c1 = corr[rows, best]
    corr[rows, best] = -2.0
    c2 = corr.max(1)
    corr[rows, best] = c1
    mutual = corr.argmax(0)[best] == rows
    # distances between unit vectors: sqrt(2 - 2 corr)
    ratio = np.sqrt(np.maximum(1 - c1, 1e-12) / np.maximum(1 - c2, 1e-12))
    keep = mutual & (c1 >= MIN_CORRELATION) & (ratio <= MAX_RATIO) & usable_a
    a = np.flatnonzero(keep)
    return pd.DataFrame(
        {"a": a, "b": best[a], "direction": direction, "correlation": c1[a], "confidence": 1 - ratio[a]}
    )


def assemble(n: int, links: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Place links most confident first where they agree with the grid so far: (section, row, col, placed links)."""
    owner = np.arange(n)  # component of each tile
    cells: dict[int, dict[tuple[int, int], int]] = {i: {(0, 0): i} for i in range(n)}
    where = {i: (0, 0) for i in range(n)}
    placed = []
    for link in links.sort_values("confidence", ascending=False, kind="stable").itertuples(index=False):
        a, b = int(link.a), int(link.b)
        dr, dc = DIRECTIONS[link.direction]
        ra, ca = where[a]
        target = (ra + dr, ca + dc)
        ka, kb = owner[a], owner[b]
        if ka == kb:
            if where[b] == target:
                placed.append(link)
            continue
        rb, cb = where[b]
        shift = (target[0] - rb, target[1] - cb)
        moved = {(r + shift[0], c + shift[1]): t for (r, c), t in cells[kb].items()}
        if any(cell in cells[ka] for cell in moved):
            continue  # would put two tiles on one cell: the link contradicts more confident ones
        if len(cells[kb]) > len(cells[ka]):  # keep the larger component's coordinates
            ka, kb = kb, ka
            back = (-shift[0], -shift[1])
            moved = {(r + back[0], c + back[1]): t for (r, c), t in cells[kb].items()}
        for cell, t in moved.items():
            cells[ka][cell] = t
            where[t] = cell
            owner[t] = ka
        del cells[kb]
        placed.append(link)
    section = np.full(n, -1, dtype=np.int64)
    row = np.zeros(n, dtype=np.int64)
    col = np.zeros(n, dtype=np.int64)
    groups = sorted((g for g in cells.values() if len(g) > 1), key=lambda g: (-len(g), min(g.values())))
    for number, group in enumerate(groups):
        r0 = min(r for r, _ in group)
        c0 = min(c for _, c in group)
        for (r, c), t in group.items():
            section[t], row[t], col[t] = number, r - r0, c - c0
    frame = pd.DataFrame(placed, columns=["a", "b", "direction", "correlation", "confidence"])
    return section, row, col, frame.reset_index(drop=True)


def build_mosaic(ds: Dataset, progress: Progress | None = None) -> Mosaic:
    """Match every tile's edges against every other's (train and test) and assemble the sections."""
    images = np.concatenate([ds.train_images, ds.test_images])
    candidates = []
    for i, direction in enumerate(DIRECTIONS):
        if progress:
            progress(f"matching edges ({direction})", i, len(DIRECTIONS) + 1)
        candidates.append(match_edges(images, direction))
    if progress:
        progress("assembling sections", len(DIRECTIONS), len(DIRECTIONS) + 1)
    section, row, col, links = assemble(len(images), pd.concat(candidates, ignore_index=True))
    if progress:
        progress("assembling sections", len(DIRECTIONS) + 1, len(DIRECTIONS) + 1)
    is_train = np.zeros(len(images), dtype=bool)
    is_train[: ds.n_train] = True
    return Mosaic(list(ds.train_ids) + list(ds.test_ids), is_train, section, row, col, links)


def _cache_path(ds: Dataset):
    from saltlab.core.dataset_cache import dataset_dir

    return dataset_dir(ds.fingerprint) / f"mosaic-v{MOSAIC_VERSION}.npz"


def load_mosaic(ds: Dataset, use_cache: bool = True, progress: Progress | None = None) -> tuple[Mosaic, bool]:
    """The data set's mosaic and whether it came from the cache (built and cached when absent)."""
    path = _cache_path(ds)
    ids = list(ds.train_ids) + list(ds.test_ids)
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if z["ids"].tolist() == ids:
                    links = pd.read_json(io.StringIO(str(z["links"])), orient="split")
                    if links.empty:
                        links = pd.DataFrame(columns=["a", "b", "direction", "correlation", "confidence"])
                    return Mosaic(ids, z["is_train"], z["section"], z["row"], z["col"], links), True
        except (OSError, ValueError, KeyError):
            pass  # an unreadable entry is rebuilt below
    mosaic = build_mosaic(ds, progress)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "ids": np.array(ids),
            "is_train": mosaic.is_train,
            "section": mosaic.section,
            "row": mosaic.row,
            "col": mosaic.col,
            "links": np.array(mosaic.links.to_json(orient="split")),
        }
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError:
        pass  # the mosaic is still returned; it is rebuilt next time
    return mosaic, False


def edge_agreement(mosaic: Mosaic, masks: np.ndarray, seed: int = 0) -> dict:
    """A precision proxy that needs no ground-truth layout: along the shared edge of two linked train
    tiles, the IoU of their truth masks' edge pixels (pairs where either edge has salt), against
    the same for random pairs of train tiles."""

    def edges(a: np.ndarray, b: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        down = direction == "down"
        first = np.where(down[:, None], masks[a, -1, :], masks[a, :, -1])
        second = np.where(down[:, None], masks[b, 0, :], masks[b, :, 0])
        return first, second

    def mean_iou(first: np.ndarray, second: np.ndarray) -> tuple[float, int]:
        salty = first.any(1) | second.any(1)
        if not salty.any():
            return float("nan"), 0
        inter = (first & second).sum(1)[salty]
        union = (first | second).sum(1)[salty]
        return float((inter / union).mean()), int(salty.sum())

    n_train = len(masks)
    links = mosaic.links
    both = (links["a"] < n_train) & (links["b"] < n_train)
    a, b = links["a"][both].to_numpy(dtype=np.int64), links["b"][both].to_numpy(dtype=np.int64)
    linked, n_salty = mean_iou(*edges(a, b, links["direction"][both].to_numpy(dtype=str)))
    rng = np.random.default_rng(seed)
    ra, rb = rng.integers(0, n_train, 5000), rng.integers(0, n_train, 5000)
    random_iou, _ = mean_iou(*edges(ra, rb, rng.choice(["down", "right"], 5000)))
    return {"train_links": int(both.sum()), "salty_links": n_salty, "linked_iou": linked, "random_iou": random_iou}


def summary(mosaic: Mosaic, ds: Dataset) -> dict:
    """The numbers a user (and the README) asks for."""
    sections = mosaic.sections()
    out = {
        "tiles": len(mosaic.ids),
        "placed": mosaic.n_placed,
        "links": len(mosaic.links),
        "sections": len(sections),
        "largest": sections.head(5)[["tiles", "rows", "cols"]].to_dict("records"),
    }
    out.update(edge_agreement(mosaic, ds.train_masks))
    return out


def section_table(mosaic: Mosaic) -> str:
    """id, train/test, section, row, col of every placed tile, as CSV text."""
    placed = mosaic.section >= 0
    frame = pd.DataFrame(
        {
            "id": np.array(mosaic.ids)[placed],
            "split": np.where(mosaic.is_train[placed], "train", "test"),
            "section": mosaic.section[placed],
            "row": mosaic.row[placed],
            "col": mosaic.col[placed],
        }
    ).sort_values(["section", "row", "col"])
    return frame.to_csv(index=False)


def compose(mosaic: Mosaic, section: int, tiles: np.ndarray, fill: int = 0) -> np.ndarray:
    """One picture of a section: tiles (N, 101, 101, ...) of every position placed in their cells."""
    grid = mosaic.grid(section)
    size = tiles.shape[1]
    out = np.full((grid.shape[0] * size, grid.shape[1] * size, *tiles.shape[3:]), fill, dtype=tiles.dtype)
    for (r, c), t in np.ndenumerate(grid):
        if t >= 0:
            out[r * size : (r + 1) * size, c * size : (c + 1) * size] = tiles[t]
    return out
