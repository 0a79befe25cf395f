"""In a real browser: start a CPU run from the Train page and watch it finish; cancel another."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def choose_preset(page, name: str) -> None:
    box = page.get_by_role("combobox", name="Preset")
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(box).to_have_value(name)
    # The form is rebuilt for the new preset (its widgets are keyed by the preset); a click on
    # Start while that rerun is still going can be dropped, so wait for the form to settle.
    expect(page.get_by_role("button", name="Start")).to_be_enabled()
    page.wait_for_timeout(1500)


def test_start_a_run_and_watch_it_finish(page, app_url):
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("No GPU on this machine")).to_be_visible()
    choose_preset(page, "smoke")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("submitted")).to_be_visible(timeout=30_000)
    # The progress line is refreshed by the page itself (st.fragment), no reload.
    expect(page.get_by_text("done: epoch 1 of 1")).to_be_visible(timeout=240_000)
    expect(page.get_by_text("best validation score")).to_be_visible()
    page.get_by_text("best validation score").scroll_into_view_if_needed()


def test_cancel_a_run(page, app_url):
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=60_000)
    choose_preset(page, "tiny")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("submitted")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("running: epoch")).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("cancelled: epoch")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
