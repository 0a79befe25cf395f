"""Full-test-set prediction as a background job, like a training run: a folder, a status, one detached process.

`start_job` writes PREDICTIONS/predict-TIMESTAMP/ (job.json with the options) and starts
`python -m saltlab predict ... --status status.json` in its own session, so the job outlives the
page (and the app) that started it. The command writes its progress to status.json; a reader that
finds "running" with a dead process reports the job as failed. The outputs are submission.csv
(written atomically) and masks/ (one PNG per test image).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from saltlab.core.fileio import read_json, write_json_atomic
from saltlab.core.sources import DataSetError
from saltlab.runs.run_folder import RunFolder, checkpoints_root, process_start, spawn_saltlab, stamped_folder


def jobs_root() -> Path:
    """SALTLAB_PREDICTIONS, else predictions/ beside the checkpoints folder."""
    env = os.environ.get("SALTLAB_PREDICTIONS")
    return Path(env) if env else checkpoints_root().absolute().parent / "predictions"


class PredictJob(RunFolder):
    """A job folder; status.json is read and written as a run's is (same process-death check)."""

    options_path = property(lambda self: self.path / "job.json")
    csv_path = property(lambda self: self.path / "submission.csv")
    masks_dir = property(lambda self: self.path / "masks")
    log_path = property(lambda self: self.path / "process.log")

    def exists(self) -> bool:
        return self.options_path.is_file()

    def options(self) -> dict:
        return read_json(self.options_path)


def start_job(
    runs: list[str],
    data: str,
    tta: bool = False,
    threshold: float = 0.5,
    min_size: int = 0,
    root: str | os.PathLike | None = None,
    device: str = "auto",
) -> PredictJob:
    """Start predicting every test image of `data` with the runs (averaged) in the background.

    DataSetError, before any folder is made, when `data` has no test images; job.json records the data
    set's absolute path and fingerprint beside the models."""
    from saltlab.core.dataset import load_dataset

    ds = load_dataset(data)
    if not ds.n_test:
        raise DataSetError(f"{ds.root} has no test images to predict")
    root = Path(root) if root else jobs_root()
    root.mkdir(parents=True, exist_ok=True)
    path = stamped_folder(root, "predict")
    path.mkdir()
    job = PredictJob(path)
    options = {
        "runs": [str(Path(r).absolute()) for r in runs],
        "data": str(ds.root),
        "fingerprint": ds.fingerprint,
        "n_test": ds.n_test,
        "tta": tta,
        "threshold": threshold,
        "min_size": min_size,
        "device": device,
    }
    write_json_atomic(job.options_path, options)
    command = [
        "predict",
        "--runs",
        *options["runs"],
        "--data",
        options["data"],
        "--out",
        str(job.csv_path),
        "--png-dir",
        str(job.masks_dir),
        "--threshold",
        str(threshold),
        "--min-size",
        str(min_size),
        "--device",
        device,
        "--status",
        str(job.status_path),
    ]
    if tta:
        command.append("--tta")
    job.write_status(state="running", message="starting", started=time.time(), done=0, total=0)
    pid = spawn_saltlab(command, job.log_path)
    job.write_status(pid=pid, pid_start=process_start(pid))
    return job


def cancel_job(job: PredictJob) -> str:
    status = job.read_status() or {}
    if status.get("state") != "running":
        return f"nothing to cancel: the job is {status.get('state')}"
    try:
        os.kill(status["pid"], signal.SIGTERM)
    except (ProcessLookupError, KeyError):
        return "the process had already ended"
    return "stopping"


def list_jobs(root: str | os.PathLike | None = None) -> list[PredictJob]:
    """Jobs, newest first."""
    root = Path(root) if root else jobs_root()
    if not root.is_dir():
        return []
    jobs = [PredictJob(p) for p in root.iterdir() if (p / "job.json").is_file()]
    return sorted(jobs, key=lambda j: j.path.name, reverse=True)
