"""The training data pipeline: the case study's augmentations, seeded per sample, and the batch order.

Every random choice is a pure function of (seed, epoch, position in the epoch): the epoch's
order comes from a generator seeded with (seed, epoch) and each sample's augmentation from its
own seed. So a resumed run sees exactly the batches an uninterrupted one would, with any
number of DataLoader workers.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from saltlab.core.definitions import IMAGE_SIZE, coverage, coverage_class
from saltlab.training.device_pipeline import DeviceTrainData

if TYPE_CHECKING:
    import albumentations as A


def case_study_augmentation() -> A.Compose:
    """HFlip p=.5; RandomCrop 90 -> Resize 101 p=.2; one of brightness/contrast/gamma p=.2.

    Padding to the input size and Normalize(mean 0, std 1) happen after, in the model geometry
    (so that training and inference pad identically).
    """
    # Imported here: only the albumentations pipeline needs it (half a second off every trainer's start).
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Compose([A.RandomCrop(90, 90), A.Resize(IMAGE_SIZE, IMAGE_SIZE)], p=0.2),
            A.OneOf(
                [
                    A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.0, p=1.0),
                    A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.1, p=1.0),
                    A.RandomGamma(p=1.0),
                ],
                p=0.2,
            ),
        ],
        seed=0,
    )


def seed_transform(transform: A.BaseCompose, seed: int) -> None:
    """Seed every step of `transform` with one shared stream for this sample.

    Not `set_random_seed(seed)`: that gives every nested transform its own generator with the same
    seed, so their draws coincide (measured with albumentations 2.0.8: the crop ran only on
    flipped samples, always from the top 3 rows; the colour change only on cropped ones, contrast
    only in 0.90-0.94 and gamma only in 0.80-0.88).
    """
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def sample_seed(seed: int, epoch: int, position: int) -> int:
    return (seed * 1_000_003 + epoch * 65_537 + position) % (2**31)


class SaltTrainSet(Dataset):
    """Items are (index, augmentation seed) pairs; returns float image and mask tensors (1, 101, 101)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, augment: bool):
        self.images = images
        self.masks = masks.astype(np.uint8)
        self.transform = case_study_augmentation() if augment else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item
        image, mask = self.images[index], self.masks[index]
        if self.transform is not None:
            seed_transform(self.transform, seed)
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        image_t = torch.from_numpy(np.ascontiguousarray(image)).unsqueeze(0).float().div_(255.0)
        mask_t = torch.from_numpy(np.ascontiguousarray(mask)).unsqueeze(0).float()
        return image_t, mask_t


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[tuple[int, int]]]:
    """The batches of one epoch for one rank: (index, augmentation seed) items.

    The last incomplete batch is dropped when there is at least one full batch (BatchNorm
    needs more than one sample). With several ranks, each takes every world-th sample.
    """
    generator = torch.Generator().manual_seed(seed * 10_007 + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    per_rank = len(order) // world
    order = order[: per_rank * world][rank::world]
    items = [(idx, sample_seed(seed, epoch, pos * world + rank)) for pos, idx in enumerate(order)]
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def stratified_subset(ids: list[str], masks: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Positions of at most `limit` items, spread evenly over coverage classes (all when None)."""
    if limit is None or limit >= len(ids):
        return np.arange(len(ids))
    classes = coverage_class(coverage(masks))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    order = order[np.argsort(classes[order], kind="stable")]
    picks = np.linspace(0, len(order) - 1, limit).round().astype(int)
    return np.sort(order[picks])


def resolve_pipeline(name: str) -> str:
    """'auto' is the device pipeline on every device: it is the faster on the 2-core CPU too
    (2.0 ms against 3.3 ms for a batch of 32 with albumentations, bench/bench_train.py)."""
    return "device" if name == "auto" else name


def make_train_data(
    images: np.ndarray, masks: np.ndarray, augment: bool, pipeline: str, device: torch.device
) -> SaltTrainSet | DeviceTrainData:
    """The training set for `pipeline`: a DeviceTrainData on `device`, or the albumentations SaltTrainSet."""
    if pipeline == "device":
        return DeviceTrainData(images, masks, augment, device)
    return SaltTrainSet(images, masks, augment)


def iterate_batches(
    data: SaltTrainSet | DeviceTrainData, batches: list[list[tuple[int, int]]], workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, masks) float tensors on `device`, one pair per batch of (index, seed) items, in order."""
    if isinstance(data, DeviceTrainData):
        for items in batches:
            yield data.batch(items)
        return
    loader = DataLoader(data, batch_sampler=batches, num_workers=workers, pin_memory=device.type == "cuda")
    for images, masks in loader:
        yield images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
