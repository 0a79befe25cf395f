"""The demo set: Kaggle layout, the real set's file quirks, TGS proportions, determinism."""

import cv2
import numpy as np
import pytest

from saltlab.core.definitions import coverage, coverage_class, is_constant_image, is_empty, is_vertical_mask
from saltlab.core.demo import generate_demo_dataset, make_sample


def test_layout_and_file_quirks(demo_root, demo_ds):
    assert (demo_root / "train.csv").is_file() and (demo_root / "depths.csv").is_file()
    assert (demo_root / "sample_submission.csv").read_text().startswith("id,rle_mask\n")
    assert demo_ds.health.clean
    assert demo_ds.n_train == 200 and demo_ds.n_test == 60
    image = cv2.imread(str(demo_root / "train/images" / f"{demo_ds.train_ids[0]}.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (101, 101, 3)  # grayscale stored as RGB, like the real files
    salty = demo_ds.train_ids[int(np.flatnonzero(~is_empty(demo_ds.train_masks))[0])]
    empty = demo_ds.train_ids[int(np.flatnonzero(is_empty(demo_ds.train_masks))[0])]
    assert cv2.imread(str(demo_root / "train/masks" / f"{salty}.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(demo_root / "train/masks" / f"{empty}.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_tgs_proportions():
    rng = np.random.default_rng(3)
    pairs = [make_sample(rng) for _ in range(1500)]
    images = np.stack([p[0] for p in pairs])
    masks = np.stack([p[1] for p in pairs])
    empty = is_empty(masks)
    assert 0.33 < empty.mean() < 0.45
    counts = np.bincount(coverage_class(coverage(masks)), minlength=11)
    assert (counts > 0).all(), counts
    assert 0.01 < is_vertical_mask(masks).mean() < 0.06
    constant = is_constant_image(images)
    assert 0.005 < constant.mean() < 0.04
    assert empty[constant].all()


def test_salt_looks_different_from_sediment():
    # The salt interior is weak and chaotic: lower local contrast than the layered sediment.
    rng = np.random.default_rng(4)
    inside, outside = [], []
    for _ in range(200):
        image, mask = make_sample(rng)
        if 0.2 < mask.mean() < 0.8 and image.std() > 0:
            grad = np.abs(np.diff(image.astype(float), axis=0))
            m = mask[1:] & mask[:-1]
            inside.append(grad[m].mean())
            outside.append(grad[~mask[1:] & ~mask[:-1]].mean())
    assert len(inside) > 20
    assert np.median(np.array(inside) / np.array(outside)) < 0.8


def test_deterministic_for_a_seed(tmp_path):
    a = generate_demo_dataset(tmp_path / "a", n=12, n_test=3, seed=5)
    b = generate_demo_dataset(tmp_path / "b", n=12, n_test=3, seed=5)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    assert (a / "train.csv").read_text() == (b / "train.csv").read_text()
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_demo_dataset(tmp_path / "x", n=4)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no temp folder left behind
