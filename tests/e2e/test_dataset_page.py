"""In a real browser: the Data set page on the demo set and on the real data, galleries, browser, errors."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')


def folder_box(page):
    return page.get_by_role("textbox", name="Folder (Kaggle layout)")


def test_dataset_page_on_demo_data(page, app_url, demo_ds):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Data set").first).to_be_visible(timeout=60_000)
    expect(metric(page, "Train images")).to_have_text(str(demo_ds.n_train), timeout=60_000)
    expect(metric(page, "Test images")).to_have_text(str(demo_ds.n_test))
    expect(page.get_by_text("Health report: clean")).to_be_visible()
    expect(page.get_by_text("Images per coverage class")).to_be_visible()
    page.get_by_role("radio", name="Image browser", exact=True).click()
    expect(page.get_by_text("Open one image")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{demo_ds.n_train} images match")).to_be_visible()


@pytest.mark.real_data
def test_real_data_counts_and_vertical_gallery(page, app_url, real_root):
    page.goto(app_url)
    expect(folder_box(page)).to_be_visible(timeout=60_000)
    folder_box(page).fill(str(real_root))
    folder_box(page).press("Enter")
    expect(metric(page, "Train images")).to_have_text("3499", timeout=120_000)
    expect(metric(page, "Empty masks")).to_contain_text("1363")
    expect(metric(page, "Vertical masks")).to_have_text("102")
    page.get_by_role("radio", name="Anomalies", exact=True).click()
    tab = page.get_by_role("tab", name="vertical mask (102)")
    tab.click()
    expect(page.get_by_text("first 24 of 102 vertical masks")).to_be_visible(timeout=30_000)
    page.get_by_text("first 24 of 102 vertical masks").scroll_into_view_if_needed()


def test_bad_folder_shows_error_and_sidebar_stays(page, app_url, tmp_path):
    page.goto(app_url)
    expect(folder_box(page)).to_be_visible(timeout=60_000)
    folder_box(page).fill(str(tmp_path / "missing"))
    folder_box(page).press("Enter")
    expect(page.get_by_text("Cannot use this data set: data set folder not found")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Not a usable data set: data set folder not found")).to_be_visible()
    expect(page.get_by_role("button", name="Use the demo set")).to_be_visible()
