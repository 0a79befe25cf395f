"""Every page in a real browser on the real TGS data, with two runs trained on it (64 images, one epoch:
real training, real checkpoints, the whole held-out fold of 189 images evaluated), a screenshot of each kept under
test-artifacts/ for review."""

import os
import re

import pytest
from playwright.sync_api import expect

from saltlab.training.engine import train
from tests.helpers import tiny_config

from .conftest import ARTIFACTS, start_app, stop_app

pytestmark = [pytest.mark.e2e, pytest.mark.real_data]


@pytest.fixture(scope="module")
def real_app(real_root, tmp_path_factory):
    runs = tmp_path_factory.mktemp("real-runs")
    for name, seed in (("real-a", 3), ("real-b", 4)):
        stages = [{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]
        # 20 folds: the pages evaluate the whole held-out fold (189 images), a quarter of the default's 700
        train(tiny_config(real_root, seed=seed, stages=stages, n_folds=20), run_dir=runs / name)
    env = {**os.environ, "SALTLAB_DATA": str(real_root), "SALTLAB_CHECKPOINTS": str(runs)}
    proc, url = start_app(env, tmp_path_factory.mktemp("real-app") / "streamlit.log")
    yield url
    stop_app(proc)


# (path, section button to press or None, a text that says the page has drawn)
PAGES = [
    ("", None, "Images per coverage class"),
    ("", "Depth and intensity", "Coverage per depth band"),
    ("train", None, "best validation score"),
    ("explorer", None, "Images per IoU bucket"),
    ("explorer", "Images", "images match; the first"),
    ("compare", None, "Bucket transitions"),
    ("mosaic", None, "Tiles placed"),
    ("suspects", None, "labelled images ranked"),
    ("predict", None, "Models (several are averaged"),
]


@pytest.mark.parametrize("path, section, ready", PAGES, ids=[f"{p or 'dataset'}-{s or 'first'}" for p, s, _ in PAGES])
def test_every_page_draws_on_the_real_data(browser, real_app, path, section, ready):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    name = re.sub(r"\W+", "-", f"real-{path or 'dataset'}-{section or 'first'}").lower()
    try:
        page.goto(f"{real_app}/{path}")
        if section:
            page.get_by_role("radio", name=section, exact=True).click(timeout=180_000)
        expect(page.get_by_text(ready).first).to_be_visible(timeout=180_000)
        # Drawn to its end (for the screenshot): no placeholder left, the "running" indicator gone.
        expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=120_000)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_be_hidden(timeout=120_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        page.close()
