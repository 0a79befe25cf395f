"""Background training runs: a queue with one run per device at a time, cancel and resume.

`submit` writes a run folder (config.json, status "queued"); `tick` starts queued runs whose
device is free, each as a detached `python -m saltlab train --resume RUN` process (its own
session, so it outlives the app that started it). A training process calls `tick` when it
ends, so the queue moves on with no app open. Cancel sends SIGTERM (the run saves last.pt and
marks itself cancelled); resume puts a cancelled or failed run back in the queue.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from saltlab.core.dataset import check_training_data
from saltlab.runs.config import TrainConfig
from saltlab.runs.run_folder import (
    RunFolder,
    checkpoints_root,
    list_runs,
    new_run_dir,
    pid_alive,
    process_start,
    slot_held,
    slot_name,
    spawn_saltlab,
)


def device_slot(device: str) -> str:
    """The device a run will occupy: 'cuda:N' or 'cpu' ('auto' resolved on this machine)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return slot_name(torch.device(device))


@contextmanager
def _queue_lock(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".queue.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def submit(config: TrainConfig, root: str | os.PathLike | None = None, start: bool = True) -> RunFolder:
    """Queue a new run (and start it at once when its device is free). DataSetError, before any folder
    is made, when its data set cannot be trained on; the config records the data set's absolute path."""
    config = replace(config, data=str(check_training_data(config.data).root))
    root = Path(root) if root else checkpoints_root()
    with _queue_lock(root):
        path = new_run_dir(config, root)
        run = RunFolder(path)
        path.mkdir(parents=True)
        run.write_config(config)
        now = time.time()
        run.write_status(
            state="queued",
            slot=device_slot(config.device),
            created=now,
            queued=now,
            epochs=config.total_epochs,
            message="waiting for its device",
            cancel_requested=False,
        )
    if start:
        tick(root)
    return run


def request_resume(run: RunFolder, start: bool = True) -> None:
    status = run.read_status() or {}
    if status.get("state") not in ("cancelled", "failed"):
        raise ValueError(f"only a cancelled or failed run can be resumed; {run.path.name} is {status.get('state')}")
    check_training_data(run.read_config().get("data"))  # DataSetError: its data set is gone or unusable
    with _queue_lock(run.path.parent):
        run.write_status(
            state="queued", queued=time.time(), error=None, message="waiting to resume", cancel_requested=False
        )
    if start:
        tick(run.path.parent)


def cancel(run: RunFolder) -> str:
    """Stop a run: SIGTERM to a running one, or take a queued one out of the queue."""
    with _queue_lock(run.path.parent):
        status = run.read_status() or {}
        state = status.get("state")
        if state == "queued":
            run.write_status(state="cancelled", message="cancelled while queued")
            return "cancelled while queued"
        if state == "running":
            run.write_status(cancel_requested=True)
            try:
                os.kill(status["pid"], signal.SIGTERM)
            except ProcessLookupError:
                return "the process had already ended"
            return "stopping: the run saves last.pt and marks itself cancelled"
    return f"nothing to cancel: the run is {state}"


def _spawn(run: RunFolder) -> tuple[int, int | None]:
    """Start a queued run's trainer, and beside it a watcher (`queue-watch`) that starts the next queued run
    once the trainer's process is gone, however it ended (the trainer also does so itself when it ends
    normally); a trainer killed with SIGKILL therefore still moves the queue on. Returns the trainer's pid
    and start time (handed to the watcher: read later, a reused pid could be taken for the trainer)."""
    env = {"SALTLAB_CHECKPOINTS": str(run.path.parent)}
    pid = spawn_saltlab(["train", "--resume", str(run.path)], run.path / "process.log", env)
    start = process_start(pid)
    watch = ["queue-watch", str(run.path), str(pid)] + (["--start", str(start)] if start is not None else [])
    spawn_saltlab(watch, run.path / "process.log", env)
    return pid, start


def watch_then_tick(
    run_path: Path, pid: int, start: int | None = None, poll_s: float = 1.0, retries: int = 5
) -> list[RunFolder]:
    """Wait until the trainer `pid` (with start time `start`) is gone, then start the next queued runs of
    its folder. Tries again a few times, poll_s apart, while runs wait for its device and none started:
    a device still held for an instant after the death must not leave the queue standing. Says what it
    did on stdout (the run's process.log)."""
    start = start if start is not None else process_start(pid)
    while pid_alive(pid, start):
        time.sleep(poll_s)
    slot = (RunFolder(run_path).read_status(check_process=False) or {}).get("slot", "cpu")
    for attempt in range(retries + 1):
        started = tick(run_path.parent)
        if started or not _waiting_on(run_path.parent, slot):
            break
        time.sleep(poll_s)
    names = ", ".join(r.path.name for r in started) or "nothing (no run waits for its device, or it is busy)"
    print(f"queue-watch: the trainer (pid {pid}) has ended; started {names}", flush=True)
    return started


def _waiting_on(root: Path, slot: str) -> bool:
    """Some run waits for the device `slot` and none runs on it."""
    states = [(s.get("state"), s.get("slot", "cpu")) for r in list_runs(root) if (s := r.read_status() or {})]
    return ("queued", slot) in states and ("running", slot) not in states


def recover(root: str | os.PathLike | None = None) -> list[RunFolder]:
    """After a crash (trainer and watcher killed, a reboot): mark every run whose status still says
    "running" but whose process is gone as failed, on disk, then start the next queued runs.
    Called when the app starts and by the CLI commands that touch runs; returns the runs marked."""
    root = Path(root) if root else checkpoints_root()
    if not root.is_dir():
        return []
    marked = []
    with _queue_lock(root):
        for run in list_runs(root):
            if (run.read_status(check_process=False) or {}).get("state") != "running":
                continue
            seen = run.read_status() or {}  # how a dead "running" run reads (failed, or cancelled), written down
            if seen.get("state") != "running":
                run.write_status(**{k: seen.get(k) for k in ("state", "error", "message")})
                marked.append(run)
    tick(root)
    return marked


def tick(root: str | os.PathLike | None = None) -> list[RunFolder]:
    """Start the queued runs (oldest first) whose device is free; returns those started."""
    root = Path(root) if root else checkpoints_root()
    started: list[RunFolder] = []
    if not root.is_dir():
        return started  # no runs folder, nothing queued (and none made just to look)
    with _queue_lock(root):
        runs = [(r, r.read_status() or {}) for r in list_runs(root)]
        busy = {s.get("slot") for _, s in runs if s.get("state") == "running"}
        busy |= {slot for _, s in runs if (slot := s.get("slot", "cpu")) not in busy and slot_held(slot, root)}
        queued = sorted((x for x in runs if x[1].get("state") == "queued"), key=lambda x: x[1].get("queued", 0))
        for run, status in queued:
            slot = status.get("slot", "cpu")
            if slot in busy:
                continue
            pid, start = _spawn(run)
            run.write_status(state="running", pid=pid, pid_start=start, message="starting", started=time.time())
            busy.add(slot)
            started.append(run)
    return started


def queue_position(run: RunFolder) -> int | None:
    """1 for the next queued run on its device, 2 for the one after, ...; None when not queued."""
    status = run.read_status() or {}
    if status.get("state") != "queued":
        return None
    same = [
        s
        for r in list_runs(run.path.parent)
        if (s := r.read_status() or {}).get("state") == "queued" and s.get("slot") == status.get("slot")
    ]
    return 1 + sum(s.get("queued", 0) < status.get("queued", 0) for s in same)
