"""The predict command's throughput on the real test images vs bare forward passes, same run.

Ours: predict_test_set + write_outputs (cached data set, checkpoint load, batched inference,
post-processing, RLE, the CSV) for every test image. Baseline: model(x) on pre-padded batches
of the same count. Target: ours / bare >= 0.9. Run: .venv/bin/python bench/bench_predict.py
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import bare_forward, real_data

from saltlab.config import ModelConfig, TrainConfig
from saltlab.dataset import load_dataset
from saltlab.models import build_model
from saltlab.predict import predict_test_set, write_outputs
from saltlab.training.checkpoint import save_checkpoint
from saltlab.training.inference import resolve_device


def main() -> bool:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto")
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
        start = time.perf_counter()
        prediction = predict_test_set([run], data=str(data), batch_size=args.batch, device=str(device))
        write_outputs(prediction, Path(tmp) / "submission.csv")
        ours = time.perf_counter() - start
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    start = time.perf_counter()
    bare_forward(model, n, args.batch, device)
    bare = time.perf_counter() - start
    ratio = bare / ours
    ok = ratio >= 0.9
    print(f"predict on {n} real test images ({device}, {args.encoder}, batch {args.batch}): command {n / ours:.1f} img/s "
          f"({ours:.1f} s), bare forward {n / bare:.1f} img/s ({bare:.1f} s), ratio {ratio:.2f} (target >= 0.9) {'PASS' if ok else 'MISS'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
