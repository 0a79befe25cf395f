"""Losses: Lovász hinge against a brute-force Lovász extension, the judge loss formula, the others."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from saltlab.models.losses import compute_loss, dice, focal, judge_loss, lovasz_hinge, lovasz_hinge_flat
from saltlab.models.spec import LOSSES


def jaccard_loss_of_set(mispredicted: set[int], gt: set[int]) -> float:
    """Δ_J(M) = 1 - |gt \\ M| / |gt ∪ M|, the Jaccard loss when the pixels in M are wrong."""
    union = gt | mispredicted
    return 1.0 - len(gt - mispredicted) / len(union) if union else 0.0


def brute_force_lovasz(logits: np.ndarray, labels: np.ndarray) -> float:
    """The Lovász extension of Δ_J at the hinge errors, from its definition (Berman et al., eq. 8)."""
    errors = np.maximum(1 - logits * (2 * labels - 1), 0)
    order = np.argsort(-errors, kind="stable")
    gt = {i for i in range(len(labels)) if labels[i]}
    total, chosen, previous = 0.0, set(), 0.0
    for i in order:
        chosen.add(int(i))
        value = jaccard_loss_of_set(chosen, gt)
        total += errors[i] * (value - previous)
        previous = value
    return total


@pytest.mark.parametrize("seed", range(5))
def test_lovasz_matches_definition(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, 9)
    labels = (rng.random(9) < 0.4).astype(float)
    ours = lovasz_hinge_flat(torch.tensor(logits), torch.tensor(labels)).item()
    assert ours == pytest.approx(brute_force_lovasz(logits, labels), rel=1e-6, abs=1e-9)


def test_lovasz_per_image_mean_and_symmetric():
    rng = np.random.default_rng(7)
    logits = torch.tensor(rng.normal(0, 1, (3, 1, 3, 3)))
    target = torch.tensor((rng.random((3, 1, 3, 3)) < 0.5).astype(float))
    per_image = [brute_force_lovasz(logits[i].flatten().numpy(), target[i].flatten().numpy()) for i in range(3)]
    assert lovasz_hinge(logits, target).item() == pytest.approx(np.mean(per_image))
    flipped = [brute_force_lovasz(-logits[i].flatten().numpy(), 1 - target[i].flatten().numpy()) for i in range(3)]
    assert lovasz_hinge(logits, target, symmetric=True).item() == pytest.approx(
        (np.mean(per_image) + np.mean(flipped)) / 2
    )


def test_perfect_prediction_has_zero_lovasz():
    target = torch.zeros(2, 1, 5, 5)
    target[0, 0, :2] = 1
    logits = (target * 2 - 1) * 5
    assert lovasz_hinge(logits, target).item() == 0.0


def test_judge_loss_formula():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 6, 6)
    target = (torch.rand(4, 1, 6, 6) > 0.5).float()
    target[1] = 0
    judge = torch.randn(4)
    expected = (0.1 / 2.1) * F.binary_cross_entropy_with_logits(judge, torch.tensor([1.0, 0, 1, 1])) + (
        2 / 2.1
    ) * lovasz_hinge(logits[[0, 2, 3]], target[[0, 2, 3]])
    assert judge_loss(logits, judge, target).item() == pytest.approx(expected.item())
    all_empty = judge_loss(logits, judge, torch.zeros_like(target))
    assert all_empty.item() == pytest.approx(
        (0.1 / 2.1) * F.binary_cross_entropy_with_logits(judge, torch.zeros(4)).item()
    )


def test_dice_and_focal_simple_cases():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    sure = (target * 2 - 1) * 20
    assert dice(sure, target).item() == pytest.approx(0.0, abs=1e-6)
    assert focal(sure, target).item() == pytest.approx(0.0, abs=1e-6)
    assert dice(-sure, target).item() > 0.8
    ce = F.binary_cross_entropy_with_logits(torch.zeros(1), torch.ones(1)).item()
    assert focal(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)).item() == pytest.approx(0.25 * ce)


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_has_gradients(name):
    """Every loss a config may name (the vocabulary in models.spec), the judge's included."""
    logits = torch.randn(3, 1, 8, 8, requires_grad=True)
    target = (torch.rand(3, 1, 8, 8) > 0.5).float()
    target[0] = 0
    aux = [torch.randn(3, 1, 8, 8, requires_grad=True)]
    judge = torch.randn(3, requires_grad=True)
    loss = compute_loss(name, {"mask": logits, "aux": aux, "judge": judge}, target, aux_weight=0.1)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and aux[0].grad is not None


def test_batched_lovasz_equals_per_image():
    from saltlab.models.losses import lovasz_hinge_batch

    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(6, 400, generator=gen)
    labels = (torch.rand(6, 400, generator=gen) > 0.6).float()
    labels[1] = 0  # an empty mask
    labels[2] = 1  # a full one
    one_by_one = torch.stack([lovasz_hinge_flat(x, y) for x, y in zip(logits, labels)])
    assert torch.allclose(lovasz_hinge_batch(logits, labels), one_by_one, atol=1e-5)
