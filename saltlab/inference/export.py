"""A model leaves SaltLab: any run (or imported smp model) as an ONNX file, an imported smp model as its
smp `save_pretrained` folder again.

ONNX rather than TorchScript: an ONNX file runs without PyTorch (ONNX Runtime, TensorRT, OpenVINO, a
browser), which is what deploying a model means, while TorchScript is in maintenance in PyTorch. The
graph takes what the rest of the world has, 101x101 tiles, and gives probabilities: input `image`,
float32 (N, 1, 101, 101) = uint8 pixels / 255; output `salt`, float32 (N, 1, 101, 101) in [0, 1]; a
model with a judge adds `salt_in_image` (N,), the judge's probability that the tile holds salt (SaltLab
empties a mask where it is below 0.5). Padding, cropping and the sigmoid are inside the graph; the
batch size is free. Exported with torch's dynamo exporter (the supported one), checked with ONNX Runtime
when it is installed.

smp: SaltLab's own architectures are its U-Net (`SaltUNet`: smp and timm encoders, its own decoder, scSE,
hypercolumn, judge), not an smp class that `save_pretrained` can describe; only an imported smp model is
written back in that form.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from saltlab.core.definitions import IMAGE_SIZE
from saltlab.core.errors import SaltLabError
from saltlab.inference.evaluate import resolve_checkpoint
from saltlab.inference.network import load_imported_model, load_model
from saltlab.models.geometry import from_output, to_input
from saltlab.runs.checkpoint import load_checkpoint
from saltlab.runs.imported import MODEL_DIR, entry_folder, is_import, read_record

FORMATS = ("onnx", "smp")
INPUT, OUTPUT, JUDGE_OUTPUT = "image", "salt", "salt_in_image"


class ExportError(SaltLabError, ValueError):
    """A model that cannot be exported in the format asked for (one line: which, and why)."""


class Probabilities(nn.Module):
    """A model as the exported graph sees it: (N, 1, 101, 101) in [0, 1] -> probabilities at 101x101."""

    def __init__(self, model: nn.Module, input_size: int):
        super().__init__()
        self.model, self.input_size = model, input_size

    def forward(self, image: torch.Tensor):
        out = self.model(to_input(image, self.input_size))
        salt = torch.sigmoid(from_output(out["mask"], self.input_size))
        return (salt, torch.sigmoid(out["judge"])) if "judge" in out else salt


def deployable(run: str | os.PathLike, checkpoint: str = "best") -> tuple[Probabilities, str]:
    """(the graph to export, in eval mode on the CPU, a one-line description) of a run's checkpoint or an
    imported smp model."""
    cpu = torch.device("cpu")
    if is_import(run):
        return Probabilities(load_imported_model(run, cpu), IMAGE_SIZE).eval(), f"imported smp model {run}"
    _, path = resolve_checkpoint(run, checkpoint)
    model, config = load_model(load_checkpoint(path), cpu, str(path))
    model.to(memory_format=torch.contiguous_format)
    return Probabilities(model, config.model.input_size).eval(), f"{path} ({config.model.arch}/{config.model.encoder})"


def export_onnx(run: str | os.PathLike, out: str | os.PathLike, checkpoint: str = "best") -> Path:
    """Write the run's model as an ONNX file at `out` (atomically: a temporary file renamed into place)."""
    graph, what = deployable(run, checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 1, IMAGE_SIZE, IMAGE_SIZE)
    judge = isinstance(graph(example), tuple)
    temporary = out.with_name(f".{out.name}.partial")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on its own passes
            torch.onnx.export(
                graph,
                (example,),
                str(temporary),
                input_names=[INPUT],
                output_names=[OUTPUT, JUDGE_OUTPUT] if judge else [OUTPUT],
                dynamic_shapes={"image": {0: torch.export.Dim("batch", min=1, max=65536)}},
                dynamo=True,
                external_data=False,
            )
        _describe(temporary, what)
        os.replace(temporary, out)
    except Exception as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, SaltLabError):
            raise
        raise ExportError(
            f"{what}: the ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    return out


def _describe(path: Path, what: str) -> None:
    """What the graph expects and gives, in the file's metadata (for whoever loads it later)."""
    import onnx

    model = onnx.load(str(path))
    notes = {
        "saltlab.source": what,
        "saltlab.input": "image: float32 (N, 1, 101, 101), uint8 pixels / 255",
        "saltlab.output": "salt: float32 (N, 1, 101, 101) probabilities; mask = salt > 0.5 (SaltLab's default)",
    }
    for key, value in notes.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def export_smp(run: str | os.PathLike, out: str | os.PathLike) -> Path:
    """An imported smp model's folder written again (config.json, model.safetensors, its input convention)."""
    if not is_import(run) or read_record(run).kind != "smp-model":
        raise ExportError(
            f"{run}: SaltLab's architectures are its own U-Net (SaltUNet), not an smp class that save_pretrained "
            "can describe; export it as onnx instead (only an imported smp model goes back to smp's form)"
        )
    out = Path(out)
    if out.exists():
        raise ExportError(f"{out} exists already: choose a new folder")
    shutil.copytree(entry_folder(run) / MODEL_DIR, out)
    convention = read_record(run).convention or {}
    (out / "saltlab_input.json").write_text(json.dumps(convention, indent=2) + "\n")
    return out
