"""The device data pipeline against the albumentations reference: the same operations, rates and ranges."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402

from saltlab.training.data import case_study_augmentation, epoch_batches, seed_transform  # noqa: E402
from saltlab.training.device_pipeline import DeviceTrainData, draw_params  # noqa: E402

N_DRAWS = 6000


def _images_and_masks(n: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random images and blobby masks: bilinear and nearest resampling differ visibly on them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:101, 0:101]
    images, masks = [], []
    for _ in range(n):
        fx, fy, phase = rng.uniform(0.02, 0.2, 2).tolist() + [rng.uniform(0, 6)]
        image = 127 + 120 * np.sin(fx * xx + phase) * np.cos(fy * yy) + rng.normal(0, 4, (101, 101))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        cx, cy, r = rng.uniform(20, 80, 2).tolist() + [rng.uniform(8, 40)]
        masks.append((((xx - cx) ** 2 + 0.5 * (yy - cy) ** 2) < r * r).astype(np.uint8))
    return np.stack(images), np.stack(masks)


def _no_colour(n: int) -> dict[str, np.ndarray]:
    return {"which": np.full(n, -1), "alpha": np.ones(n), "beta": np.zeros(n), "gamma": np.ones(n)}


def test_flip_crop_and_resize_are_albumentations_own_operations():
    images, masks = _images_and_masks()
    data = DeviceTrainData(images, masks, augment=True, device=torch.device("cpu"))
    rng = np.random.default_rng(1)
    worst, checked = 0.0, 0
    for i in range(len(images)):
        for _ in range(6):
            flip, crop = bool(rng.integers(2)), bool(rng.integers(2))
            x0, y0 = (int(v) for v in rng.integers(0, 12, 2))
            steps = [A.HorizontalFlip(p=1.0)] if flip else []
            if crop:
                steps += [A.Crop(x_min=x0, y_min=y0, x_max=x0 + 90, y_max=y0 + 90, p=1.0), A.Resize(101, 101, p=1.0)]
            reference = A.Compose(steps)(image=images[i], mask=masks[i])
            params = {
                "flip": np.array([flip]),
                "x0": np.array([x0 if crop else -1]),
                "y0": np.array([y0 if crop else -1]),
                **_no_colour(1),
            }
            x, y = data.apply(data.images[i : i + 1], data.masks[i : i + 1], params)
            worst = max(worst, float(np.abs(x[0, 0].numpy() * 255 - reference["image"]).max()))
            assert np.array_equal(y[0, 0].numpy(), reference["mask"]), (i, flip, crop, x0, y0)  # nearest: exact
            checked += 1
    # OpenCV's bilinear resize rounds through fixed-point weights and uint8; ours stays float.
    assert worst <= 1.0, worst
    assert checked == 96


@pytest.mark.parametrize("kind", ["brightness", "contrast", "gamma"])
def test_colour_changes_are_albumentations_own_formulas(kind):
    images, masks = _images_and_masks(4)
    data = DeviceTrainData(images, masks, augment=True, device=torch.device("cpu"))
    n = len(images)
    params = {"flip": np.zeros(n, bool), "x0": np.full(n, -1), "y0": np.full(n, -1), **_no_colour(n)}
    amounts = np.linspace(0, 1, n)
    if kind == "brightness":
        params["which"][:], params["beta"] = 0, -0.1 + 0.2 * amounts
        refs = [
            A.RandomBrightnessContrast(p=1.0).apply(im, alpha=1.0, beta=b * 255)
            for im, b in zip(images, params["beta"])
        ]
    elif kind == "contrast":
        params["which"][:], params["alpha"] = 1, 0.9 + 0.2 * amounts
        refs = [
            A.RandomBrightnessContrast(p=1.0).apply(im, alpha=a, beta=0.0) for im, a in zip(images, params["alpha"])
        ]
    else:
        params["which"][:], params["gamma"] = 2, 0.8 + 0.4 * amounts
        refs = [A.RandomGamma(p=1.0).apply(im, gamma=g) for im, g in zip(images, params["gamma"])]
    x, _ = data.apply(data.images, data.masks, params)
    diff = np.abs(x[:, 0].numpy() * 255 - np.stack(refs).astype(np.float64))
    assert diff.max() <= 1.0, diff.max()  # the reference rounds to uint8 (gamma's table truncates)


def _reference_draws(n: int) -> dict[str, np.ndarray]:
    """What the albumentations pipeline chose for n sample seeds, read from its applied parameters."""
    compose = A.Compose(case_study_augmentation().transforms, save_applied_params=True, seed=0)
    image = np.full((101, 101), 128, np.uint8)
    mask = np.zeros((101, 101), np.uint8)
    out = {k: [] for k in ("flip", "crop", "x0", "y0", "brightness", "contrast", "gamma")}
    seeds = [item[1] for batch in epoch_batches(n, n, seed=3, epoch=0) for item in batch]
    for seed in seeds:
        seed_transform(compose, seed)  # as SaltTrainSet seeds each sample
        applied = dict(compose(image=image, mask=mask)["applied_transforms"])
        out["flip"].append("HorizontalFlip" in applied)
        crop = applied.get("RandomCrop")
        out["crop"].append(crop is not None)
        if crop:
            out["x0"].append(crop["crop_coords"][0])
            out["y0"].append(crop["crop_coords"][1])
        colour = applied.get("RandomBrightnessContrast")
        if colour and colour["beta"] != 0:
            out["brightness"].append(colour["beta"] / 255)
        elif colour:
            out["contrast"].append(colour["alpha"])
        if "RandomGamma" in applied:
            out["gamma"].append(applied["RandomGamma"]["gamma"])
    return {k: np.array(v) for k, v in out.items()}


def _device_draws(n: int) -> dict[str, np.ndarray]:
    seeds = np.array([item[1] for batch in epoch_batches(n, n, seed=3, epoch=0) for item in batch])
    p = draw_params(seeds)
    crop = p["x0"] >= 0
    return {
        "flip": p["flip"],
        "crop": crop,
        "x0": p["x0"][crop],
        "y0": p["y0"][crop],
        "brightness": p["beta"][p["which"] == 0],
        "contrast": p["alpha"][p["which"] == 1],
        "gamma": p["gamma"][p["which"] == 2],
    }


def test_random_choices_match_the_reference_rates_and_ranges():
    ours, ref = _device_draws(N_DRAWS), _reference_draws(N_DRAWS)

    def close_rates(a: float, b: float, p: float, n: int) -> bool:
        return abs(a - b) <= 5 * np.sqrt(2 * p * (1 - p) / n)  # two independent estimates, 5 sigma

    for key, p in (("flip", 0.5), ("crop", 0.2)):
        assert close_rates(ours[key].mean(), ref[key].mean(), p, N_DRAWS), (key, ours[key].mean(), ref[key].mean())
    for key in ("brightness", "contrast", "gamma"):  # each of the three: p 0.2 / 3
        assert close_rates(len(ours[key]) / N_DRAWS, len(ref[key]) / N_DRAWS, 0.2 / 3, N_DRAWS), key
    # Independent choices: a crop as likely on a flipped sample as on any, colour as likely after a crop.
    for draws in (ours, ref):
        crop, flip = draws["crop"], draws["flip"]
        assert close_rates(crop[flip].mean(), crop[~flip].mean(), 0.2, N_DRAWS // 2)
    # Crop offsets: both uniform over 0..11.
    for key in ("x0", "y0"):
        assert set(ours[key]) == set(ref[key]) == set(range(12)), key
    # Colour amounts: the same ranges, filled out to near both ends, with the same mean.
    for key, (low, high) in (("brightness", (-0.1, 0.1)), ("contrast", (0.9, 1.1)), ("gamma", (0.8, 1.2))):
        for draws in (ours[key], ref[key]):
            assert (
                low <= draws.min() < low + 0.05 * (high - low) and high - 0.05 * (high - low) < draws.max() <= high
            ), key
        spread = (high - low) / np.sqrt(12)
        assert abs(ours[key].mean() - ref[key].mean()) < 5 * spread * np.sqrt(2 / len(ours[key])), key


def test_masks_stay_binary_and_aligned_with_their_images():
    _, masks = _images_and_masks(32, seed=5)
    images = masks * 255  # an image that shows its own mask: augmented together, they must still agree
    data = DeviceTrainData(images, masks, augment=True, device=torch.device("cpu"))
    items = [(i, 1000 + i) for i in range(len(masks))] * 8
    items = [(i, seed + 97 * k) for k, (i, seed) in enumerate(items)]
    params = draw_params(np.array([s for _, s in items]))
    params.update(_no_colour(len(items)))  # colour changes move the image's threshold, not the geometry
    x, y = data.apply(data.images[[i for i, _ in items]], data.masks[[i for i, _ in items]], params)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    assert params["flip"].any() and (params["x0"] >= 0).any()
    # Bilinear (image) and nearest (mask) resampling may disagree only on the mask's edge: where the
    # mask's 3x3 neighbourhood holds both salt and background. A flip or an offset applied to one
    # but not the other moves whole regions.
    disagree = (x > 0.5) != (y > 0.5)
    pool = torch.nn.functional.max_pool2d
    edge = (pool(y, 3, 1, 1) > 0) & (pool(1 - y, 3, 1, 1) > 0)
    assert disagree.any() and not (disagree & ~edge).any()


def test_a_batch_is_a_pure_function_of_its_items():
    images, masks = _images_and_masks(8)
    data = DeviceTrainData(images, masks, augment=True, device=torch.device("cpu"))
    items = [(i, 7919 * i + 13) for i in range(8)]
    x1, y1 = data.batch(items)
    x2, y2 = data.batch(items[::-1])  # another order: each sample keeps its own augmentation
    assert torch.equal(x1, x2.flip(0)) and torch.equal(y1, y2.flip(0))
    plain_x, plain_y = DeviceTrainData(images, masks, augment=False, device=torch.device("cpu")).batch(items)
    assert torch.equal(plain_x[:, 0] * 255, torch.from_numpy(images).float())
    assert torch.equal(plain_y[:, 0], torch.from_numpy(masks).float())
    assert not torch.equal(x1, plain_x)  # augmented at all
