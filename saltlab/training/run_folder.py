"""A training run's folder: config.json, status.json, metrics.jsonl, train.log, best.pt, last.pt.

status.json is rewritten atomically; a reader that finds state "running" with a process that
no longer exists reports the run as failed ("process died"), never running forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

STATES = ("queued", "running", "done", "failed", "cancelled")


def checkpoints_root() -> Path:
    """Where runs live: SALTLAB_CHECKPOINTS, else checkpoints/ in the current folder."""
    return Path(os.environ.get("SALTLAB_CHECKPOINTS") or "checkpoints")


def write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


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
        proc = subprocess.Popen([sys.executable, "-m", "saltlab", *args], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)  # fmt: skip
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

    def exists(self) -> bool:
        return self.config_path.is_file()

    def write_status(self, **fields) -> dict:
        status = self.read_status(check_process=False) or {}
        status.update(fields, updated=time.time())
        write_json_atomic(self.status_path, status)
        return status

    def read_status(self, check_process: bool = True) -> dict | None:
        try:
            status = json.loads(self.status_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if check_process and status.get("state") == "running" and not pid_alive(status.get("pid")):
            if status.get("cancel_requested"):
                status["state"] = "cancelled"  # it died of the cancel before it could say so itself
                status["message"] = "cancelled while starting"
            else:
                status["state"] = "failed"
                status["error"] = status.get("error") or "the process died without saying so (killed?)"
        return status

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        try:
            lines = self.metrics_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill
        return out

    def read_config(self) -> dict:
        return json.loads(self.config_path.read_text())


def list_runs(root: str | os.PathLike | None = None) -> list[RunFolder]:
    root = Path(root) if root else checkpoints_root()
    if not root.is_dir():
        return []
    return sorted((RunFolder(p) for p in root.iterdir() if (p / "config.json").is_file()), key=lambda r: r.path.name)
