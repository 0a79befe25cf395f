"""Losses on logits (N, 1, 101, 101) against bool/float masks: BCE, Lovász hinge, Dice, focal, judge.

The Lovász hinge follows Berman et al. 2018 ("The Lovász-Softmax loss"), per image and averaged;
the symmetric form averages the loss of the mask and of its complement. The judge loss of
DESIGN.md is (0.1/2.1)·BCE(judge) + (2/2.1)·Lovász on the non-empty images only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def _lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovász hinge of one image: logits and {0, 1} labels flattened to (P,)."""
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, descending=True)
    grad = _lovasz_grad(labels[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
    """Per-image Lovász hinge, averaged over the batch (computed in float32)."""
    n = logits.shape[0]
    flat_logits = logits.reshape(n, -1).float()
    flat_target = target.reshape(n, -1).float()
    losses = [lovasz_hinge_flat(l, t) for l, t in zip(flat_logits, flat_target)]
    loss = torch.stack(losses).mean()
    if symmetric:
        loss = (loss + lovasz_hinge(-logits, 1.0 - target)) / 2
    return loss


def dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per image, averaged; eps keeps empty masks defined (and near 0 when predicted empty)."""
    n = logits.shape[0]
    prob = torch.sigmoid(logits.float()).reshape(n, -1)
    t = target.float().reshape(n, -1)
    inter = (prob * t).sum(1)
    return (1 - (2 * inter + eps) / (prob.sum(1) + t.sum(1) + eps)).mean()


def focal(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss (Lin et al. 2017), mean over pixels."""
    target = target.float()
    logits = logits.float()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-ce)
    return ((1 - p_t) ** gamma * ce).mean()


def judge_loss(logits: torch.Tensor, judge_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(0.1/2.1)·BCE(judge, non-empty) + (2/2.1)·Lovász hinge on the non-empty images only."""
    n = target.shape[0]
    non_empty = target.reshape(n, -1).amax(1) > 0
    judge_term = F.binary_cross_entropy_with_logits(judge_logits.float(), non_empty.float())
    if non_empty.any():
        mask_term = lovasz_hinge(logits[non_empty], target[non_empty])
    else:
        mask_term = logits.sum() * 0.0  # keeps the graph connected on an all-empty batch
    return (0.1 / 2.1) * judge_term + (2.0 / 2.1) * mask_term


MASK_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": bce,
    "lovasz": lovasz_hinge,
    "lovasz_symmetric": lambda l, t: lovasz_hinge(l, t, symmetric=True),
    "dice": dice,
    "focal": focal,
    "bce_dice": lambda l, t: bce(l, t) + dice(l, t),
}


def compute_loss(name: str, outputs: dict, target: torch.Tensor, aux_weight: float = 0.1) -> torch.Tensor:
    """The stage's loss on the model outputs (already at 101x101), plus deep-supervision terms.

    Auxiliary heads are trained with BCE on the non-empty images (deep supervision of the mask
    shape; the empty/non-empty decision belongs to the main head or the judge).
    """
    logits = outputs["mask"]
    if name == "judge":
        loss = judge_loss(logits, outputs["judge"], target)
    else:
        loss = MASK_LOSSES[name](logits, target)
    aux = outputs.get("aux")
    if aux:
        n = target.shape[0]
        non_empty = target.reshape(n, -1).amax(1) > 0
        if non_empty.any():
            loss = loss + aux_weight * sum(bce(a[non_empty], target[non_empty]) for a in aux)
        else:
            loss = loss + 0.0 * sum(a.sum() for a in aux)
    return loss
