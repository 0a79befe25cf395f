"""Stochastic weight averaging (Izmailov et al. 2018): a running average of epoch-end weights, and
BatchNorm statistics recomputed for the averaged weights.

The average is a plain dict of CPU tensors, so it travels in last.pt and a resumed run loses none of it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from saltlab.inference.network import forward_101
from saltlab.models.geometry import images_to_tensor
from saltlab.training.distributed import unwrap


def swa_update(average: dict | None, model: nn.Module) -> dict:
    """Fold the model's current weights into a running average {"count": n, "state": {name: tensor}} (on the CPU)."""
    state = {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}
    if average is None:
        return {"count": 1, "state": {k: v.float() if v.is_floating_point() else v for k, v in state.items()}}
    n = average["count"]
    for key, value in state.items():
        if value.is_floating_point():
            average["state"][key] += (value.float() - average["state"][key]) / (n + 1)
        else:
            average["state"][key] = value  # counters such as BatchNorm's num_batches_tracked
    average["count"] = n + 1
    return average


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    input_size: int,
    device: torch.device,
    batch_size: int,
    amp: bool = False,
    channels_last: bool = True,
) -> None:
    """Set every BatchNorm's running statistics to their average over the images (the SWA 'bn_update')."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    for start in range(0, len(images), batch_size):
        x = images_to_tensor(images[start : start + batch_size]).to(device, non_blocking=True)
        forward_101(model, x, input_size, amp, channels_last)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
