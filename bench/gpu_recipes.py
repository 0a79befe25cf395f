"""One GPU session, prepared in advance: recipe runs side by side on one GPU, under a deadline.

Used with the lent GPU machine (15 minutes of device time in all), so everything that belongs
together runs in one call: a queue of `saltlab train` runs, CONCURRENCY at a time, highest
priority first; runs still going at the deadline are cancelled (SIGTERM: they save last.pt and
their per-epoch scores stay in metrics.jsonl); then every run's best.pt (and swa.pt) is
evaluated on its validation fold with hflip TTA. Writes OUT/results.json (one record per run:
recipe, fold, epochs done and planned, wall time, per-epoch validation scores, the all-empty
score of the same images, TTA scores) and OUT/logs.tar.gz (train.log, status.json, metrics).

The CPU recipe is emulated on the GPU by its epoch count: `cpu_hour` with the epochs its 60-minute
budget plans on 2 CPU cores, so the fold-to-fold spread and the variants can be measured in
minutes instead of hours (the CPU run of fold 0 checks that the emulation agrees).

Run (on the device machine, from the repository root):
    python3 bench/gpu_recipes.py --data .gpu/data/tgs --out "$OUT" --deadline 400
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ONE_STAGE = json.dumps(
    [
        {
            "name": "bce_lovasz",
            "epochs": 48,
            "loss": "bce_lovasz",
            "optimizer": "adam",
            "lr": 1e-3,
            "swa_start": 34,
            "schedule": {"kind": "onecycle", "max_lr": 1e-3, "min_lr": 1e-6, "warmup": 0.05},
        }
    ]
)


def sweep(variant: str, fold: int, *sets: str) -> tuple[str, list[str]]:
    return f"{variant}-f{fold}", ["--config", "cpu_hour", "--fold", str(fold), "--set", "minutes=none", *sets]


def jobs_2026_11_26() -> list[tuple[str, list[str]]]:
    """The first search (results/experiments.md, 2026-11-26): (name, train arguments), in priority order."""
    out = []
    for fold in (0, 1):
        out.append(sweep("cpu_hour", fold))  # the CPU recipe, its 60-minute CPU plan: epochs 24 + 24
        out.append(sweep("one_stage_bce_lovasz", fold, "--set", f"stages={ONE_STAGE}"))
    for fold in (0, 1):
        out.append(
            sweep(
                "resnet18",
                fold,
                "--set",
                "model.encoder=resnet18",
                "--set",
                "stages.0.epochs=32",
                "--set",
                "stages.1.epochs=32",
                "--set",
                "stages.1.swa_start=23",
            )
        )
    out.append(("preset-baseline_lovasz-f0", ["--config", "baseline_lovasz", "--fold", "0"]))
    out.append(("preset-binary_judge-f0", ["--config", "binary_judge", "--fold", "0"]))
    for fold in (0, 1):
        out.append(sweep("stage2_bce_lovasz", fold, "--set", "stages.1.loss=bce_lovasz"))
    for fold in (0, 1):
        out.append(
            sweep(
                "input128",
                fold,
                "--set",
                "model.input_size=128",
                "--set",
                "stages.0.epochs=18",
                "--set",
                "stages.1.epochs=19",
                "--set",
                "stages.1.swa_start=14",
            )
        )
    for preset in ("baseline", "baseline_aug", "scse_hypercol", "snapshot_cosine", "swa"):
        out.append((f"preset-{preset}-f0", ["--config", preset, "--fold", "0", "--set", "minutes=3"]))
    out.append(sweep("cpu_hour", 2))
    out.append(sweep("one_stage_bce_lovasz", 2, "--set", f"stages={ONE_STAGE}"))
    return out


GENTLE_LOVASZ = json.dumps({"kind": "onecycle", "max_lr": 3e-4, "min_lr": 1e-6, "warmup": 0.1})


def jobs_2026_11_27() -> list[tuple[str, list[str]]]:
    """The second search: the CPU-hour recipe (24 + 24 epochs) against three changes of the same
    cost, each on folds 0 and 1 (8 runs: what one GPU serves in about 5 minutes)."""
    variants = {
        "cpu_hour": [],
        "lovasz_symmetric": ["--set", "stages.1.loss=lovasz_symmetric"],
        "gentle_lovasz": ["--set", f"stages.1.schedule={GENTLE_LOVASZ}"],
        "deep_supervision": ["--set", "model.deep_supervision=true"],
    }
    return [sweep(name, fold, *sets) for name, sets in variants.items() for fold in (0, 1)]


PLANS = {"2026-11-26": jobs_2026_11_26, "2026-11-27": jobs_2026_11_27}


def read_run(folder: Path) -> dict:
    record: dict = {"run": folder.name}
    try:
        record["status"] = json.loads((folder / "status.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        record["config"] = {
            "model": config["model"],
            "stages": config["stages"],
            "batch_size": config["batch_size"],
            "minutes": config.get("minutes"),
            "fold": config["fold"],
        }
        lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
        record["epochs"] = [
            {
                k: r.get(k)
                for k in (
                    "epoch",
                    "stage",
                    "val_score",
                    "val_score_empty",
                    "val_score_oracle",
                    "epoch_s",
                    "lr",
                    "train_loss",
                )
            }
            for r in lines
            if r.get("kind") == "epoch"
        ]
        record["swa"] = [r for r in lines if r.get("kind") == "swa"]
        steps = [r["img_per_s"] for r in lines if r.get("kind") == "step"]
        record["img_per_s_median"] = sorted(steps)[len(steps) // 2] if steps else None
    except (OSError, ValueError, KeyError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    return record


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", default="/tmp/gpu_runs")
    parser.add_argument(
        "--deadline", type=float, default=400, help="seconds after which running trainings are cancelled"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", nargs="*", help="run only these job names")
    parser.add_argument("--plan", choices=sorted(PLANS), default="2026-11-27", help="which search to run")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="one tiny run instead of the queue (checks this script)")
    args = parser.parse_args()
    out, runs = Path(args.out), Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    queue = [("smoke-f0", ["--config", "smoke", "--fold", "0"])] if args.smoke else PLANS[args.plan]()
    queue = [j for j in queue if not args.only or j[0] in args.only]
    running: dict[str, subprocess.Popen] = {}
    finished: dict[str, float] = {}
    began: dict[str, float] = {}
    while queue or running:
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                finished[name] = time.monotonic() - began[name]
                print(
                    f"[{time.monotonic() - start:6.0f}s] {name} ended rc={proc.returncode} after {finished[name]:.0f}s",
                    flush=True,
                )
                del running[name]
        late = time.monotonic() - start > args.deadline
        if late:
            for name, proc in running.items():
                proc.send_signal(signal.SIGTERM)
            for name, proc in running.items():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                finished[name] = time.monotonic() - began[name]
                print(f"[{time.monotonic() - start:6.0f}s] {name} cancelled at the deadline", flush=True)
            running.clear()
            skipped = [name for name, _ in queue]
            if skipped:
                print("not started (deadline): " + ", ".join(skipped), flush=True)
            queue = []
            break
        while queue and len(running) < args.concurrency:
            name, train_args = queue.pop(0)
            cmd = [
                sys.executable,
                "-m",
                "saltlab",
                "train",
                "--data",
                args.data,
                "--device",
                args.device,
                "--set",
                "workers=1",
                "--out",
                str(runs / name),
                *train_args,
            ]
            log = open(runs / f"{name}.out", "w")
            running[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            began[name] = time.monotonic()
        time.sleep(1)

    # hflip-TTA evaluation of every best.pt and swa.pt, a few at a time.
    evals: list[tuple[str, str, subprocess.Popen]] = []
    pending = [
        (f.name, ck)
        for f in sorted(runs.iterdir())
        if f.is_dir()
        for ck in ("best", "swa")
        if (f / f"{ck}.pt").is_file()
    ]
    results_tta: dict = {}
    while pending or evals:
        while pending and len(evals) < args.concurrency:
            name, ck = pending.pop(0)
            cmd = [
                sys.executable,
                "-m",
                "saltlab",
                "evaluate",
                str(runs / name),
                "--checkpoint",
                ck,
                "--tta",
                "--device",
                args.device,
            ]
            evals.append(
                (name, ck, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
            )
        for item in list(evals):
            name, ck, proc = item
            if proc.poll() is not None:
                text = proc.stdout.read()
                scores = {}
                for line in text.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] in ("score", "score_oracle", "score_empty", "mean_iou"):
                        scores[parts[0]] = float(parts[1])
                results_tta.setdefault(name, {})[ck] = scores or text[-500:]
                evals.remove(item)
        time.sleep(0.5)

    records = []
    for folder in sorted(f for f in runs.iterdir() if f.is_dir()):
        record = read_run(folder)
        record["tta"] = results_tta.get(folder.name)
        record["process_s"] = finished.get(folder.name)
        records.append(record)
    (out / "results.json").write_text(json.dumps(records, indent=1))
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for folder in runs.iterdir():
            if folder.is_dir():
                for name in ("train.log", "status.json", "metrics.jsonl", "config.json"):
                    if (folder / name).is_file():
                        tar.add(folder / name, arcname=f"{folder.name}/{name}")
            elif folder.suffix == ".out":
                tar.add(folder, arcname=folder.name)
    print(
        f"\n{'run':<34} {'epochs':>7} {'wall s':>7} {'img/s':>6} {'best':>6} {'last':>6} {'empty':>6} "
        f"{'TTA best':>8} {'TTA swa':>8}"
    )
    for r in records:
        ep = r.get("epochs") or []
        st = r.get("status", {})
        tta = r.get("tta") or {}

        def fmt(v):
            return f"{v:.4f}" if isinstance(v, float) else "-"

        best = max((e["val_score"] for e in ep), default=None)
        tta_best = (tta.get("best") or {}).get("score") if isinstance(tta.get("best"), dict) else None
        print(
            f"{r['run']:<34} {len(ep):>3}/{st.get('epochs', '?'):<3} {fmt(st.get('wall_s')):>7} "
            f"{r.get('img_per_s_median') or 0:6.0f} {fmt(best):>6} {fmt(ep[-1]['val_score'] if ep else None):>6} "
            f"{fmt(ep[-1]['val_score_empty'] if ep else None):>6} {fmt(tta_best):>8} "
            f"{fmt((tta.get('swa') or {}).get('score') if isinstance(tta.get('swa'), dict) else None):>8}"
        )
    print(f"total {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
