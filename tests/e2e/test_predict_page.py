"""In a real browser, with a real (tiny, CPU-trained) run: upload PNGs on the Predict page, see the
overlay and the numbers, download the CSV and the zip; a bad upload is refused by name while the
good one is still predicted; the whole test set runs as a background job and its CSV downloads."""

import os
import shutil
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from saltlab.core.rle import decode
from saltlab.jobs.predict_jobs import list_jobs
from saltlab.runs.run_folder import pid_alive

from .conftest import ARTIFACTS, start_app, stop_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def predict_app(demo_root, demo_ds, trained_run, tmp_path_factory):
    runs = tmp_path_factory.mktemp("predict-runs")
    shutil.copytree(trained_run.path, runs / "checkpoints" / "a-tiny", ignore=shutil.ignore_patterns("eval"))
    # Jobs go to runs/predictions, beside the checkpoints folder.
    env = {**os.environ, "SALTLAB_DATA": str(demo_root), "SALTLAB_CHECKPOINTS": str(runs / "checkpoints")}
    proc, url = start_app(env, tmp_path_factory.mktemp("predict-app") / "streamlit.log")
    yield url, runs
    stop_app(proc)
    for job in list_jobs(runs / "predictions"):  # no job outlives the tests
        status = job.read_status() or {}
        pid = status.get("pid")
        if pid and pid_alive(pid, status.get("pid_start")):  # its own process, not a reused pid
            os.kill(pid, 9)


def test_upload_overlay_and_downloads(browser, predict_app, demo_ds, tmp_path):
    url, _ = predict_app
    good = tmp_path / f"{demo_ds.test_ids[0]}.png"
    cv2.imwrite(str(good), demo_ds.test_images[0])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing usable
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{url}/predict")
    expect(page.get_by_text("Models (several are averaged")).to_be_visible(timeout=60_000)
    page.locator("input[type=file]").set_input_files([str(good), str(bad)])
    expect(page.get_by_text("broken.png left out: unreadable PNG")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("1 image(s)")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("predicted salt over each image (pairs: image, prediction with coverage)")).to_be_visible()
    overlay = page.locator("[data-testid=stImage] img").first
    expect(overlay).to_be_visible()
    assert overlay.evaluate("img => img.complete && img.naturalWidth") > 200  # 101 px x2, the mosaic
    with page.expect_download() as download:
        page.get_by_role("button", name="Download submission CSV").click()
    csv_path = tmp_path / "submission.csv"
    download.value.save_as(csv_path)
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    assert table.columns.tolist() == ["id", "rle_mask"] and table["id"].tolist() == [demo_ds.test_ids[0]]
    assert decode(table["rle_mask"][0]).shape == (101, 101)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download masks (zip of PNGs)").click()
    zip_path = tmp_path / "masks.zip"
    download.value.save_as(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == [f"{demo_ds.test_ids[0]}.png"]
        mask = cv2.imdecode(np.frombuffer(archive.read(archive.namelist()[0]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (101, 101) and set(mask.ravel()) <= {0, 255}
    assert (mask > 0).astype(int).sum() == decode(table["rle_mask"][0]).sum()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "predict_upload.png"), full_page=True)
    context.close()


def test_whole_test_set_as_a_background_job(browser, predict_app, demo_ds, tmp_path):
    url, _ = predict_app
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{url}/predict")
    page.get_by_role("button", name="Predict every test image").click()
    expect(page.get_by_text(": done,")).to_be_visible(timeout=180_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Submission CSV").click()
    path = tmp_path / "job.csv"
    download.value.save_as(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert sorted(table["id"]) == sorted(demo_ds.test_ids) and len(table) == demo_ds.n_test
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "predict_job.png"), full_page=True)
    context.close()
