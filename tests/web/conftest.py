"""The whole platform as the README's first command runs it (`origin demo`, its own process),
and Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_world import Platform
from playwright.sync_api import sync_playwright

from harness.soak import free_port

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    data = tmp_path_factory.mktemp("web") / "demo"
    port, auth_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from origin.cli import main; main()", "demo", "--data", str(data),
                             "--port", str(port), "--auth-port", str(auth_port), "--history-days", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (data / "traded").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"the demo did not come up: {proc.communicate()[0].decode(errors='replace')[-3000:]}")
        time.sleep(0.2)
    yield Platform(data, port, auth_port)
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def chromium():
    assert Path(CHROMIUM).exists(), "Debian's Chromium: apt-get install -y chromium (the README's test command does)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser profile (no cookies); axe is injected past the page's CSP, as a
    browser extension would be."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True,
                                   timezone_id="Europe/Copenhagen", locale="en-GB")  # fmt: skip
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    yield page
    context.close()
