"""The fault scoreboard: every bad input and broken state of the robustness issues, made for real
(corrupt zips, huge PNG headers, duplicate ids, torn checkpoints, broken run folders, a full disk)
and checked against what SaltLab promises: a one-line message naming the item and the reason,
the rest loaded, nothing on disk lost.

    .venv/bin/python -m tests.faults          # prints case, expected, got, and the count that pass

tests/test_faults.py runs every case as its own test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    name: str
    expected: str
    run: Callable[[Path], tuple[str, bool]]  # (got, passed), in a fresh temporary folder


CASES: list[Case] = []


def case(name: str, expected: str):
    def register(fn):
        CASES.append(Case(name, expected, fn))
        return fn

    return register


# --- shared material ------------------------------------------------------------------------------
_DEMO: dict[str, Path] = {}


def demo(tmp: Path, n: int = 24) -> Path:
    """A fresh copy of a small generated data set (generated once per process)."""
    from saltlab.core.demo import generate_demo_dataset

    key = f"demo{n}"
    if key not in _DEMO:
        _DEMO[key] = generate_demo_dataset(
            Path(tempfile.mkdtemp(prefix="saltlab-faults-")) / "demo", n=n, n_test=6, seed=5
        )
    copy = tmp / "data"
    shutil.copytree(_DEMO[key], copy)
    return copy


def issues_for(ds, id_: str = "", file_part: str = "") -> list[str]:
    return [i.reason for i in ds.health.issues if (not id_ or i.id == id_) and file_part in i.file]


def one_line(text: str) -> bool:
    return "Traceback" not in text and len(text.strip().splitlines()) == 1


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def saltlab_cli(*args: str, env: dict | None = None) -> CliResult:
    """`python -m saltlab ARGS`, run in this process (the same main(); no interpreter start-up per case),
    with env set for the call and the signal handlers the CLI installs put back afterwards."""
    import contextlib
    import signal

    from saltlab.cli import main

    saved_env = {k: os.environ.get(k) for k in (env or {})}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse refusals
                code = exc.code if isinstance(exc.code, int) else 2
            except Exception:  # noqa: BLE001 - what a user would see: a traceback
                traceback.print_exc(file=err)
                code = 1
    finally:
        for s_, h in handlers.items():
            signal.signal(s_, h)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return CliResult(code, out.getvalue(), err.getvalue())


def error_line(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return lines[-1] if lines else (result.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]


def tiny_run(tmp: Path, data: Path, **extra):
    """A real, very small finished training run (ResNet18, 16 images, 1 epoch)."""
    from saltlab.training.engine import train

    config = {
        "name": "f",
        "data": str(data),
        "n_folds": 3,
        "fold": 0,
        "batch_size": 8,
        "log_every": 1,
        "max_train_images": 16,
        "seed": 1,
        "device": "cpu",
        "model": {"arch": "baseline", "encoder": "resnet18", "decoder_channels": 16},
        "stages": [{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}],
        **extra,
    }
    return train(config, run_dir=tmp / "runs" / "f")


def zipped_train(data: Path) -> list[str]:
    """Replace the data set's train/ folder by train.zip (stored: images/, masks/); returns the image ids."""
    ids = sorted(p.stem for p in (data / "train" / "images").glob("*.png"))
    with zipfile.ZipFile(data / "train.zip", "w", zipfile.ZIP_STORED) as zf:
        for kind in ("images", "masks"):
            for png in sorted((data / "train" / kind).glob("*.png")):
                zf.write(png, f"{kind}/{png.name}")
    shutil.rmtree(data / "train")
    return ids


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height (signature, IHDR, an empty IDAT): big on paper, tiny on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- data sets ------------------------------------------------------------------------------------
@case("zip member with a bad CRC", "that image reported (unreadable zip member); the other images load")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    images = zipped_train(data)
    victim = images[3]
    info = zipfile.ZipFile(data / "train.zip").getinfo(f"images/{victim}.png")
    raw = bytearray((data / "train.zip").read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    (data / "train.zip").write_bytes(bytes(raw))
    ds = load_dataset(data)
    reasons = issues_for(ds, victim)
    got = f"{ds.n_train} of {len(images)} train images loaded; {victim}: {'; '.join(reasons)}"
    return got, ds.n_train == len(images) - 1 and any("unreadable zip member" in r and "CRC" in r for r in reasons)


@case("corrupt test.zip", "test images reported unreadable; the train images still load")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    n_train = len(list((data / "train" / "images").glob("*.png")))
    shutil.rmtree(data / "test")
    (data / "test.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    ds = load_dataset(data)
    reasons = issues_for(ds, file_part="test.zip")
    return (
        f"{ds.n_train} train, {ds.n_test} test images; test.zip: {'; '.join(reasons)}",
        ds.n_train == n_train and ds.n_test == 0 and any("not a readable zip file" in r for r in reasons),
    )


@case(
    "a 20000x20000 PNG of a few hundred bytes (loader)",
    "refused from its header, before decoding: 'wrong size 20000x20000'",
)
def _(tmp):
    import resource

    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    victim = sorted((data / "test" / "images").glob("*.png"))[0]
    victim.write_bytes(_png_header(20000, 20000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ds = load_dataset(data)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    reasons = issues_for(ds, victim.stem)
    return f"{victim.stem}: {'; '.join(reasons)}; peak memory grew {grown_mb:.0f} MB", reasons[:1] == [
        "wrong size 20000x20000, expected 101x101"
    ] and grown_mb < 500


@case("a 20000x20000 PNG uploaded on the Predict page", "that upload refused from its header; the others go on")
def _(tmp):
    import cv2
    import numpy as np

    from saltlab.inference.predict import decode_uploads

    good = cv2.imencode(".png", np.zeros((101, 101), np.uint8))[1].tobytes()
    ids, images, problems = decode_uploads([("big.png", _png_header(20000, 20000)), ("ok.png", good)])
    return f"kept {ids}; problems {problems}", ids == ["ok"] and problems == [
        ("big.png", "wrong size 20000x20000, expected 101x101")
    ]


@case("X.png beside X.PNG", "both files reported as one id; the rest loads")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    first = sorted((data / "train" / "images").glob("*.png"))[0]
    shutil.copy(first, first.with_suffix(".PNG"))
    ds = load_dataset(data)
    reasons = issues_for(ds, first.stem)
    return f"{first.stem}: {'; '.join(reasons)}; {ds.n_train} train loaded", first.stem not in ds.train_ids and len(
        reasons
    ) >= 2 and all("duplicate id" in r for r in reasons[:2])


def _repeat_row(path: Path, change: bool) -> str:
    lines = path.read_text().splitlines()
    row = lines[1]
    id_, rest = row.split(",", 1)
    lines.append(f"{id_},{'999' if change else rest}")
    path.write_text("\n".join(lines) + "\n")
    return id_


@case("a repeated, identical row in depths.csv", "a warning naming the id; one row kept")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    id_ = _repeat_row(data / "depths.csv", change=False)
    ds = load_dataset(data)
    reasons = issues_for(ds, id_, "depths.csv")
    return f"{id_}: {'; '.join(reasons)}", any(
        "appears 2 times in depths.csv (identical rows: one kept)" in r for r in reasons
    )


@case("a repeated row with a different depth in depths.csv", "reported; that id's depth unknown, never 'last wins'")
def _(tmp):
    import numpy as np

    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    id_ = _repeat_row(data / "depths.csv", change=True)
    ds = load_dataset(data)
    reasons = issues_for(ds, id_, "depths.csv")
    depth = ds.train_depths[ds.train_ids.index(id_)] if id_ in ds.train_ids else ds.test_depths[ds.test_ids.index(id_)]
    return f"{id_}: {'; '.join(reasons)}; depth {depth}", any("different values" in r for r in reasons) and np.isnan(
        depth
    )


@case("a repeated row in train.csv", "a warning naming the id; the mask PNG still cross-checked")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    id_ = _repeat_row(data / "train.csv", change=False)
    ds = load_dataset(data)
    reasons = issues_for(ds, id_, "train.csv")
    return f"{id_}: {'; '.join(reasons)}", any(
        "appears 2 times in train.csv" in r for r in reasons
    ) and id_ in ds.train_ids


@case("a repeated row in sample_submission.csv", "reported; the submission has each id once")
def _(tmp):
    import numpy as np

    from saltlab.core.dataset import load_dataset
    from saltlab.core.rle import submission_csv

    data = demo(tmp)
    id_ = _repeat_row(data / "sample_submission.csv", change=False)
    ds = load_dataset(data)
    text = submission_csv(ds.submission_ids, np.zeros((len(ds.submission_ids), 101, 101), bool))
    rows = [line.split(",")[0] for line in text.splitlines()[1:]]
    reasons = issues_for(ds, id_, "sample_submission.csv")
    return f"{id_}: {'; '.join(reasons)}; {rows.count(id_)} row(s) in the submission", rows.count(id_) == 1 and bool(
        reasons
    )


@case(
    "earlier work: a truncated PNG, a non-PNG, a wrong-size image, a mask with stray values",
    "each reported with its reason; the rest loads",
)
def _(tmp):
    import cv2
    import numpy as np

    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    images = sorted((data / "train" / "images").glob("*.png"))
    images[0].write_bytes(images[0].read_bytes()[:60])
    images[1].write_bytes(b"GIF89a not a png")
    images[2].write_bytes(cv2.imencode(".png", np.zeros((50, 60), np.uint8))[1].tobytes())
    mask = data / "train" / "masks" / images[3].name
    mask.write_bytes(cv2.imencode(".png", np.full((101, 101), 7, np.uint8))[1].tobytes())
    ds = load_dataset(data)
    got = [f"{p.stem}: {'; '.join(issues_for(ds, p.stem))}" for p in images[:4]]
    wanted = ["unreadable PNG", "not a PNG file", "wrong size 60x50", "mask has values"]
    return " | ".join(got) + f" | {ds.n_train} loaded", all(w in g for w, g in zip(wanted, got)) and ds.n_train == len(
        images
    ) - 4


# --- checkpoints ----------------------------------------------------------------------------------
def _checkpoint_error(fn) -> tuple[str, bool]:
    from saltlab.runs.checkpoint import CheckpointError

    try:
        fn()
    except CheckpointError as exc:
        return str(exc), one_line(str(exc))
    return "accepted", False


@case("a zero-byte checkpoint", "CheckpointError: one line naming the file")
def _(tmp):
    from saltlab.runs.checkpoint import load_checkpoint

    path = tmp / "best.pt"
    path.write_bytes(b"")
    got, ok = _checkpoint_error(lambda: load_checkpoint(path))
    return got, ok and str(path) in got


@case("a checkpoint without its 'model' key", "CheckpointError naming the file and the missing key")
def _(tmp):
    from saltlab.runs.checkpoint import load_checkpoint, save_checkpoint
    from saltlab.runs.config import TrainConfig

    path = save_checkpoint(tmp / "best.pt", {"config": TrainConfig().to_dict()})
    got, ok = _checkpoint_error(lambda: load_checkpoint(path))
    return got, ok and "'model'" in got and str(path) in got


@case(
    "a checkpoint whose weights belong to another architecture", "CheckpointError: one line, not kilobytes of traceback"
)
def _(tmp):
    import torch

    from saltlab.inference.network import load_model
    from saltlab.models import build_model
    from saltlab.runs.checkpoint import load_checkpoint, save_checkpoint
    from saltlab.runs.config import ModelConfig, TrainConfig

    config = TrainConfig(model=ModelConfig(arch="scse_hypercol", encoder="resnet18"))
    weights = build_model(ModelConfig(arch="baseline", encoder="resnet18")).state_dict()
    path = save_checkpoint(tmp / "best.pt", {"config": config.to_dict(), "model": weights})
    got, ok = _checkpoint_error(lambda: load_model(load_checkpoint(path), torch.device("cpu"), str(path)))
    return got, ok and str(path) in got and len(got) < 400


@case(
    "a checkpoint write on a full disk",
    "WriteError: one line with the file and the free space; no file, no temp file left",
)
def _(tmp):
    # RLIMIT_FSIZE makes the kernel refuse writes past 1 MB (EFBIG), as a full disk does (ENOSPC).
    script = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from saltlab.runs.config import ModelConfig, TrainConfig
from saltlab.models import build_model
from saltlab.runs.checkpoint import save_checkpoint
model = build_model(ModelConfig(encoder="resnet18"))
try:
    save_checkpoint({str(tmp / "best.pt")!r}, {{"config": TrainConfig().to_dict(), "model": model.state_dict()}})
except OSError as exc:
    print(type(exc).__name__ + ": " + str(exc))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    got = result.stdout.strip() or result.stderr.strip()[-300:]
    left = sorted(p.name for p in tmp.iterdir())
    return f"{got}; files left: {left}", got.startswith("WriteError: cannot write") and "MB free" in got and left == []


@case("a torn cached evaluation (predictions.npz cut short)", "ignored and predicted again; evaluate works")
def _(tmp):
    from saltlab.inference.evaluate import evaluate_run

    run = tiny_run(tmp, demo(tmp))
    first = evaluate_run(run.path)
    npz = first.folder / "predictions.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    again = evaluate_run(run.path)
    return (
        f"second evaluation from cache: {again.from_cache}, score {again.scores['score']:.4f}",
        not again.from_cache and again.scores["score"] == first.scores["score"],
    )


# --- configs --------------------------------------------------------------------------------------
BAD_CONFIGS = [
    ("stages.0.lr=NaN", "stages.0.lr must be a finite number"),
    ("stages.0.lr=-0.001", "stages.0.lr must be a finite number >= 0"),
    ("stages.0.schedule.min_lr=-1", "stages.0.schedule.min_lr must be a finite number >= 0"),
    ("stages.0.schedule.max_lr=-1", "stages.0.schedule.max_lr must be a finite number >= 0"),
    ("log_every=0", "log_every must be at least 1"),
    ("model.decoder_channels=0", "model.decoder_channels must be at least 16"),
    ("workers=-1", "workers must be >= 0"),
    ("max_train_images=-5", "max_train_images must be at least 1"),
    ("n_folds=1", "n_folds must be at least 2"),
    ("model.encoder=resnet9000", "unknown encoder 'resnet9000'"),
    ("name=../../x", "name '../../x': letters, digits"),
]


def _bad_config_case(override: str, message: str):
    @case(f"config {override}", f"refused before any folder exists: '{message}'")
    def _(tmp):
        result = saltlab_cli(
            "train",
            "--config",
            "smoke",
            "--data",
            str(tmp / "nowhere"),
            "--set",
            override,
            env={"SALTLAB_CHECKPOINTS": str(tmp / "runs")},
        )
        line = error_line(result)
        return line, result.returncode == 2 and message in line and not (tmp / "runs").exists() and one_line(
            result.stderr
        )


for _override, _message in BAD_CONFIGS:
    _bad_config_case(_override, _message)


@case("train on a data set that does not exist", "refused before any run folder exists, one line naming the folder")
def _(tmp):
    result = saltlab_cli(
        "train", "--config", "smoke", "--data", str(tmp / "missing"), env={"SALTLAB_CHECKPOINTS": str(tmp / "runs")}
    )
    line = error_line(result)
    runs = list((tmp / "runs").glob("*")) if (tmp / "runs").exists() else []
    return f"{line}; run folders: {len(runs)}", result.returncode == 2 and "missing" in line and not runs


@case(
    "submit (Start on the Train page) with a data set that does not exist",
    "DataSetError; nothing created, nothing queued",
)
def _(tmp):
    from saltlab.core.sources import DataSetError
    from saltlab.jobs.launcher import submit
    from saltlab.runs.config import from_dict, load_config

    values = {**load_config("smoke"), "data": str(tmp / "missing")}
    try:
        submit(from_dict(values), tmp / "runs")
    except DataSetError as exc:
        return str(exc), not (tmp / "runs").exists() or not any((tmp / "runs").iterdir())
    return "submitted", False


@case("Resume a failed run whose data set is gone", "refused with the reason; the run stays failed, not queued")
def _(tmp):
    from saltlab.core.sources import DataSetError
    from saltlab.jobs.launcher import request_resume

    run = _run_folder(tmp / "runs", "orphan", {"state": "failed", "error": "x"})
    config = json.loads(run.config_path.read_text())
    run.config_path.write_text(json.dumps({**config, "data": str(tmp / "gone")}))
    try:
        request_resume(run, start=False)
    except DataSetError as exc:
        return f"{exc}; state {run.read_status()['state']}", run.read_status()["state"] == "failed"
    return f"queued: {run.read_status()}", False


@case("Predict every test image on a data set without test images", "refused before any job folder exists")
def _(tmp):
    from saltlab.core.sources import DataSetError
    from saltlab.jobs.predict_jobs import start_job

    data = demo(tmp)
    shutil.rmtree(data / "test")
    try:
        start_job([str(tmp / "run")], str(data), root=tmp / "jobs")
    except DataSetError as exc:
        made = list((tmp / "jobs").iterdir()) if (tmp / "jobs").exists() else []
        return f"{exc}; job folders {len(made)}", "has no test images" in str(exc) and not made
    return "started", False


@case("a background predict job", "its job.json names the data set (absolute path, fingerprint) and the models")
def _(tmp):
    from saltlab.core.dataset import load_dataset
    from saltlab.jobs.predict_jobs import start_job

    data = demo(tmp)
    job = start_job([str(tmp / "no-run")], str(data), root=tmp / "jobs")  # the job fails on the missing run, later
    options = job.options()
    ds = load_dataset(data)
    deadline = time.monotonic() + 120
    while (job.read_status() or {}).get("state") == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    return f"data {options['data']}, fingerprint {options['fingerprint']}, runs {options['runs']}", options[
        "data"
    ] == str(ds.root) and options["fingerprint"] == ds.fingerprint and options["runs"] == [str(tmp / "no-run")]


# --- predict --------------------------------------------------------------------------------------
def _predict_case(name: str, args: list[str], message: str):
    @case(f"predict {name}", f"refused before any inference or write: '{message}'")
    def _(tmp):
        out = tmp / "sub.csv"
        (tmp / "afile").write_text("a file where a folder should be")
        full = ["predict", "--runs", str(tmp / "no-run"), "--data", str(tmp / "no-data"), "--out", str(out), *args]
        result = saltlab_cli(*[a.replace("TMP", str(tmp)) for a in full])
        line = error_line(result)
        return (
            line,
            result.returncode == 2 and message in line and not out.exists() and "Traceback" not in result.stderr,
        )


for _name, _args, _message in [
    ("--threshold nan", ["--threshold", "nan"], "--threshold must be between 0 and 1"),
    ("--threshold 5", ["--threshold", "5"], "--threshold must be between 0 and 1"),
    ("--threshold -1", ["--threshold", "-1"], "--threshold must be between 0 and 1"),
    ("--batch-size 0", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("--png-dir an existing file", ["--png-dir", "TMP/afile"], "is an existing file, not a folder"),
]:
    _predict_case(_name, _args, _message)


@case("predict --out a folder", "refused before any inference: '--out ... is a folder'")
def _(tmp):
    result = saltlab_cli("predict", "--runs", str(tmp / "r"), "--data", str(tmp), "--out", str(tmp))
    line = error_line(result)
    return line, result.returncode == 2 and "is a folder" in line


@case("predict --out in a folder that does not exist", "refused before any inference: 'cannot write in ...'")
def _(tmp):
    result = saltlab_cli(
        "predict", "--runs", str(tmp / "r"), "--data", str(tmp), "--out", str(tmp / "no" / "such" / "x.csv")
    )
    line = error_line(result)
    return line, result.returncode == 2 and "cannot write in" in line


# --- runs and the registry ------------------------------------------------------------------------
def _run_folder(root: Path, name: str, status=None, config: str | None = None):
    from saltlab.runs.run_folder import RunFolder

    run = RunFolder(root / name)
    run.path.mkdir(parents=True)
    run.config_path.write_text(
        config
        if config is not None
        else json.dumps(
            {
                "name": name,
                "model": {"arch": "baseline", "encoder": "resnet18"},
                "stages": [{"loss": "bce", "epochs": 2}],
            }
        )
    )
    if status is not None:
        run.status_path.write_text(status if isinstance(status, str) else json.dumps(status))
    return run


@case(
    "`runs` with a run in its first epoch (no best score yet) and broken folders",
    "every folder listed, broken ones 'unreadable: reason'; no traceback",
)
def _(tmp):
    _run_folder(tmp, "first-epoch", {"state": "running", "pid": os.getpid(), "epoch": 0})
    _run_folder(tmp, "truncated", config='{"name": "x", "mod')
    _run_folder(tmp, "status-list", status="[1, 2]")
    (tmp / "no-config").mkdir()
    result = saltlab_cli("runs", "--root", str(tmp))
    listed = [n for n in ("first-epoch", "truncated", "status-list", "no-config") if n in result.stdout]
    unreadable = [line.split()[0] for line in result.stdout.splitlines() if " unreadable: " in line]
    return f"exit {result.returncode}; listed {listed}; unreadable rows {unreadable}", result.returncode == 0 and len(
        listed
    ) == 4 and sorted(unreadable) == ["no-config", "status-list", "truncated"] and "Traceback" not in result.stderr


@case("a stale pid now used by another process", "the run reads as failed, not running forever")
def _(tmp):
    from saltlab.runs.run_folder import process_start

    run = _run_folder(
        tmp, "stale", {"state": "running", "pid": os.getpid(), "pid_start": (process_start(os.getpid()) or 0) + 7}
    )
    state = run.read_status()["state"]
    return f"state {state}", state == "failed"


@case("an unparsable pid in status.json", "the run reads as failed; the queue is not stopped")
def _(tmp):
    from saltlab.jobs.launcher import tick

    run = _run_folder(tmp, "badpid", {"state": "running", "pid": "12ab"})
    started = tick(tmp)
    return f"state {run.read_status()['state']}; tick started {len(started)}", run.read_status()["state"] == "failed"


@case("train --resume on a live run", "refused, one line; the live run's status untouched")
def _(tmp):
    run = _run_folder(tmp, "live", {"state": "running", "pid": os.getpid()})
    fd = run.acquire()
    try:
        result = saltlab_cli("train", "--resume", str(run.path), env={"SALTLAB_CHECKPOINTS": str(tmp)})
    finally:
        os.close(fd)
    line = error_line(result)
    status = json.loads(run.status_path.read_text())
    return (
        f"{line}; status state {status['state']}",
        result.returncode == 2 and "in use by another live process" in line and status["state"] == "running",
    )


@case("the registry order", "newest run first by creation time, not by name")
def _(tmp):
    from saltlab.runs.run_folder import list_runs

    now = time.time()
    _run_folder(tmp, "a-old", {"state": "done", "created": now - 60})
    _run_folder(tmp, "z-new", {"state": "done", "created": now})
    order = [r.path.name for r in list_runs(tmp)]
    return f"{order}", order == ["z-new", "a-old"]


@case("delete a running run", "refused; the folder stays")
def _(tmp):
    from saltlab.runs.run_folder import process_start

    run = _run_folder(tmp, "busy", {"state": "running", "pid": os.getpid(), "pid_start": process_start(os.getpid())})
    result = saltlab_cli("runs", "--root", str(tmp), "--delete", "busy")
    return error_line(result), result.returncode == 2 and run.path.is_dir()


# --- folds and splits -----------------------------------------------------------------------------
@case("one image removed from the data set", "no other image changes fold")
def _(tmp):
    from saltlab.core.dataset import load_dataset
    from saltlab.core.folds import fold_table

    data = demo(tmp, n=200)
    before = dict(zip(*fold_table(load_dataset(data)).pipe(lambda t: (t["id"], t["fold"]))))
    gone = sorted(before)[57]
    for kind in ("images", "masks"):
        (data / "train" / kind / f"{gone}.png").unlink()
    after = fold_table(load_dataset(data))
    moved = sum(int(before[i] != f) for i, f in zip(after["id"], after["fold"]))
    return f"{moved} of {len(after)} images moved", moved == 0 and len(after) == len(before) - 1


@case(
    "evaluate a run after 2 of its validation images left the data set",
    "scored on the rest, with a note counting the missing",
)
def _(tmp):
    from saltlab.inference.evaluate import evaluate_run

    data = demo(tmp, n=24)
    run = tiny_run(tmp, data)
    val = run.read_split()["val_ids"]
    for id_ in val[:2]:
        for kind in ("images", "masks"):
            (data / "train" / kind / f"{id_}.png").unlink()
    result = evaluate_run(run.path)
    notes = result.scores["notes"]
    return f"{result.scores['n_images']} images scored; notes {notes}", result.ids == val[2:] and len(
        notes
    ) == 1 and f"2 of the run's {len(val)} validation images" in notes[0]


@case(
    "evaluate a run none of whose validation images remain", "refused before any inference (no evaluation folder made)"
)
def _(tmp):
    data = demo(tmp, n=24)
    run = tiny_run(tmp, data)
    for id_ in run.read_split()["val_ids"]:
        for kind in ("images", "masks"):
            (data / "train" / kind / f"{id_}.png").unlink()
    result = saltlab_cli("evaluate", str(run.path))
    line = error_line(result)
    return line, result.returncode == 2 and "none of the images to score it on" in line and not (
        run.path / "eval"
    ).exists()


# --- files ----------------------------------------------------------------------------------------
@case("permissions of written files", "the usual 0644 under umask 022 (not mkstemp's 0600)")
def _(tmp):
    import numpy as np

    from saltlab.core.fileio import UMASK, write_json_atomic
    from saltlab.core.rle import write_submission

    write_json_atomic(tmp / "status.json", {"a": 1})
    write_submission(tmp / "sub.csv", ["x"], np.zeros((1, 101, 101), bool))
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp.iterdir()}
    want = oct(0o666 & ~UMASK)
    return f"{modes} (umask {oct(UMASK)})", all(m == want for m in modes.values())


@case("the data set cache after many changes", "only the 4 most recently used entries kept")
def _(tmp):
    from saltlab.core import dataset_cache
    from saltlab.core.dataset import load_dataset

    os.environ["SALTLAB_CACHE"], saved = str(tmp / "cache"), os.environ.get("SALTLAB_CACHE")
    try:
        data = demo(tmp)
        for k in range(6):
            (data / "depths.csv").write_text((data / "depths.csv").read_text() + "\n" * (k + 1))  # a new fingerprint
            load_dataset(data)
        entries = [p for p in (tmp / "cache" / "datasets").iterdir() if not p.name.startswith(".")]
    finally:
        if saved is None:
            os.environ.pop("SALTLAB_CACHE")
        else:
            os.environ["SALTLAB_CACHE"] = saved
    return f"{len(entries)} entries after 6 versions of one data set", len(entries) == dataset_cache.KEEP


# The second part of the scoreboard (issue 26), registered here so that it runs with the first.
from tests import faults_world  # noqa: E402,F401


# --- the runner -----------------------------------------------------------------------------------
def run_case(c: Case) -> tuple[str, bool]:
    with tempfile.TemporaryDirectory(prefix="saltlab-fault-") as tmp:
        try:
            return c.run(Path(tmp))
        except Exception as exc:  # noqa: BLE001 - an escaping exception is exactly a failed case
            return f"UNCAUGHT {type(exc).__name__}: {exc} | {traceback.format_exc(limit=3).splitlines()[-3:]}", False


def main() -> int:
    os.environ.setdefault("SALTLAB_CACHE", tempfile.mkdtemp(prefix="saltlab-faults-cache-"))
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import importlib

    # Run as `python -m tests.faults`, this module is __main__; the second part registers its cases in
    # tests.faults, so the cases are read from there (the first part's included).
    rows = []
    for c in importlib.import_module("tests.faults").CASES:
        started = time.monotonic()
        got, ok = run_case(c)
        rows.append((c.name, c.expected, got, ok, time.monotonic() - started))
        print(f"{'PASS' if ok else 'FAIL'}  {c.name}  ({rows[-1][4]:.1f} s)", file=sys.stderr, flush=True)
    print("| case | expected | got | |\n|---|---|---|---|")
    for name, expected, got, ok, _ in rows:
        cell = got.replace("|", "\\|").replace("\n", " ")[:300]
        print(f"| {name} | {expected} | {cell} | {'pass' if ok else '**FAIL**'} |")
    passed = sum(r[3] for r in rows)
    print(f"\n{passed} of {len(rows)} cases pass")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
