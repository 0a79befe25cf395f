"""Browser-test fixtures: the app served by `streamlit run` on 127.0.0.1 and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start_app(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free loopback port; returns (process, url) once it answers."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the app did not start:\n{log.read_text()}")
        time.sleep(0.3)


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def kill_runs(runs: Path) -> None:
    """No training process outlives the tests."""
    from saltlab.runs.run_folder import list_runs

    for run in list_runs(runs):
        status = run.read_status() or {}  # "running" only while that pid is the run's own process (not a reuse)
        pid = status.get("pid") if status.get("state") == "running" else None
        if pid:
            try:
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="session")
def app_url(demo_root, tmp_path_factory):
    """Start the app with the demo set as default data; yield its URL; stop it."""
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "SALTLAB_DATA": str(demo_root), "SALTLAB_CHECKPOINTS": str(runs)}
    proc, url = start_app(env, tmp_path_factory.mktemp("app") / "streamlit.log")
    try:
        yield url
    finally:
        stop_app(proc)
        kill_runs(runs)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
