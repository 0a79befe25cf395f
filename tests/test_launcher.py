"""Background runs for real: the queue (one run per device), cancel, resume, a dead process, restart-proofing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from saltlab.jobs.launcher import cancel, queue_position, request_resume, submit, watch_then_tick
from saltlab.runs.checkpoint import load_checkpoint
from saltlab.runs.config import from_dict, load_config
from saltlab.runs.run_folder import RunFolder, hold_slot
from tests.helpers import wait_for


def smoke(data: Path, **extra):
    values = load_config("smoke")
    values.update(data=str(data), n_folds=5, device="cpu", **extra)
    return from_dict(values)


def wait_state(run: RunFolder, states: set[str], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = run.read_status() or {}
        if status.get("state") in states:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.path.name} stayed {status.get('state')}: {status}")
        time.sleep(0.1)


def test_queue_runs_one_at_a_time_and_moves_on_by_itself(demo_root, tmp_path):
    first = submit(smoke(demo_root), tmp_path)
    second = submit(smoke(demo_root, seed=1), tmp_path)
    assert first.read_status()["state"] == "running"
    assert second.read_status()["state"] == "queued" and queue_position(second) == 1
    done = wait_state(first, {"done", "failed"})
    assert done["state"] == "done", (first.path / "process.log").read_text()[-2000:]
    # Nobody calls tick: the finished run started the next one itself.
    assert wait_state(second, {"running", "done"})["state"] in ("running", "done")
    assert wait_state(second, {"done", "failed"})["state"] == "done"
    assert load_checkpoint(second.best_path)["config"]["seed"] == 1


def test_cancel_queued_and_running_then_resume(demo_root, tmp_path):
    longer = smoke(demo_root)
    longer.stages[0].epochs = 3
    running = submit(longer, tmp_path)
    queued = submit(smoke(demo_root), tmp_path)
    assert cancel(queued) == "cancelled while queued"
    assert queued.read_status()["state"] == "cancelled"
    wait_state(running, {"running"})
    deadline = time.monotonic() + 120
    while not any(m["kind"] == "step" for m in running.read_metrics()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "stopping" in cancel(running)
    assert wait_state(running, {"cancelled", "failed"})["state"] == "cancelled"
    assert running.last_path.is_file()
    with pytest.raises(ValueError, match="only a cancelled or failed run"):
        request_resume(_done_run(demo_root, tmp_path))
    request_resume(running)
    assert wait_state(running, {"done", "failed"})["state"] == "done"
    assert [m["epoch"] for m in running.read_metrics() if m["kind"] == "epoch"][-1] == 3


def _done_run(demo_root: Path, tmp_path: Path) -> RunFolder:
    """A finished run as its folder says (written by hand: what resume reads is its status)."""
    run = RunFolder(tmp_path / "other" / "finished")
    run.path.mkdir(parents=True)
    run.write_config(smoke(demo_root))
    run.write_status(state="done", finished=time.time())
    return run


def test_killed_process_shows_failed_and_queue_continues(demo_root, tmp_path):
    longer = smoke(demo_root)
    longer.stages[0].epochs = 5
    victim = submit(longer, tmp_path)
    waiting = submit(smoke(demo_root), tmp_path)
    pid = wait_state(victim, {"running"})["pid"]
    wait_for(lambda: any(m.get("kind") == "step" for m in victim.read_metrics()), 120, "the victim's first step")
    os.kill(pid, signal.SIGKILL)
    status = wait_state(victim, {"failed"}, timeout=30)
    assert "died" in status["error"]
    # Nobody calls tick: the killed trainer's queue process starts the next run.
    assert wait_state(waiting, {"done", "failed"})["state"] == "done"


def test_the_watcher_waits_out_a_device_held_for_a_moment_after_the_death(demo_root, tmp_path):
    """The killed trainer's watcher ticks again while its device still reads busy, instead of giving up."""
    dead = RunFolder(tmp_path / "dead")
    dead.path.mkdir()
    dead.write_status(state="failed", slot="cpu")
    waiting = submit(smoke(demo_root), tmp_path, start=False)
    slot = hold_slot("cpu", tmp_path)  # still held for a moment (a lingering holder, a probe)
    threading.Timer(1.5, os.close, (slot,)).start()
    started = watch_then_tick(dead.path, 999999999, poll_s=0.5)
    assert [r.path for r in started] == [waiting.path]
    assert wait_state(waiting, {"running"})["state"] == "running"
    assert "stopping" in cancel(waiting)
    assert wait_state(waiting, {"cancelled", "failed", "done"}, timeout=60)["state"] == "cancelled"


def test_cancel_while_starting_ends_cancelled_not_failed(demo_root, tmp_path):
    run = submit(smoke(demo_root), tmp_path)
    assert run.read_status()["state"] == "running"
    assert "stopping" in cancel(run)  # at once: the process is still importing torch
    status = wait_state(run, {"cancelled", "failed", "done"}, timeout=60)
    assert status["state"] == "cancelled", status
    request_resume(run)
    assert wait_state(run, {"done", "failed"})["state"] == "done"


def test_all_folds_queues_one_run_per_fold(demo_root, tmp_path):
    import json
    import subprocess
    import sys

    project = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SALTLAB_CHECKPOINTS": str(tmp_path), "PYTHONPATH": str(project)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "saltlab",
            "train",
            "--config",
            "smoke",
            "--data",
            str(demo_root),
            "--set",
            "n_folds=2",
            "--device",
            "cpu",
            "--all-folds",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "queued 2 runs, one per fold" in result.stdout
    runs = sorted(
        (RunFolder(p) for p in tmp_path.iterdir() if (p / "config.json").is_file()),
        key=lambda r: r.read_config()["fold"],
    )
    assert [r.read_config()["fold"] for r in runs] == [0, 1]
    states = [r.read_status()["state"] for r in runs]
    assert states[0] in ("running", "done") and states[1:] == ["queued"]
    for run in runs:  # both train, one after the other, with no app open
        assert wait_state(run, {"done", "failed"})["state"] == "done"
    started = [r.read_status()["started"] for r in runs]
    assert started == sorted(started)
    assert json.loads((runs[1].path / "config.json").read_text())["fold"] == 1
