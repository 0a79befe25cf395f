"""The predict command's throughput on the real test images vs bare forward passes, same run.

Ours: predict_test_set + write_outputs (cached data set, checkpoint load, batched inference,
post-processing, RLE, the CSV) for every test image. Baseline: model(x) on pre-padded batches
of the same count. Interleaved repeats, medians and spread. Target: ours / bare >= 0.95.
Run: .venv/bin/python bench/bench_predict.py
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from _common import bare_forward, paired, real_data, spread

from saltlab.core.dataset import load_dataset
from saltlab.inference.network import resolve_device
from saltlab.inference.predict import predict_test_set, write_outputs
from saltlab.models import build_model
from saltlab.runs.checkpoint import save_checkpoint
from saltlab.runs.config import ModelConfig, TrainConfig


def main() -> bool:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = real_data()
    n = load_dataset(data).n_test
    device = resolve_device(args.device)
    config = TrainConfig(model=ModelConfig(encoder=args.encoder), device=str(device))
    model = build_model(config.model)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        save_checkpoint(run / "best.pt", {"config": config.to_dict(), "model": model.state_dict()})
        bare_model = model.to(device).to(memory_format=torch.channels_last).eval()

        def command() -> None:
            prediction = predict_test_set([run], data=str(data), batch_size=args.batch, device=str(device))
            write_outputs(prediction, Path(tmp) / "submission.csv")

        ours, bare = paired(command, lambda: bare_forward(bare_model, n, args.batch, device), repeat=args.repeat)
    ratio = statistics.median(bare) / statistics.median(ours)
    ok = ratio >= 0.95
    print(
        f"predict on {n} real test images ({device}, {args.encoder}, batch {args.batch}): command "
        f"{n / statistics.median(ours):.1f} img/s ({spread(ours, 1, ' s')}), "
        f"bare forward {n / statistics.median(bare):.1f} "
        f"img/s ({spread(bare, 1, ' s')}); median of {args.repeat} each, ratio {ratio:.2f} (target >= 0.95) "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
