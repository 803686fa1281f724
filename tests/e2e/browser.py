"""A real browser for the page tests: Debian's Chromium, driven by Playwright.

Playwright's own browser download is not used: it needs a host the test machines do
not reach. ``.ci/run`` installs the ``chromium`` package instead, and each test gets a
fresh profile. Screenshots of every state go to ``tests/artifacts/`` (not committed).
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connections

from tests.e2e.servers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 800}


@contextmanager
def browser_context(
    profile: Path, viewport: dict[str, int] = PHONE, javascript: bool = True
) -> Iterator[Any]:
    """Yield a Chromium context on a fresh profile directory."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y chromium), as .ci/run does."
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=viewport,
            device_scale_factor=2,
            locale="en-GB",
            timezone_id="UTC",
            java_script_enabled=javascript,
            # Screenshots without the highlight that fades in on a new entry.
            reduced_motion="reduce",
        )
        try:
            yield context
        finally:
            context.close()
            # While Playwright's event loop runs, Django keeps the test's connections
            # apart from the thread's own; close them, or the test database cannot
            # be dropped at the end of the run.
            connections.close_all()


def screenshot(page: Any, name: str, selector: str | None = None) -> Path:
    """Save the page (or the element at ``selector``) as ``tests/artifacts/<name>.png``
    and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        page.locator(selector).screenshot(path=str(path))
    return path


def manage(database_url: str, *args: str) -> str:
    """Run ``manage.py`` against a server's database, as an operator would."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()
