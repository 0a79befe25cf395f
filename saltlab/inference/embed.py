"""Image embeddings for "more like this": the run's deepest encoder features, average-pooled.

One vector per image (512 numbers for a ResNet34), computed with the evaluated checkpoint on the
images it was evaluated on and cached beside that evaluation (RUN/eval/<key>/embeddings.npy), so
the Explorer's neighbours and map cost one encoder pass per run, once.
"""

from __future__ import annotations

import numpy as np
import torch

from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import atomic_write
from saltlab.core.progress import Progress
from saltlab.inference.evaluate import Evaluation
from saltlab.inference.network import load_for_inference, resolve_device
from saltlab.models.geometry import images_to_tensor, to_input
from saltlab.runs.imported import entry_folder, is_import, read_record


@torch.inference_mode()
def encoder_embeddings(
    model: torch.nn.Module,
    images: np.ndarray,
    input_size: int,
    device: torch.device,
    batch_size: int = 64,
    channels_last: bool = True,
    progress: Progress | None = None,
) -> np.ndarray:
    """float32 (N, C): the mean over space of the encoder's deepest feature map, per image."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = to_input(images_to_tensor(images[start : start + batch_size]).to(device), input_size)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        deepest = model.embed(x) if hasattr(model, "embed") else model.encoder(x)[-1]
        out.append(deepest.float().mean(dim=(2, 3)).cpu())
        if progress:
            progress("embed", min(start + batch_size, len(images)), len(images))
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


class EmbeddingUnavailable(SaltLabError, ValueError):
    """Images that cannot be embedded by an entry: imported predictions come without a model."""


def _embedder(evaluation: Evaluation, device: torch.device) -> tuple[torch.nn.Module, int, bool]:
    """(model, input size, channels_last) of the evaluated checkpoint or imported smp model."""
    if is_import(evaluation.checkpoint) and read_record(evaluation.checkpoint).kind != "smp-model":
        raise EmbeddingUnavailable(
            f"{entry_folder(evaluation.checkpoint).name} holds imported predictions, not a model: no encoder "
            "features to find similar images with (pick a run or an imported model)"
        )
    return load_for_inference(evaluation.checkpoint, device)


def evaluation_embeddings(
    evaluation: Evaluation,
    ids: list[str],
    images: np.ndarray,
    device: str = "auto",
    progress: Progress | None = None,
) -> np.ndarray:
    """Embeddings of these images (ids aligned with images) by the evaluated checkpoint, cached beside
    its evaluation (recomputed when the ids differ)."""
    path = evaluation.folder / "embeddings.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            if z["ids"].tolist() == list(ids):
                return z["vectors"]
    except (OSError, ValueError, KeyError):
        pass  # absent, torn or for other images: computed below
    dev = resolve_device(device)
    model, input_size, channels_last = _embedder(evaluation, dev)
    vectors = encoder_embeddings(model, images, input_size, dev, channels_last=channels_last, progress=progress)
    try:
        atomic_write(path, lambda f: np.savez(f, ids=np.array(ids), vectors=vectors))
    except OSError:
        pass  # still returned; computed again next time
    return vectors
