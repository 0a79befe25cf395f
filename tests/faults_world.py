"""The fault scoreboard, second part (issue 26): what the world hands SaltLab that the first 49 cases did
not try. Each case is made for real: names with bytes that are not UTF-8, encrypted and unreadable zip
members, a 2 GiB zip member, 8 GB sparse files, numbers past int64, 100 MB CSV lines, 100,000 nested
brackets, diverged weights, killed trainers, a second trainer, a full disk, links and hostile upload
names. Registered into tests.faults.CASES (imported at its end), so `python -m tests.faults` and
tests/test_faults.py run them with the rest.
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tests.faults import PROJECT, case, demo, error_line, issues_for, one_line, saltlab_cli, tiny_run, zipped_train


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _patch_member(zip_path: Path, name: str, flag_bits: int | None = None, method: int | None = None) -> None:
    """Rewrite one member's flag bits or compression method in both its local and central headers, as an
    encrypting or PPMd-compressing archiver writes them (zipfile itself writes neither)."""
    raw = bytearray(zip_path.read_bytes())
    info = zipfile.ZipFile(zip_path).getinfo(name)
    central = raw.find(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(name)] != name.encode():  # this member's central record
        central = raw.find(b"PK\x01\x02", central + 4)
    for flags_at in (info.header_offset + 6, central + 8):  # the flag bits, then the method, in each header
        if flag_bits is not None:
            raw[flags_at : flags_at + 2] = struct.pack("<H", flag_bits)
        if method is not None:
            raw[flags_at + 2 : flags_at + 4] = struct.pack("<H", method)
    zip_path.write_bytes(bytes(raw))


# --- names, zips and files ------------------------------------------------------------------------
@case(
    "a file name with a byte that is not UTF-8 in test/images",
    "that file reported with its name escaped; `info` reports it (exit 1: bad items), no traceback; the rest loads",
)
def _(tmp):
    from saltlab.core.dataset import load_dataset
    from saltlab.core.table import image_table

    data = demo(tmp)
    good = sorted((data / "test" / "images").glob("*.png"))[0]
    os.link(good, os.path.join(os.fsencode(data / "test" / "images"), b"bad\xff\xfename.png"))
    ds = load_dataset(data)
    reasons = [f"{i.file}: {i.reason}" for i in ds.health.issues if "not printable" in i.reason]
    info = saltlab_cli("info", str(data))
    table_ok = len(image_table(ds)) == ds.n_train + ds.n_test
    got = f"{'; '.join(reasons)}; info exit {info.returncode}; {ds.n_test} test images; table ok {table_ok}"
    clean = info.returncode == 1 and "Traceback" not in info.stderr and "bad\\xff\\xfename.png" in info.stdout
    return got, len(reasons) == 1 and "bad\\xff\\xfename.png" in reasons[0] and clean and table_ok


def _one_member_patched(tmp: Path, member: str, index: int, **patch) -> tuple[str, bool, str]:
    """train.zip with one member's headers patched: (got, all but that image loaded, its reasons)."""
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    ids = zipped_train(data)
    _patch_member(data / "train.zip", f"{member}/{ids[index]}.png", **patch)
    ds = load_dataset(data)
    reasons = "; ".join(issues_for(ds, ids[index]))
    return f"{ds.n_train} of {len(ids)} loaded; {ids[index]}: {reasons}", ds.n_train == len(ids) - 1, reasons


@case("an encrypted zip member", "that image reported ('encrypted zip member'); the other images load")
def _(tmp):
    got, rest_loaded, reasons = _one_member_patched(tmp, "images", 2, flag_bits=0x1)
    return got, rest_loaded and "encrypted zip member" in reasons


@case("a zip member compressed with an unsupported method (PPMd)", "that image reported; the other images load")
def _(tmp):
    got, rest_loaded, reasons = _one_member_patched(tmp, "masks", 4, method=98)
    return got, rest_loaded and "method 98" in reasons


@case(
    "a zip member that expands to 2 GiB",
    "refused from its declared size before reading ('too large for a 101x101 PNG'); memory stays flat",
)
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    ids = zipped_train(data)
    with zipfile.ZipFile(data / "train.zip", "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("images/0000bomb00.png", "w", force_zip64=True) as f:
            block = b"\x89PNG\r\n\x1a\n" + bytes(2**24 - 8)
            for _ in range(128):  # 2 GiB of (mostly) zeros, about 2 MB once deflated
                f.write(block)
                block = bytes(2**24)
    before = _rss_mb()
    ds = load_dataset(data)
    grown = _rss_mb() - before
    reasons = issues_for(ds, "0000bomb00")
    got = f"{'; '.join(reasons)}; {ds.n_train} of {len(ids)} loaded; peak memory grew {grown:.0f} MB"
    return got, any("too large" in r for r in reasons) and ds.n_train == len(ids) and grown < 200


@case(
    "an 8 GB sparse file and a 1 GB file named .png",
    "each refused from its size before it is read; memory stays flat; the rest loads",
)
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    n = len(list((data / "test" / "images").glob("*.png")))
    for name, size in (("ffffffff00", 8 * 10**9), ("eeeeeeee00", 10**9)):
        with open(data / "test" / "images" / f"{name}.png", "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.truncate(size)  # sparse: no disk used
    before = _rss_mb()
    ds = load_dataset(data)
    grown = _rss_mb() - before
    reasons = issues_for(ds, "ffffffff00") + issues_for(ds, "eeeeeeee00")
    got = f"{'; '.join(reasons)}; {ds.n_test} of {n} test loaded; peak memory grew {grown:.0f} MB"
    return got, len(reasons) == 2 and all("too large" in r for r in reasons) and ds.n_test == n and grown < 200


def _rewrite_two_rows(csv: Path, first: str, second: str) -> tuple[str, str]:
    """Give the first two rows of an `id,value` CSV these values; returns their ids."""
    lines = csv.read_text().splitlines()
    a, b = lines[1].split(",")[0], lines[2].split(",")[0]
    lines[1], lines[2] = f"{a},{first}", f"{b},{second}"
    csv.write_text("\n".join(lines) + "\n")
    return a, b


@case(
    "train.csv RLE with a number past int64, and a run whose end overflows",
    "each row reported ('unreadable RLE'); the data set loads",
)
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    a, b = _rewrite_two_rows(data / "train.csv", "1 99999999999999999999999", "9223372036854775000 9223372036854775000")
    ds = load_dataset(data)
    reasons = issues_for(ds, a, "train.csv") + issues_for(ds, b, "train.csv")
    return f"{'; '.join(reasons)}; {ds.n_train} train loaded", len(reasons) == 2 and all(
        "unreadable RLE" in r for r in reasons
    )


@case(
    "inf and 1e400 in depths.csv",
    "each reported ('not a finite number'), depth unknown; the health report is not clean; the table is finite",
)
def _(tmp):
    import numpy as np

    from saltlab.core.dataset import load_dataset
    from saltlab.core.table import image_table

    data = demo(tmp)
    a, b = _rewrite_two_rows(data / "depths.csv", "inf", "1e400")
    ds = load_dataset(data)
    reasons = issues_for(ds, a, "depths.csv") + issues_for(ds, b, "depths.csv")
    depth = image_table(ds)["depth"]
    finite_or_unknown = bool(np.all(np.isfinite(depth) | np.isnan(depth)))
    return f"{'; '.join(reasons)}; depths finite or unknown: {finite_or_unknown}", len(reasons) == 2 and all(
        "not a finite number" in r for r in reasons
    ) and finite_or_unknown


@case(
    "a 100 MB line in a CSV",
    "reported by its line number and first characters (not printed whole); the other rows load",
)
def _(tmp):
    from saltlab.core.dataset import load_dataset
    from saltlab.core.table import image_table

    data = demo(tmp)
    path = data / "depths.csv"
    text = path.read_text()
    with open(path, "a") as f:
        f.write("x" * 100_000_000 + ",5\n")
    before = _rss_mb()
    ds = load_dataset(data)
    grown = _rss_mb() - before
    reasons = issues_for(ds, file_part="depths.csv")
    longest = max((len(r) for r in reasons), default=0)
    got = f"{'; '.join(reasons)[:200]}; longest message {longest} chars; memory grew {grown:.0f} MB"
    rows = len(text.splitlines()) - 1
    known = int((~image_table(ds)["depth"].isna()).sum())
    return got, any("is over" in r for r in reasons) and longest < 300 and grown < 150 and known == rows


@case(
    "config.json and status.json of 100,000 nested brackets",
    "`runs` lists both folders as unreadable, exit 0; the registry (Train page) reads",
)
def _(tmp):
    from saltlab.runs.registry import registry_rows

    root = tmp / "runs"
    for name, file in (("deep-config", "config.json"), ("deep-status", "status.json")):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text('{"model": {}, "stages": []}')
        (root / name / file).write_text("[" * 100_000 + "]" * 100_000)
    result = saltlab_cli("runs", "--root", str(root))
    rows = registry_rows(root)
    unreadable = sorted(r["run"] for r in rows if r["state"] == "unreadable")
    got = f"exit {result.returncode}; unreadable {unreadable}; stderr {result.stderr.strip()[:120]!r}"
    return got, result.returncode == 0 and unreadable == ["deep-config", "deep-status"] and "Traceback" not in (
        result.stderr
    )


# --- weights --------------------------------------------------------------------------------------
def _poisoned_run(tmp: Path, key_part: str, value: float, opposite_corner: bool = False):
    """A real tiny run whose best.pt has the first tensor named like key_part filled with value (and, with
    opposite_corner, -value in its first element, so +inf and -inf meet in the forward pass)."""
    import torch

    from saltlab.runs.checkpoint import load_checkpoint, save_checkpoint

    data = demo(tmp)
    run = tiny_run(tmp, data)
    ckpt = load_checkpoint(run.path / "best.pt")
    key = next(k for k in ckpt["model"] if key_part in k)
    ckpt["model"][key] = torch.full_like(ckpt["model"][key], value)
    if opposite_corner:
        ckpt["model"][key].view(-1)[0] = -value
    save_checkpoint(run.path / "best.pt", {k: v for k, v in ckpt.items() if not k.startswith("format")})
    return data, run, key


@case(
    "a checkpoint whose weights are NaN",
    "predict and evaluate refuse in one line naming the file and the tensor; exit 2; no submission written",
)
def _(tmp):
    data, run, key = _poisoned_run(tmp, "encoder.conv1.weight", float("nan"))
    out = tmp / "sub.csv"
    predict = saltlab_cli("predict", "--runs", str(run.path), "--data", str(data), "--out", str(out))
    evaluate = saltlab_cli("evaluate", str(run.path))
    lines = [error_line(predict), error_line(evaluate)]
    got = f"exit {predict.returncode}/{evaluate.returncode}; {lines[0]}; csv written: {out.exists()}"
    return got, predict.returncode == 2 and evaluate.returncode == 2 and not out.exists() and all(
        "best.pt" in line and key in line and "non-finite" in line for line in lines
    )


@case("inf in a BatchNorm running variance (a buffer, not a parameter)", "refused at load, naming that buffer")
def _(tmp):
    data, run, key = _poisoned_run(tmp, "running_var", float("inf"))
    result = saltlab_cli("evaluate", str(run.path))
    line = error_line(result)
    return f"exit {result.returncode}; {line}", result.returncode == 2 and key in line and one_line(result.stderr)


@case(
    "finite weights whose outputs overflow (1e38 in the first convolution)",
    "evaluate stops in one line ('outputs are not finite'), exit 2, instead of scoring an empty prediction",
)
def _(tmp):
    data, run, key = _poisoned_run(tmp, "encoder.conv1.weight", 1e38, opposite_corner=True)
    result = saltlab_cli("evaluate", str(run.path))
    line = error_line(result)
    return f"exit {result.returncode}; {line}", result.returncode == 2 and "not finite" in line


# --- the queue ------------------------------------------------------------------------------------
def _tiny_config(data: Path, name: str):
    from saltlab.runs.config import from_dict

    return from_dict(
        {
            "name": name,
            "data": str(data),
            "n_folds": 3,
            "batch_size": 8,
            "max_train_images": 16,
            "device": "cpu",
            "model": {"arch": "baseline", "encoder": "resnet18", "decoder_channels": 16},
            "stages": [{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}],
        }
    )


def _queued(root: Path, data: Path, name: str):
    from saltlab.jobs.launcher import submit

    return submit(_tiny_config(data, name), root, start=False)


def _wait(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@case(
    "the trainer and its queue-watch both killed (a reboot, the OOM killer)",
    "the next CLI command marks the dead run failed on disk and starts the queued run behind it",
)
def _(tmp):
    from saltlab.runs.run_folder import RunFolder

    data, root = demo(tmp), tmp / "runs"
    dead, waiting = _queued(root, data, "dead"), _queued(root, data, "waiting")
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead.write_status(state="running", pid=gone.pid, pid_start=1.0, slot="cpu")
    result = saltlab_cli("runs", "--root", str(root))
    on_disk = RunFolder(dead.path).read_status(check_process=False)["state"]
    started = _wait(lambda: (waiting.read_status() or {}).get("state") in ("running", "done"), 20)
    state = (waiting.read_status() or {}).get("state")
    if state == "running":
        from saltlab.jobs.launcher import cancel

        cancel(waiting)
        _wait(lambda: (waiting.read_status() or {}).get("state") != "running", 60)
    got = f"exit {result.returncode}; dead run on disk: {on_disk}; queued run then: {state}"
    return got, result.returncode == 0 and on_disk == "failed" and started


@case(
    "a CLI `train` running while the app's Start is pressed",
    "the app's run waits in the queue; it starts when the CLI run ends",
)
def _(tmp):
    from saltlab.jobs.launcher import submit
    from saltlab.runs.run_folder import RunFolder

    data, root = demo(tmp), tmp / "runs"
    env = {**os.environ, "SALTLAB_CHECKPOINTS": str(root), "PYTHONPATH": str(PROJECT)}
    cli_run = root / "cli-run"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "saltlab", "train", "--config", "smoke", "--data", str(data), "--out", str(cli_run)]
        + ["--set", "max_train_images=16", "--set", "n_folds=3", "--set", "stages.0.epochs=50", "--device", "cpu"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        running = _wait(lambda: (RunFolder(cli_run).read_status() or {}).get("state") == "running", 90)
        app_run = submit(_tiny_config(data, "app"), root, start=True)
        waited = (app_run.read_status() or {}).get("state")
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(60)
        moved = _wait(lambda: (app_run.read_status() or {}).get("state") in ("running", "done"), 30)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    from saltlab.jobs.launcher import cancel

    if (app_run.read_status() or {}).get("state") == "running":
        cancel(app_run)
        _wait(lambda: (app_run.read_status() or {}).get("state") != "running", 60)
    got = f"CLI run running: {running}; the app's run while it ran: {waited}; started after it ended: {moved}"
    return got, running and waited == "queued" and moved


# --- writes ---------------------------------------------------------------------------------------
@case(
    "`predict --png-dir` on a full disk",
    "one line (WriteError naming the PNG and the free space), exit 2; no torn or empty PNG left",
)
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    disk = tmp / "full"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(disk)]).returncode:
        return "cannot mount a small tmpfs here (needs root)", False
    try:
        result = saltlab_cli(
            "predict", "--runs", str(run.path), "--data", str(data), "--out", str(tmp / "s.csv"), "--png-dir", str(disk)
        )
        pngs = sorted(disk.iterdir())
        sizes = [p.stat().st_size for p in pngs]
    finally:
        subprocess.run(["umount", str(disk)])
    whole = all(size > 50 and not p.name.startswith(".") for p, size in zip(pngs, sizes))
    got = f"exit {result.returncode}; {error_line(result)[:160]}; left {len(pngs)} files {sizes}"
    clean = (
        "Traceback" not in result.stderr and "cannot write" in error_line(result) and "free there" in error_line(result)
    )
    return got, result.returncode == 2 and clean and whole


@case(
    "`evaluate` when its cache cannot be written",
    "the score is printed with a note that the cache was not written; exit 0",
)
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    (run.path / "eval").write_text("a file where the cache folder goes")
    result = saltlab_cli("evaluate", str(run.path))
    got = f"exit {result.returncode}; {result.stdout.strip()[:240]}"
    return got, result.returncode == 0 and "  score " in result.stdout and "cache was not written" in result.stdout


@case("`runs --delete` on a run folder that is a link", "refused in one line; the link and its folder stay")
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    root = tmp / "root"
    root.mkdir()
    (root / "linked").symlink_to(run.path, target_is_directory=True)
    result = saltlab_cli("runs", "--root", str(root), "--delete", "linked")
    kept = (root / "linked").is_symlink() and (run.path / "best.pt").is_file()
    return f"exit {result.returncode}; {error_line(result)}; kept {kept}", result.returncode == 2 and kept and one_line(
        result.stderr
    ) and "is a link" in result.stderr


@case(
    "uploads named '..\\..\\x.png' and 'a/../../y.png'",
    "each taken by its base name (x, y): the names in masks.zip are plain file names",
)
def _(tmp):
    import cv2
    import numpy as np

    from saltlab.inference.predict import decode_uploads, masks_zip

    png = cv2.imencode(".png", np.zeros((101, 101), np.uint8))[1].tobytes()
    ids, images, problems = decode_uploads([("..\\..\\x.png", png), ("a/../../y.png", png)])
    import io

    names = zipfile.ZipFile(io.BytesIO(masks_zip(ids, np.zeros((len(ids), 101, 101), bool)))).namelist()
    return f"ids {ids}; zip {names}; problems {problems}", names == ["x.png", "y.png"] and not problems


# --- ten more of our own --------------------------------------------------------------------------
@case("a FIFO named x.png in train/images", "reported as not a regular file, never opened (no hang); the rest loads")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    n = len(list((data / "train" / "images").glob("*.png")))
    os.mkfifo(data / "train" / "images" / "fifo000000.png")
    ds = load_dataset(data)
    reasons = [i.reason for i in ds.health.issues if "fifo000000" in i.file]
    return f"{reasons}; {ds.n_train} train", reasons == ["not a regular file; left out"] and ds.n_train == n


@case("depths.csv saved as UTF-16", "one line for its undecodable lines; the images load, depths unknown")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    path = data / "depths.csv"
    path.write_bytes(path.read_text().encode("utf-16"))
    ds = load_dataset(data)
    reasons = issues_for(ds, file_part="depths.csv")
    odd = [r for r in reasons if "UTF-8" in r or "unreadable" in r or "missing column" in r]
    return f"{len(reasons)} issues, e.g. {odd[:2]}; {ds.n_train} train", 1 <= len(odd) <= 2 and ds.n_train > 0


@case("an empty (0-byte) train.csv beside the mask PNGs", "reported as unreadable; masks from the PNGs; all loads")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    n = len(list((data / "train" / "images").glob("*.png")))
    (data / "train.csv").write_bytes(b"")
    ds = load_dataset(data)
    reasons = issues_for(ds, file_part="train.csv")
    return f"{reasons[:1]}; {ds.n_train} of {n}", any("unreadable CSV" in r for r in reasons) and ds.n_train == n


@case("a zip member named '../../evil.png' (zip slip)", "read as the id 'evil' in memory; nothing written outside")
def _(tmp):
    from saltlab.core.dataset import load_dataset

    data = demo(tmp)
    ids = zipped_train(data)
    with zipfile.ZipFile(data / "train.zip", "a") as zf:
        zf.writestr("images/../../evil.png", b"not a png")
    before = set(tmp.rglob("*"))
    ds = load_dataset(data)
    new = [p for p in set(tmp.rglob("*")) - before if "cache" not in str(p)]
    return f"{ds.n_train} of {len(ids)} train; new files {new}", ds.n_train == len(ids) and not new


@case("settings.json of 100,000 nested brackets", "ignored: the default data set is used; the app's settings read")
def _(tmp):
    from saltlab.core.paths import load_settings, settings_path

    saved = os.environ.get("SALTLAB_SETTINGS")
    os.environ["SALTLAB_SETTINGS"] = str(tmp / "settings.json")
    try:
        settings_path().write_text("[" * 100_000)
        values = load_settings()
    finally:
        if saved is None:
            os.environ.pop("SALTLAB_SETTINGS")
        else:
            os.environ["SALTLAB_SETTINGS"] = saved
    return f"settings {values}", values == {}


@case("split.json of 100,000 nested brackets", "the run is still listed and evaluates on its fold")
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    (run.path / "split.json").write_text("{" * 100_000)
    listed = saltlab_cli("runs", "--root", str(run.path.parent))
    evaluate = saltlab_cli("evaluate", str(run.path))
    said = (evaluate.stdout or evaluate.stderr)[:160]
    got = f"runs exit {listed.returncode}; evaluate exit {evaluate.returncode}: {said}"
    clean = "Traceback" not in listed.stderr + evaluate.stderr
    return got, listed.returncode == 0 and clean and evaluate.returncode in (0, 2)


@case("a config.json of 100 MB", "not read whole: the folder is listed as unreadable ('over 64 MiB' or invalid)")
def _(tmp):
    from saltlab.runs.registry import registry_rows

    root = tmp / "runs"
    (root / "huge").mkdir(parents=True)
    with open(root / "huge" / "config.json", "wb") as f:
        f.write(b'{"model": {}, "stages": [], "x": "')
        f.truncate(100 * 2**20)
    before = _rss_mb()
    rows = registry_rows(root)
    grown = _rss_mb() - before
    return f"{[(r['run'], r['state'], r.get('error')) for r in rows]}; memory grew {grown:.0f} MB", rows[0][
        "state"
    ] == "unreadable" and grown < 50


@case("an upload named '.png' (no name)", "refused in one line ('not a usable image id'); the others go on")
def _(tmp):
    import cv2
    import numpy as np

    from saltlab.inference.predict import decode_uploads

    png = cv2.imencode(".png", np.zeros((101, 101), np.uint8))[1].tobytes()
    ids, _, problems = decode_uploads([(".png", png), ("ok.png", png)])
    return f"ids {ids}; problems {problems}", ids == ["ok"] and "not a usable image id" in problems[0][1]


@case("suspect marks of 100,000 nested brackets", "one line naming the file (MarksError); nothing deleted")
def _(tmp):
    from saltlab.core.dataset import load_dataset
    from saltlab.core.suspect_marks import MarksError, _marks_path, marked

    data = demo(tmp)
    ds = load_dataset(data)
    path = _marks_path(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[" * 100_000)
    try:
        marked(ds)
    except MarksError as exc:
        return str(exc)[:200], str(path) in str(exc) and path.is_file() and len(str(exc).splitlines()) == 1
    return "no error", False


@case("a metrics.jsonl line of 100,000 nested brackets", "that line skipped; the run's curves read")
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    with open(run.metrics_path, "a") as f:
        f.write("[" * 100_000 + "\n")
    metrics = run.read_metrics()
    return f"{len(metrics)} records read", len(metrics) > 0 and all(isinstance(m, dict) for m in metrics)


@case("an 8 GB sparse best.pt", "refused from its size in one line (CheckpointError), exit 2; memory stays flat")
def _(tmp):
    data = demo(tmp)
    run = tiny_run(tmp, data)
    with open(run.path / "best.pt", "r+b") as f:
        f.truncate(8 * 10**9)  # sparse: no disk used
    before = _rss_mb()
    result = saltlab_cli("evaluate", str(run.path))
    grown = _rss_mb() - before
    line = error_line(result)
    got = f"exit {result.returncode}; {line}; memory grew {grown:.0f} MB"
    return got, result.returncode == 2 and "8,000,000,000 bytes" in line and "not read" in line and grown < 200


@case(
    "a run's metrics.jsonl and notes grown to 8 GB (sparse)",
    "read with a bound: the registry and the curves read its last records; memory stays flat",
)
def _(tmp):
    from saltlab.runs.registry import registry_rows

    data = demo(tmp)
    run = tiny_run(tmp, data)
    tail = run.metrics_path.read_bytes()
    with open(run.metrics_path, "r+b") as f:
        f.truncate(8 * 10**9)
        f.seek(0, os.SEEK_END)
        f.write(tail)  # the real records after 8 GB of zero bytes
    with open(run.notes_path, "wb") as f:
        f.truncate(8 * 10**9)
    before = _rss_mb()
    metrics = run.read_metrics()
    rows = registry_rows(run.path.parent)
    grown = _rss_mb() - before
    epochs = [m for m in metrics if m.get("kind") == "epoch"]
    states = [r["state"] for r in rows]
    got = f"{len(metrics)} records, {len(epochs)} epochs; registry {states}; memory grew {grown:.0f} MB"
    return got, len(epochs) == 1 and rows[0]["state"] == "done" and grown < 300
