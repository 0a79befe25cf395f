"""`export`: a run (or an imported smp model) as an ONNX file for deployment, or an imported smp model as
its smp save_pretrained folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from saltlab.cli.common import EXIT_OK

HELP = "export a run as ONNX (or an imported smp model as its smp folder)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run folder (or a checkpoint file), or an imported smp model entry")
    p.add_argument("--format", choices=("onnx", "smp"), default="onnx", help="onnx (default) or smp")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file, or the folder for smp")
    p.add_argument("--checkpoint", default="best", help="best (default), swa, last, or a file name in the run")


def run(args: argparse.Namespace) -> int:
    from saltlab.inference.export import INPUT, OUTPUT, export_onnx, export_smp

    if args.format == "smp":
        print(f"wrote {export_smp(args.run, args.out)} (load it with segmentation_models_pytorch.from_pretrained)")
        return EXIT_OK
    out = export_onnx(args.run, args.out, args.checkpoint)
    print(f"wrote {out}: input {INPUT!r} float32 (N, 1, 101, 101) = pixels / 255; output {OUTPUT!r} probabilities")
    return EXIT_OK
