"""In a real browser: the app starts on 127.0.0.1, shows the demo set, and switches to the real data."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')


def test_overview_on_demo_data(page, app_url, demo_ds):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="SaltLab")).to_be_visible(timeout=60_000)
    expect(metric(page, "Train images")).to_have_text(str(demo_ds.n_train), timeout=60_000)
    expect(metric(page, "Test images")).to_have_text(str(demo_ds.n_test))
    expect(page.get_by_text("Health report: clean")).to_be_visible()


@pytest.mark.real_data
def test_switch_to_real_data(page, app_url, real_root):
    page.goto(app_url)
    box = page.get_by_role("textbox", name="Folder (Kaggle layout)")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(str(real_root))
    box.press("Enter")
    expect(metric(page, "Train images")).to_have_text("3499", timeout=120_000)
    expect(metric(page, "Empty masks")).to_contain_text("1363")
    expect(metric(page, "Vertical masks")).to_have_text("102")
    expect(page.get_by_role("textbox", name="Folder (Kaggle layout)")).to_have_value(str(real_root))


def test_bad_folder_shows_error_and_sidebar_stays(page, app_url, tmp_path):
    page.goto(app_url)
    box = page.get_by_role("textbox", name="Folder (Kaggle layout)")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(str(tmp_path / "missing"))
    box.press("Enter")
    expect(page.get_by_text("data set folder not found")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Use the demo set")).to_be_visible()
