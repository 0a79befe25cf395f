"""Page timings measured from a real browser (Chromium via Playwright) on the real data set.

Starts the app on 127.0.0.1 with an empty data set cache, then times, from the browser:
  first    the Data set page's first load (every PNG decoded)
  new tab  the same page again in a new tab of the same browser (Streamlit's whole front end
           starts again), against the lightest page, Train with no runs, in a new tab: the baseline
  render   in-app navigation back to the Data set page after the first load  - target < 2 s
  section  the first switch to the image browser section (48 thumbnails)    - target < 2 s
  filter   a filter change in the image browser until the page is idle       - target < 0.5 s
Every repeated timing is the median of its trials (spread in brackets); a section's first visit
is reported apart from the later ones. Run: .venv/bin/python bench/bench_pages.py
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from _common import PROJECT, real_data, spread
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def idle(page) -> None:
    """Wait until Streamlit has finished the current run (its status widget says nothing is running)."""
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def timed_load(context, url: str, marker: str = "Images per coverage class") -> float:
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.get_by_text(marker).first.wait_for(timeout=180_000)
    idle(page)
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def main() -> bool:
    root = real_data()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SALTLAB_DATA": str(root), "SALTLAB_CACHE": tempfile.mkdtemp()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # One context (one browser profile, its HTTP cache shared), as a user's browser has.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            first = timed_load(context, url)
            new_tab = [timed_load(context, url) for _ in range(3)]
            shell = [timed_load(context, f"{url}/train", "No runs yet") for _ in range(3)]
            page = context.new_page()
            page.goto(url)
            page.get_by_text("Images per coverage class").wait_for(timeout=180_000)
            idle(page)
            renders = []
            for _ in range(3):
                page.get_by_role("link", name="Train").click()
                page.get_by_text("No runs yet").wait_for(timeout=60_000)
                idle(page)
                start = time.perf_counter()
                page.get_by_role("link", name="Data set").click()
                page.get_by_text("Images per coverage class").wait_for(timeout=60_000)
                idle(page)
                renders.append(time.perf_counter() - start)
            sections = []
            for name in ("Image browser", "Coverage", "Image browser"):
                start = time.perf_counter()
                page.get_by_role("radio", name=name, exact=True).click()
                idle(page)
                sections.append(time.perf_counter() - start)
            page.get_by_text("Open one image").wait_for(timeout=60_000)
            filters = []
            for choice in ("vertical mask", "empty mask", "any", "constant image"):
                box = page.get_by_role("combobox", name="Anomaly")
                box.scroll_into_view_if_needed()
                box.click()
                option = page.get_by_role("option", name=choice, exact=True)
                try:
                    option.wait_for(timeout=10_000)
                except Exception:
                    page.screenshot(path="/tmp/bench_pages_fail.png")
                    raise
                start = time.perf_counter()
                option.click()
                idle(page)
                filters.append(time.perf_counter() - start)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    median = statistics.median
    ok = median(renders) < 2 and sections[0] < 2 and median(filters) < 0.5
    print(
        f"Data set page, real data: first load {first:.2f} s; new tab {spread(new_tab, 1, ' s')} vs the lightest page "
        f"in a new tab {spread(shell, 1, ' s')} (ratio {median(new_tab) / median(shell):.2f}); in-app render "
        f"{spread(renders, 1, ' s')} (target < 2 s); image browser section: first visit {sections[0]:.2f} s "
        f"(target < 2 s), coverage section {sections[1]:.2f} s, image browser again {sections[2]:.2f} s; filter change "
        f"{spread(filters, 1, ' s')}, first {filters[0]:.2f} s (target: median < 0.5 s) {'PASS' if ok else 'MISS'}"
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
