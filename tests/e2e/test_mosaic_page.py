"""In a real browser, on a data set cut from known sections with a real (tiny) run: the Mosaic page
draws a section with the run's outcome colours, a chosen tile opens in the Explorer, and the
Explorer shows that image's neighbours."""

import os

import numpy as np
import pytest
from playwright.sync_api import expect

from saltlab.core.dataset import load_dataset
from saltlab.core.demo import generate_section_dataset
from saltlab.core.mosaic import load_mosaic
from saltlab.training.engine import train
from tests.helpers import tiny_config

from .conftest import ARTIFACTS, start_app, stop_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mosaic_app(tmp_path_factory):
    root = generate_section_dataset(tmp_path_factory.mktemp("sections") / "tgs-sections", n_sections=3, seed=1)
    runs = tmp_path_factory.mktemp("mosaic-runs")
    run = train(
        tiny_config(root, stages=[{"name": "bce", "epochs": 1, "loss": "bce", "lr": 1e-3}]), run_dir=runs / "tiny"
    )
    env = {**os.environ, "SALTLAB_DATA": str(root), "SALTLAB_CHECKPOINTS": str(runs)}
    proc, url = start_app(env, tmp_path_factory.mktemp("mosaic-app") / "streamlit.log")
    yield url, root, run
    stop_app(proc)


def pick(page, box: str, option: str) -> None:
    page.get_by_role("combobox", name=box).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_section_with_outcomes_and_a_tile_opened_in_the_explorer(browser, mosaic_app):
    url, root, run = mosaic_app
    mosaic, _ = load_mosaic(load_dataset(root))
    val_ids = set(run.read_split()["val_ids"])
    largest = int(mosaic.sections()["section"].iloc[0])
    in_view = [i for i in val_ids if i in mosaic.ids and mosaic.section[mosaic.position(i)] == largest]
    assert in_view, "the fixture needs a validation image in the largest section"
    target = sorted(in_view)[0]
    neighbour = next(iter(mosaic.neighbours(mosaic.position(target)).values()))

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        drive(page, url, mosaic, target, neighbour)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_mosaic_page.png"), full_page=True)
        page.close()


def drive(page, url, mosaic, target, neighbour) -> None:
    page.goto(f"{url}/mosaic")
    expect(page.get_by_text("Tiles placed")).to_be_visible(timeout=120_000)
    placed = int(np.sum(mosaic.section >= 0))
    expect(page.get_by_text(f"{placed} of {len(mosaic.ids)}")).to_be_visible()
    expect(page.get_by_text("section 0:")).to_be_visible()
    page.get_by_role("radio", name="outcome", exact=True).click()
    expect(page.get_by_text("dimmed: not a validation image of the run")).to_be_visible(timeout=120_000)
    pick(page, "Open a tile", target)
    expect(page.get_by_text("Neighbours: ")).to_contain_text(mosaic.ids[neighbour], timeout=30_000)
    page.get_by_role("button", name=f"Open {target} in the Explorer").click()
    expect(page.get_by_text("images match; the first")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(f"{target} in its section")).to_be_visible(timeout=60_000)
