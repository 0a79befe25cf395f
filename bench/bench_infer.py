"""Inference throughput: saltlab's batched predict() vs bare forward passes of the same model.

predict() takes uint8 images and returns probabilities at 101x101 (padding, cropping, sigmoid,
copy back included); the bare loop runs model(x) on a pre-padded channels_last batch.
Target: predict / bare >= 0.95. Run: .venv/bin/python bench/bench_infer.py [--encoder resnet34]
"""

import argparse
import statistics
import time

import numpy as np
import torch
from _common import bare_forward, spread

from saltlab.inference.network import predict, resolve_device
from saltlab.models import build_model
from saltlab.runs.config import ModelConfig


def main() -> bool:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    amp = device.type == "cuda"
    model = build_model(ModelConfig(encoder=args.encoder)).to(device).to(memory_format=torch.channels_last).eval()
    images = np.random.default_rng(0).integers(0, 256, (args.n, 101, 101), dtype=np.uint8)

    def bare() -> None:
        bare_forward(model, args.n, args.batch, device)

    def ours() -> None:
        predict(model, images, 128, device, batch_size=args.batch, amp=amp)

    bare()  # warm-up
    timings = {"bare": [], "ours": []}
    for _ in range(3):  # interleaved, so drift hits both
        for name, fn in (("bare", bare), ("ours", ours)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    bare_rate = args.n / statistics.median(timings["bare"])
    our_rate = args.n / statistics.median(timings["ours"])
    ratio = our_rate / bare_rate
    ok = ratio >= 0.95
    print(
        f"inference on {device} ({args.encoder}, batch {args.batch}, {args.n} images): predict {our_rate:.1f} img/s "
        f"({spread(timings['ours'], 1, ' s')}), bare forward {bare_rate:.1f} img/s "
        f"({spread(timings['bare'], 1, ' s')}); "
        f"median of 3 each, ratio {ratio:.2f} (target >= 0.95) {'PASS' if ok else 'MISS'}"
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
