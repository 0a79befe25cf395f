"""In a real browser, with two real (tiny, CPU-trained) runs: Explorer and Compare render, a bucket
filter changes the gallery, and the CSV export downloads."""

import os
import re
import shutil
import time

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from saltlab.inference.evaluate import evaluate_run
from saltlab.runs.imported import import_predictions
from saltlab.training.engine import train
from tests.helpers import tiny_config

from .conftest import ARTIFACTS, start_app, stop_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def explorer_app(demo_root, trained_run, tmp_path_factory):
    runs = tmp_path_factory.mktemp("explorer-runs")
    shutil.copytree(trained_run.path, runs / "a-baseline", ignore=shutil.ignore_patterns("eval"))
    train(
        tiny_config(demo_root, seed=9, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]),
        run_dir=runs / "b-other",
    )
    imported_predictions(trained_run, demo_root, runs)
    env = {**os.environ, "SALTLAB_DATA": str(demo_root), "SALTLAB_CHECKPOINTS": str(runs)}
    proc, url = start_app(env, tmp_path_factory.mktemp("explorer-app") / "streamlit.log")
    yield url
    stop_app(proc)


def imported_predictions(trained_run, demo_root, runs) -> None:
    """The run's validation probabilities, made "elsewhere" as 8-bit PNGs, imported as the entry c-imported
    (dated a day back, so that the pages' default choice stays the newest runs)."""
    evaluation = evaluate_run(trained_run.path)
    pngs = runs.parent / "elsewhere-pngs"
    pngs.mkdir()
    for id_, p in zip(evaluation.ids, evaluation.probs):
        cv2.imwrite(str(pngs / f"{id_}.png"), np.rint(p * 255).astype(np.uint8))
    folder, _ = import_predictions(pngs, demo_root, "c-imported", runs, held_out=evaluation.ids)
    day_ago = time.time() - 86400
    for path in (folder / "import.json", folder / "predictions.npz", folder):
        os.utime(path, (day_ago, day_ago))


def matching(page) -> int:
    text = page.get_by_text("images match; the first").inner_text()
    return int(text.split(" images match")[0])


def test_explorer_summary_gallery_filter_and_csv(browser, explorer_app, trained_run, tmp_path):
    n = len(trained_run.read_split()["val_ids"])  # the held-out images the run recorded
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{explorer_app}/explorer")
    expect(page.get_by_text("Images per IoU bucket")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(f"{n} validation images")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the per-image table (CSV)").click()
    path = tmp_path / "per_image.csv"
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("id,coverage,coverage_class") and len(lines) == n + 1
    page.get_by_role("radio", name="Images", exact=True).click()
    expect(page.get_by_text("images match; the first")).to_be_visible(timeout=60_000)
    assert matching(page) == n
    box = page.get_by_role("combobox", name="IoU buckets")
    box.click()
    page.get_by_role("option", name="0.0", exact=True).click()
    page.keyboard.press("Escape")
    expect(page.get_by_text(f"{n} images match")).not_to_be_visible(timeout=30_000)
    assert matching(page) < n
    page.screenshot(path=str(tmp_path / "explorer.png"))
    context.close()


def test_compare_renders_both_ways(browser, explorer_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{explorer_app}/compare")
    expect(page.get_by_text("Bucket transitions")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Where B beats A")).to_be_visible()
    expect(page.get_by_text("Where A beats B")).to_be_visible()
    page.close()


def explorer_images(browser, url):
    """A tall page on the Explorer's Images section, once the summary has been drawn."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{url}/explorer")
    expect(page.get_by_text("Images per IoU bucket")).to_be_visible(timeout=120_000)
    page.get_by_role("radio", name="Images", exact=True).click()
    return page


def test_more_like_this_and_the_map(browser, explorer_app):
    page = explorer_images(browser, explorer_app)
    try:
        header = page.get_by_text(re.compile(r"^More like [0-9a-f]+")).first
        expect(header).to_be_visible(timeout=120_000)
        opened = header.inner_text().split()[2]
        page.get_by_role("button", name="Open this image", exact=True).click()  # the most similar image
        expect(page.get_by_text(f"More like {opened}")).not_to_be_visible(timeout=60_000)
        now = page.get_by_text(re.compile(r"^More like [0-9a-f]+")).first.inner_text().split()[2]
        assert now != opened
        expect(page.get_by_text(f"{now} in its section").or_(page.get_by_text(f"{now} has no placed"))).to_be_visible()
        page.get_by_role("radio", name="Map", exact=True).click()
        expect(page.get_by_text("validation images by")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Choose a point to see the image")).to_be_visible()
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_more_like_this_and_the_map.png"), full_page=True)
        page.close()


def test_a_thumbnail_click_opens_that_image(browser, explorer_app):
    page = explorer_images(browser, explorer_app)
    try:
        expect(page.get_by_text("images match; the first")).to_be_visible(timeout=60_000)
        opened = page.get_by_role("combobox", name="Open one image")
        expect(opened).to_have_value(re.compile(r"^#1 · [0-9a-f]+$"))
        # Each thumbnail has an invisible Plotly point at its centre: click where the third one is.
        third = page.locator(".stPlotlyChart").first.locator(".scatterlayer .point").nth(2).bounding_box()
        page.mouse.click(third["x"] + third["width"] / 2, third["y"] + third["height"] / 2)
        expect(opened).to_have_value(re.compile(r"^#3 · [0-9a-f]+$"), timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_a_thumbnail_click_opens_that_image.png"), full_page=True)
        page.close()


def test_imported_predictions_beside_a_run(browser, explorer_app):
    page = explorer_images(browser, explorer_app)
    try:
        expect(page.get_by_text("images match; the first")).to_be_visible(timeout=60_000)
        page.get_by_role("combobox", name="Runs").click()
        page.get_by_role("option", name="c-imported", exact=True).click()
        page.keyboard.press("Escape")
        page.get_by_text("Side by side: the same images, one column per model").click()
        expect(page.get_by_text("c-imported", exact=True).first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("b-other", exact=True).first).to_be_visible()  # the newest run, chosen by default
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_imported_predictions_beside_a_run.png"), full_page=True)
        page.close()


def test_the_shared_report_opens_in_a_browser_with_no_network(browser, trained_run, tmp_path):
    from saltlab.analysis.explore import explore
    from saltlab.analysis.report import html_report

    path = tmp_path / "report.html"
    path.write_text(html_report(explore([trained_run.path])))
    context = browser.new_context(offline=True)  # no network at all: everything must be inside the file
    page = context.new_page()
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(path.as_uri())
        expect(page.get_by_role("heading", name="SaltLab report: tiny")).to_be_visible()
        expect(page.get_by_text("Predicting every mask empty scores")).to_be_visible()
        widths = page.locator("img").evaluate_all("images => images.map(i => i.naturalWidth)")
        assert widths and all(w > 0 for w in widths)  # every embedded image decoded
        assert failed == []
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_the_shared_report.png"), full_page=True)
        context.close()
