"""The run registry never breaks: broken folders listed with the reason, liveness proven (lock, or pid
plus start time), resume refused on a live run, newest first, delete and archive (refused while alive)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from saltlab.jobs.launcher import submit, tick
from saltlab.runs.registry import registry_rows
from saltlab.runs.run_folder import RunBusy, RunFolder, list_runs, process_start, remove_run
from tests.helpers import PROJECT, env_for
from tests.test_launcher import smoke, wait_state


def _run(root, name: str, status: dict | None = None, config: str | None = None) -> RunFolder:
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
        run.status_path.write_text(json.dumps(status))
    return run


def _broken_folders(root) -> None:
    (root / "no-config").mkdir(parents=True)
    _run(root, "truncated-config", config='{"name": "x", "model": {"ar')
    _run(root, "status-is-a-list").status_path.write_text("[1, 2]")
    _run(root, "config-is-a-list", config="[]")
    _run(root, "bad-pid", {"state": "running", "pid": "abc"})
    _run(
        root, "stale-pid", {"state": "running", "pid": os.getpid(), "pid_start": (process_start(os.getpid()) or 0) + 1}
    )


def test_broken_folders_are_listed_with_the_reason(tmp_path):
    _broken_folders(tmp_path)
    rows = {r["run"]: r for r in registry_rows(tmp_path)}
    assert len(rows) == 6
    assert rows["no-config"]["error"] == "no config.json"
    assert rows["truncated-config"]["error"].startswith("config.json unreadable (JSONDecodeError")
    assert rows["status-is-a-list"]["error"] == "status.json holds a list, not an object"
    assert rows["config-is-a-list"]["error"] == "config.json is not a run's config (no model or stages)"
    assert all(
        rows[n]["state"] == "unreadable"
        for n in ("no-config", "truncated-config", "status-is-a-list", "config-is-a-list")
    )
    # A pid that is not a number, and a pid now used by another process (this test's), read as dead.
    assert rows["bad-pid"]["state"] == "failed" and rows["stale-pid"]["state"] == "failed"
    cli = subprocess.run(
        [sys.executable, "-m", "saltlab", "runs", "--root", str(tmp_path)],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "Traceback" not in cli.stderr
    assert "no-config" in cli.stdout and "unreadable: status.json holds a list" in cli.stdout


def test_liveness_is_proven_by_pid_and_start_time(tmp_path):
    me, start = os.getpid(), process_start(os.getpid())
    assert start is not None
    live = _run(tmp_path, "live", {"state": "running", "pid": me, "pid_start": start})
    assert live.read_status()["state"] == "running"
    reused = _run(tmp_path, "reused", {"state": "running", "pid": me, "pid_start": start - 1})
    assert reused.read_status()["state"] == "failed"
    # The lock alone proves it too, whatever the recorded pid says.
    locked = _run(tmp_path, "locked", {"state": "running", "pid": 999999999})
    fd = locked.acquire()
    try:
        assert locked.read_status()["state"] == "running"
        with pytest.raises(RunBusy, match="locked is running: cancel it before deleting"):
            remove_run(locked)
    finally:
        os.close(fd)
    assert locked.read_status()["state"] == "failed"  # lock released, pid gone: dead


def test_a_readers_probe_is_not_a_live_trainer(tmp_path):
    """Many readers probe a run's lock at once (the app every 2 s, the CLI, the queue's watcher): a probe in
    progress must not read as a trainer holding it (it left a killed run's queue standing), and a trainer
    starting during a probe still gets its lock."""
    import fcntl
    import threading

    dead = _run(tmp_path, "dead", {"state": "running", "pid": 999999999})
    probe = os.open(dead.lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(probe, fcntl.LOCK_SH)  # what another reader's probe holds for an instant
        assert not dead.lock_held() and dead.read_status()["state"] == "failed"
        threading.Timer(0.2, fcntl.flock, (probe, fcntl.LOCK_UN)).start()  # the probe lets go
        os.close(dead.acquire())  # a trainer starting meanwhile waits out the probe instead of failing
    finally:
        os.close(probe)


def test_queue_moves_on_past_broken_folders(demo_root, tmp_path):
    _broken_folders(tmp_path)
    run = submit(smoke(demo_root), tmp_path, start=False)
    started = tick(tmp_path)
    assert [r.path for r in started] == [run.path]
    assert wait_state(run, {"done", "failed"})["state"] == "done", (run.path / "process.log").read_text()[-2000:]


def test_resume_refuses_a_live_run(tmp_path, demo_root):
    run = _run(tmp_path, "busy", {"state": "cancelled"})
    fd = run.acquire()  # a trainer at work on it (this process holds the lock)
    try:
        resumed = subprocess.run(
            [sys.executable, "-m", "saltlab", "train", "--resume", str(run.path)],
            cwd=PROJECT,
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(fd)
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr
    assert "in use by another live process" in resumed.stderr
    assert run.read_status()["state"] == "cancelled"  # untouched: not marked failed


def test_newest_first_by_creation_time(tmp_path):
    now = time.time()
    _run(tmp_path, "a-newest", {"state": "done", "created": now})
    _run(tmp_path, "z-oldest", {"state": "done", "created": now - 100})
    _run(tmp_path, "m-middle", {"state": "done", "created": now - 50})
    assert [r.path.name for r in list_runs(tmp_path)] == ["a-newest", "m-middle", "z-oldest"]
    assert [r["run"] for r in registry_rows(tmp_path)] == ["a-newest", "m-middle", "z-oldest"]


def test_delete_and_archive_from_the_cli(tmp_path):
    _run(tmp_path, "old", {"state": "done"})
    _run(tmp_path, "gone", {"state": "failed"})
    env = env_for(tmp_path)

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "saltlab", "runs", "--root", str(tmp_path), *args],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    archived = cli("--archive", "old")
    assert archived.returncode == 0, archived.stderr
    assert (tmp_path / ".archive" / "old" / "config.json").is_file() and not (tmp_path / "old").exists()
    deleted = cli("--delete", "gone")
    assert deleted.returncode == 0 and not (tmp_path / "gone").exists()
    assert [r.path.name for r in list_runs(tmp_path)] == []  # the archive is not a run
    missing = cli("--delete", "nope")
    assert missing.returncode == 2 and "no run folder" in missing.stderr
    live = _run(tmp_path, "live", {"state": "running", "pid": os.getpid(), "pid_start": process_start(os.getpid())})
    refused = cli("--delete", "live")
    assert refused.returncode == 2 and "is running: cancel it before" in refused.stderr and live.path.is_dir()


def test_a_row_says_notes_created_images_and_on_how_many_images_it_scored(trained_run, tmp_path):
    import shutil

    from saltlab.runs.registry import run_row

    copy = RunFolder(tmp_path / "copy")
    shutil.copytree(trained_run.path, copy.path, ignore=shutil.ignore_patterns("eval"))
    copy.write_notes("BCE only, lr 1e-3\nsecond line")
    assert run_row(copy)["name"] == ""  # no name given
    copy.write_label("  BCE\nonly ")
    row = run_row(copy)
    assert row["name"] == "BCE only"
    split = trained_run.read_split()
    assert row["notes"] == "BCE only, lr 1e-3"
    assert row["train images"] == len(split["train_ids"]) and row["scored on"] == len(split["monitor_ids"])
    assert row["created"] and row["created"][:2] == "20"


def test_config_diff_names_each_setting_that_differs():
    from saltlab.runs.registry import config_diff

    a = {"lr": 1e-3, "model": {"encoder": "resnet34"}, "stages": [{"loss": "bce", "epochs": 5}]}
    b = {"lr": 1e-3, "model": {"encoder": "resnet18"}, "stages": [{"loss": "bce_dice", "epochs": 5}], "seed": 2}
    assert config_diff(a, b) == [
        ("model.encoder", "resnet34", "resnet18"),
        ("seed", None, 2),
        ("stages.0.loss", "bce", "bce_dice"),
    ]
    assert config_diff(a, a) == []


def test_runs_holding_out_an_image_are_the_finished_runs_that_validated_it(trained_run, tmp_path):
    import shutil

    from saltlab.runs.registry import runs_holding_out

    for name in ("done", "unfinished"):
        shutil.copytree(trained_run.path, tmp_path / name, ignore=shutil.ignore_patterns("eval"))
    (tmp_path / "unfinished" / "best.pt").unlink()
    split = trained_run.read_split()
    assert runs_holding_out(split["val_ids"][0], tmp_path) == ["done"]
    assert runs_holding_out(split["train_ids"][0], tmp_path) == []  # trained on: not a validation image
    assert runs_holding_out("no-such-id", tmp_path) == []
    # The validation ids are cached per split.json; a changed split is read again.
    RunFolder(tmp_path / "done").write_split({**split, "val_ids": [split["train_ids"][0]]})
    assert runs_holding_out(split["train_ids"][0], tmp_path) == ["done"]
    assert runs_holding_out(split["val_ids"][0], tmp_path) == []


def test_status_and_split_are_typed_records_that_keep_unknown_keys(tmp_path):
    """A writer's typo is refused; a reader keeps keys it does not know and reads a wrongly typed value as
    unset, so an older or newer SaltLab's files still load and are written back whole."""
    import json

    import pytest

    from saltlab.runs.run_folder import RunFolder

    run = RunFolder(tmp_path)
    (tmp_path / "status.json").write_text(
        json.dumps({"state": "done", "best_score": "high", "epoch": True, "from_the_future": [1, 2]})
    )
    status = run.status()
    assert status.state == "done" and status.best_score is None and status.epoch is None
    assert status.extra == {"from_the_future": [1, 2]} and status.get("from_the_future") == [1, 2]
    with pytest.raises(TypeError, match="best_scor"):
        run.write_status(best_scor=0.7)
    run.write_status(best_score=0.75, epoch=3)
    again = json.loads((tmp_path / "status.json").read_text())
    assert again["from_the_future"] == [1, 2] and again["best_score"] == 0.75 and again["epoch"] == 3
    (tmp_path / "split.json").write_text(json.dumps({"val_ids": ["a"], "train_ids": ["b"], "fold": "x", "new": 1}))
    split = run.split()
    assert split.val_ids == ["a"] and split.fold is None and split.extra == {"new": 1}
    (tmp_path / "split.json").write_text(json.dumps({"train_ids": ["b"]}))
    assert run.split() is None and run.read_split() is None
