"""What DDP needs from the loop: the process's rank, agreement between ranks, and the model inside the wrapper.

One process per device; under `torchrun` (WORLD_SIZE > 1) every rank runs the same loop on its
share of each epoch's batches, rank 0 validating and writing files.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

log = logging.getLogger("saltlab.train")


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed(device: torch.device, local_rank: int) -> None:
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself, out of a DistributedDataParallel wrapper when it is in one."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (for timing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank when it is true on one (a stop request, an exhausted budget)."""
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t)
    return bool(t.item() > 0)


def check_ranks_agree(model: nn.Module, world: int, device: torch.device, epoch: int) -> None:
    """DDP keeps every rank's weights identical; a checksum per rank, gathered once an epoch, proves it
    (a rank that drifted would train on other weights while rank 0 saves its own)."""
    with torch.no_grad():
        total = torch.stack([p.detach().double().sum() for p in unwrap(model).parameters()]).sum().reshape(1).to(device)
    sums = [torch.zeros_like(total) for _ in range(world)]
    torch.distributed.all_gather(sums, total)
    values = [float(t.item()) for t in sums]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise RuntimeError(f"the {world} ranks' weights differ after epoch {epoch} (checksums {values})")
    log.info("epoch %d: weights identical on all %d ranks (checksum %.6f)", epoch, world, values[0])
