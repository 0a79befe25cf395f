"""A training run's folder: config.json, status.json, metrics.jsonl, train.log, best.pt, last.pt.

status.json is rewritten atomically. A run is alive only while proven so: its trainer holds an
exclusive lock on RUN/.lock (released by the kernel whatever way the process ends), or, in the
seconds before the trainer takes it, the recorded pid exists with the recorded start time (a pid
reused by another process does not count). A reader that finds state "running" otherwise reports
the run as failed ("process died"), never running forever. Folders that cannot be read are still
listed, with the reason (`RunFolder.problem`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from saltlab.core.errors import SaltLabError
from saltlab.core.fileio import (  # noqa: F401 (write_json_atomic re-exported)
    JSON_LIMIT_BYTES,
    parse_json,
    read_bounded,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from saltlab.core.paths import checkpoints_root  # noqa: F401 (re-exported: the runs' home)
from saltlab.runs.records import STATES, RunSplit, RunStatus, check_status_fields  # noqa: F401 (STATES re-exported)

if TYPE_CHECKING:
    from saltlab.runs.config import TrainConfig

PROJECT = Path(__file__).resolve().parents[2]


class RunBusy(SaltLabError, RuntimeError):
    """The run folder is in use by a live process (training, or being resumed elsewhere)."""


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid, start: int | None = None) -> bool:
    """A live (not zombie) process with this pid, and, when `start` is given, that start time."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc: the kill probe is all we have
    if fields[0] == "Z":  # exited, not yet reaped by its parent
        return False
    return start is None or not isinstance(start, int) or int(fields[19]) == start


def stamped_folder(root: Path, prefix: str) -> Path:
    """root/PREFIX-TIMESTAMP, or PREFIX-TIMESTAMP-2, -3... when taken (not created here)."""
    base = root / f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def spawn_saltlab(args: list[str], log_path: Path, env: dict | None = None) -> int:
    """Start `python -m saltlab ARGS` detached (its own session: it outlives the app), output appended to
    log_path; returns its pid. Used for background training runs and prediction jobs."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "saltlab", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return proc.pid


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "train.log")
    best_path = property(lambda self: self.path / "best.pt")
    last_path = property(lambda self: self.path / "last.pt")
    split_path = property(lambda self: self.path / "split.json")
    notes_path = property(lambda self: self.path / "notes.txt")
    label_path = property(lambda self: self.path / "name.txt")
    lock_path = property(lambda self: self.path / ".lock")

    def exists(self) -> bool:
        return self.config_path.is_file()

    def write_status(self, **fields) -> dict:
        """Merge fields into status.json (RunStatus's fields only: TypeError for any other name)."""
        check_status_fields(fields)
        status = self.read_status(check_process=False) or {}
        status.update(fields, updated=time.time())
        write_json_atomic(self.status_path, status)
        return status

    def read_status(self, check_process: bool = True) -> dict | None:
        """status.json as a dict (None when missing or not a JSON object); a dead "running" run reads as failed."""
        try:
            status = read_json(self.status_path)
        except (OSError, ValueError):
            return None
        if not isinstance(status, dict):
            return None
        if check_process and status.get("state") == "running" and not self.alive(status):
            if status.get("cancel_requested"):
                status["state"] = "cancelled"  # it died of the cancel before it could say so itself
                status["message"] = "cancelled while starting"
            else:
                status["state"] = "failed"
                status["error"] = status.get("error") or "the process died without saying so (killed?)"
        return status

    def status(self, check_process: bool = True) -> RunStatus | None:
        """status.json as a typed record (see read_status)."""
        raw = self.read_status(check_process)
        return None if raw is None else RunStatus.from_dict(raw)

    def lock_held(self) -> bool:
        """Whether a live process holds this folder's lock (a trainer at work)."""
        return _locked(self.lock_path, fcntl.LOCK_SH)

    def alive(self, status: dict | None = None) -> bool:
        """Proven alive: the lock is held, or the recorded pid runs with its recorded start time."""
        status = status if status is not None else (self.read_status(check_process=False) or {})
        return self.lock_held() or pid_alive(status.get("pid"), status.get("pid_start"))

    def acquire(self) -> int:
        """Take the folder's lock for this process (kept until the returned fd is closed or the process ends).
        RunBusy when another live process holds it."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _flock_within(fd, fcntl.LOCK_EX, ACQUIRE_WAIT_S):
            os.close(fd)
            pid = (self.read_status(check_process=False) or {}).get("pid")
            raise RunBusy(
                f"{self.path} is in use by another live process{f' (pid {pid})' if pid else ''}: "
                "cancel it first, or wait for it to end"
            ) from None
        return fd

    def data_path(self) -> str | None:
        """The data set the run trains on: from split.json (absolute, as loaded), else config.json."""
        split = self.read_split()
        if split and split.get("data"):
            return split["data"]
        try:
            config = self.read_config()
        except (OSError, ValueError):
            return None
        return config.get("data") if isinstance(config, dict) else None

    def problem(self) -> str | None:
        """Why this folder cannot be read as a run, or None when it can."""
        if not self.config_path.is_file():
            return "no config.json"
        try:
            config = read_json(self.config_path)
        except (OSError, ValueError) as exc:
            return f"config.json unreadable ({type(exc).__name__}: {str(exc)[:80]})"
        if (
            not isinstance(config, dict)
            or not isinstance(config.get("model"), dict)
            or not isinstance(config.get("stages"), list)
        ):
            return "config.json is not a run's config (no model or stages)"
        if self.status_path.exists():
            try:
                status = read_json(self.status_path)
            except (OSError, ValueError) as exc:
                return f"status.json unreadable ({type(exc).__name__})"
            if not isinstance(status, dict):
                return f"status.json holds a {type(status).__name__}, not an object"
        return None

    def created(self, status: dict | RunStatus | None = None) -> float:
        """When the run was made: recorded in status.json (`status` when the caller has read it already),
        else the folder's oldest file time."""
        if status is None:
            status = self.read_status(check_process=False) or {}
        for key in ("created", "queued", "started"):
            value = status.get(key)
            if isinstance(value, (int, float)):
                return float(value)
        try:
            return min(p.stat().st_mtime for p in (self.path, self.config_path) if p.exists())
        except (OSError, ValueError):
            return 0.0

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        try:  # bounded: the last 64 MiB (a run writes about 1 KB an epoch)
            lines = read_bounded(self.metrics_path, JSON_LIMIT_BYTES, tail=True).decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(parse_json(line))
            except ValueError:
                continue  # a line cut by a kill
        return out

    def read_config(self) -> dict:
        """config.json as a dict; a model config written before one of its fields existed reads as its
        model was trained (models.spec.as_trained)."""
        from saltlab.models.spec import as_trained  # lazy: the models package imports torch

        config = read_json(self.config_path)
        if isinstance(config, dict) and isinstance(config.get("model"), dict):
            config["model"] = as_trained(config["model"])
        return config

    def write_config(self, config: TrainConfig) -> None:
        """config.json, written atomically (a crash leaves the old one or the new one, never half of one)."""
        write_text_atomic(self.config_path, config.to_json())

    def read_notes(self) -> str:
        """The user's notes on this run ("" when none)."""
        return _text_or_empty(self.notes_path)

    def write_notes(self, text: str) -> None:
        write_text_atomic(self.notes_path, text)

    def read_label(self) -> str:
        """The name the user gave this run, one line ("" when none; the folder name stays the run's id)."""
        return _text_or_empty(self.label_path).strip()

    def write_label(self, text: str) -> None:
        write_text_atomic(self.label_path, " ".join(text.split())[:80])

    def write_split(self, split: dict) -> None:
        """The ids the run trains and validates on, with the data set they came from (see engine._split)."""
        write_json_atomic(self.split_path, split)

    def split(self) -> RunSplit | None:
        """split.json as a typed record; None when it is missing, unreadable or not a split."""
        try:
            return RunSplit.from_dict(read_json(self.split_path))
        except (OSError, ValueError):
            return None

    def read_split(self) -> dict | None:
        split = self.split()
        return None if split is None else split.to_dict()


NOTE_LIMIT_BYTES = 2**20  # a run's notes or name, as the user typed them; more is not read


def _text_or_empty(path: Path) -> str:
    """A small text file the user writes (notes, name); "" when it is missing or unreadable."""
    try:
        return read_bounded(path, NOTE_LIMIT_BYTES).decode()
    except (OSError, UnicodeDecodeError):
        return ""


def list_runs(root: str | os.PathLike | None = None) -> list[RunFolder]:
    """Every run folder under root, newest first (by creation time); readable or not (see RunFolder.problem).
    Hidden folders (.archive, .queue.lock) are not runs."""
    root = Path(root) if root else checkpoints_root()
    if not root.is_dir():
        return []
    runs = [RunFolder(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(runs, key=lambda r: (r.created(), r.path.name), reverse=True)


def slot_name(device) -> str:
    """A device's slot in the queue, from a torch.device: 'cpu', 'cuda:0', 'cuda:1', ..."""
    return "cpu" if device.type == "cpu" else f"{device.type}:{device.index or 0}"


def _slot_lock_path(slot: str, root: Path | None) -> Path:
    return (root or checkpoints_root()) / ".slots" / f"{slot.replace(':', '-')}.lock"


def hold_slot(slot: str, root: Path | None = None) -> int | None:
    """Hold a device's slot for this process's life (a shared lock on ROOT/.slots/SLOT.lock): every trainer,
    from the queue or the command line, holds its device's, so the queue starts no second run beside it.
    Returns the descriptor (closed to let go), or None when the runs folder cannot be written."""
    try:
        path = _slot_lock_path(slot, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


ACQUIRE_WAIT_S = 1.0  # a reader's probe holds the lock for microseconds; a trainer holds it for its whole life


def _flock_within(fd: int, mode: int, wait_s: float) -> bool:
    """Take the lock, trying again for up to wait_s (another process's probe may hold it for an instant)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def _locked(path: Path, probe: int = fcntl.LOCK_EX) -> bool:
    """Whether a live process holds a lock on the file (flock: the kernel lets go when the holder dies).

    The probe takes the lock `probe` for an instant. LOCK_SH finds an exclusive holder and never collides
    with another shared probe (the run lock: many readers probe it at once, and an exclusive probe seen
    by another probe read as a live trainer); LOCK_EX is needed to find shared holders (the slot lock,
    probed only under the queue lock)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, probe | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def slot_held(slot: str, root: Path | None = None) -> bool:
    """Whether a live trainer holds the device's slot (see hold_slot)."""
    return _locked(_slot_lock_path(slot, root))


class RunLinkRefused(SaltLabError, ValueError):
    """A run folder given as a symbolic link, which delete and archive do not follow."""


def remove_run(run: RunFolder, archive: bool = False) -> Path | None:
    """Delete a run folder, or move it to ROOT/.archive/ (returns where); RunBusy while it is alive."""
    if run.path.is_symlink():
        # Deleting through a link would reach whatever it points at; the user says which one is meant.
        raise RunLinkRefused(
            f"{run.path} is a link to {os.path.realpath(run.path)}: remove the link itself, or delete or archive "
            "the folder it points to by its own path"
        )
    if not run.path.is_dir():
        raise FileNotFoundError(f"no run folder {run.path}")
    # Busy: a trainer holds the lock, or status says running and the recorded process is that run's.
    if run.lock_held() or (run.read_status() or {}).get("state") == "running":
        raise RunBusy(f"{run.path.name} is running: cancel it before deleting or archiving it")
    fd = run.acquire()  # no trainer can start on it meanwhile
    try:
        if archive:
            shelf = run.path.parent / ".archive"
            target = shelf / run.path.name
            if target.exists():
                target = stamped_folder(shelf, run.path.name)
            shelf.mkdir(parents=True, exist_ok=True)
            shutil.move(str(run.path), str(target))
            return target
        shutil.rmtree(run.path)
        return None
    finally:
        os.close(fd)


def new_run_dir(config: TrainConfig, root: Path | None = None) -> Path:
    """A fresh folder name under root (default: checkpoints_root()): NAME-fFOLD-TIMESTAMP[-k]."""
    return stamped_folder(root or checkpoints_root(), f"{config.name}-f{config.fold}")
