"""In a real browser: a run keeps going while the app is stopped and started again, and is still shown."""

import os

import pytest
from playwright.sync_api import expect

from saltlab.jobs.launcher import submit
from saltlab.runs.config import from_dict, load_config
from saltlab.runs.run_folder import RunFolder

from .conftest import kill_runs, start_app, stop_app

pytestmark = pytest.mark.e2e


def test_run_survives_an_app_restart(browser, demo_root, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "SALTLAB_DATA": str(demo_root), "SALTLAB_CHECKPOINTS": str(runs)}
    values = load_config("smoke")
    values.update(data=str(demo_root), n_folds=5, device="cpu")
    values["stages"][0]["epochs"] = 4
    proc, url = start_app(env, tmp_path / "first.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/train")
        run = submit(from_dict(values), runs)
        expect(page.get_by_text("running: epoch")).to_be_visible(timeout=60_000)
        page.close()
        stop_app(proc)  # the app goes away; the run must not
        assert RunFolder(run.path).read_status()["state"] == "running"
        proc, url = start_app(env, tmp_path / "second.log")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/train")
        expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("done: epoch 4 of 4")).to_be_visible(timeout=240_000)
        page.screenshot(path=str(tmp_path / "after-restart.png"))
        page.close()
    finally:
        stop_app(proc)
        kill_runs(runs)
