"""Losses on logits (N, 1, 101, 101) against bool/float masks: BCE, Lovász hinge, Dice, focal, judge.

The Lovász hinge follows Berman et al. 2018 ("The Lovász-Softmax loss"), per image and averaged;
the symmetric form averages the loss of the mask and of its complement. The judge loss of
DESIGN.md is (0.1/2.1)·BCE(judge) + (2/2.1)·Lovász on the non-empty images only.

Every loss takes an optional `valid` mask (bool, like the target): pixels outside it (the
unconfident pixels of a pseudo-labelled image, see saltlab.inference.pseudo) neither count nor get a gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from saltlab.models.spec import LOSSES

Tensor = torch.Tensor


def _masked_mean(values: Tensor, valid: Tensor | None) -> Tensor:
    if valid is None:
        return values.mean()
    return (values * valid).sum() / valid.sum().clamp(min=1)


def bce(logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    if valid is None:
        return F.binary_cross_entropy_with_logits(logits, target)
    return _masked_mean(F.binary_cross_entropy_with_logits(logits, target, reduction="none"), valid)


def _lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge_flat(logits: Tensor, labels: Tensor) -> Tensor:
    """Lovász hinge of one image: logits and {0, 1} labels flattened to (P,)."""
    if not len(labels):
        return logits.sum() * 0.0
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, descending=True)
    grad = _lovasz_grad(labels[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def lovasz_hinge_batch(logits: Tensor, labels: Tensor) -> Tensor:
    """Lovász hinge of every image at once: logits and {0, 1} labels (N, P) -> (N,).

    The same numbers as lovasz_hinge_flat row by row, in one sort and a few cumulative sums
    instead of a Python loop of N small sorts (bench/bench_losses.py: against smp's per-image LovaszLoss).
    """
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    errors_sorted, perm = torch.sort(errors, dim=1, descending=True)
    gt_sorted = torch.gather(labels, 1, perm)
    gts = gt_sorted.sum(1, keepdim=True)
    jaccard = 1.0 - (gts - gt_sorted.cumsum(1)) / (gts + (1 - gt_sorted).cumsum(1))
    grad = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], 1)
    return (F.relu(errors_sorted) * grad).sum(1)


def lovasz_hinge(logits: Tensor, target: Tensor, symmetric: bool = False, valid: Tensor | None = None) -> Tensor:
    """Per-image Lovász hinge, averaged over the batch (computed in float32)."""
    n = logits.shape[0]
    flat_logits = logits.reshape(n, -1).float()
    flat_target = target.reshape(n, -1).float()
    if valid is None:
        losses = lovasz_hinge_batch(flat_logits, flat_target) if n else flat_logits.sum(1)
    else:
        flat_valid = valid.reshape(n, -1)
        losses = [lovasz_hinge_flat(x[v], t[v]) for x, t, v in zip(flat_logits, flat_target, flat_valid)]
    loss = (losses if valid is None else torch.stack(losses)).mean()
    if symmetric:
        loss = (loss + lovasz_hinge(-logits, 1.0 - target, valid=valid)) / 2
    return loss


def dice(logits: Tensor, target: Tensor, eps: float = 1.0, valid: Tensor | None = None) -> Tensor:
    """Soft Dice loss per image, averaged; eps keeps empty masks defined (and near 0 when predicted empty)."""
    n = logits.shape[0]
    prob = torch.sigmoid(logits.float()).reshape(n, -1)
    t = target.float().reshape(n, -1)
    if valid is not None:
        prob = prob * valid.reshape(n, -1)
    inter = (prob * t).sum(1)
    return (1 - (2 * inter + eps) / (prob.sum(1) + t.sum(1) + eps)).mean()


def focal(logits: Tensor, target: Tensor, gamma: float = 2.0, valid: Tensor | None = None) -> Tensor:
    """Binary focal loss (Lin et al. 2017), mean over pixels."""
    target = target.float()
    logits = logits.float()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-ce)
    return _masked_mean((1 - p_t) ** gamma * ce, valid)


def _non_empty(target: Tensor) -> Tensor:
    return target.reshape(target.shape[0], -1).amax(1) > 0


def judge_loss(logits: Tensor, judge_logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """(0.1/2.1)·BCE(judge, non-empty) + (2/2.1)·Lovász hinge on the non-empty images only."""
    non_empty = _non_empty(target)
    judge_term = F.binary_cross_entropy_with_logits(judge_logits.float(), non_empty.float())
    if non_empty.any():
        mask_term = lovasz_hinge(
            logits[non_empty], target[non_empty], valid=None if valid is None else valid[non_empty]
        )
    else:
        mask_term = logits.sum() * 0.0  # keeps the graph connected on an all-empty batch
    return (0.1 / 2.1) * judge_term + (2.0 / 2.1) * mask_term


MASK_LOSSES: dict[str, Callable[..., Tensor]] = {
    "bce": bce,
    "lovasz": lovasz_hinge,
    "lovasz_symmetric": lambda x, t, valid=None: lovasz_hinge(x, t, symmetric=True, valid=valid),
    "dice": dice,
    "focal": focal,
    "bce_dice": lambda x, t, valid=None: bce(x, t, valid=valid) + dice(x, t, valid=valid),
    "bce_lovasz": lambda x, t, valid=None: bce(x, t, valid=valid) + lovasz_hinge(x, t, valid=valid),
}
# Every name of the vocabulary (models.spec.LOSSES) has its loss here: the mask losses, and "judge".
if set(MASK_LOSSES) | {"judge"} != set(LOSSES):
    raise RuntimeError("models.spec.LOSSES and models.losses.MASK_LOSSES name different losses")


def compute_loss(
    name: str, outputs: dict, target: Tensor, aux_weight: float = 0.1, valid: Tensor | None = None
) -> Tensor:
    """The stage's loss on the model outputs (already at 101x101), plus deep-supervision terms.

    valid: pixels that count (None: all); the target's value elsewhere is ignored.
    Auxiliary heads are trained with BCE on the non-empty images (deep supervision of the mask
    shape; the empty/non-empty decision belongs to the main head or the judge).
    """
    if valid is not None:
        target = torch.where(valid, target, torch.zeros_like(target))
    logits = outputs["mask"]
    if name == "judge":
        loss = judge_loss(logits, outputs["judge"], target, valid)
    else:
        loss = MASK_LOSSES[name](logits, target, valid=valid)
    aux = outputs.get("aux")
    if aux:
        non_empty = _non_empty(target)
        if non_empty.any():
            sub_valid = None if valid is None else valid[non_empty]
            loss = loss + aux_weight * sum(bce(a[non_empty], target[non_empty], sub_valid) for a in aux)
        else:
            loss = loss + 0.0 * sum(a.sum() for a in aux)
    return loss
