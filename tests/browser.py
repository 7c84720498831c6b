"""Real headless Chromium for page tests (pytest plugin, loaded by tests/conftest.py).

Debian's chromium driven through Playwright's sync API; browser downloads do not work here,
so the executable is given. Test modules call skip_without_chromium() at import and use the
`page` fixture; screenshots go to SCREENSHOTS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start-up; this closed network refuses those
    # connections and the browser's own requests start failing with it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's screenshots are refreshed only on request (EARSHOT_UPDATE_SCREENSHOTS=1): they
# hold timestamps, ports and case numbers, so writing them every run would dirty the checkout.
SCREENSHOTS = Path(__file__).resolve().parents[1] / (
    "docs/screenshots" if os.environ.get("EARSHOT_UPDATE_SCREENSHOTS") == "1" else "var/screenshots"
)


def skip_without_chromium() -> None:
    """Skip the calling test module when Chromium is missing, except under CI=true, where a
    missing browser must fail (the launch does), never skip silently."""
    if not CHROMIUM.exists() and os.environ.get("CI", "").strip().lower() != "true":
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium); "
            "under CI=true a missing browser fails instead",
            allow_module_level=True,
        )


@pytest.fixture(scope="module")
def orm_beside_playwright() -> Iterator[None]:
    """Let the tests use the ORM while Playwright's sync API is running.

    The sync API keeps an asyncio event loop running in the test thread, and Django refuses
    ORM calls from a thread with a running loop (SynchronousOnlyOperation). Every ORM call in
    these tests is plain blocking code between browser steps, never inside a coroutine, so the
    check is switched off, and only for as long as a module's browser is open.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(orm_beside_playwright) -> Iterator[Browser]:
    # Under CI=true a missing /usr/bin/chromium makes this launch fail: no silent skip there.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def viewport() -> dict[str, int]:
    """The page size; a module overrides this fixture for wider screenshots."""
    return {"width": 1400, "height": 900}


@pytest.fixture
def page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
