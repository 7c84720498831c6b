"""The printable report of the demo's brand in a real headless Chromium: every section has
something to say, the charts draw, and each range prints on a few A4 sheets (issue 12: "the
headline figures, charts and spikes on a few pages"). The README's screenshot and sample PDF
of the report come from here."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.db import connections
from playwright.sync_api import expect

from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.dashboard.test_demo_pages_browser import screenshot
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.dashboard.test_pages_browser import drawn, sign_in
from tests.dashboard.test_report_browser import CHARTS, SECTIONS, pdf_pages
from tests.demo.loaded import demo_loaded, demo_marketer

skip_without_chromium()

# Not transactional: the demo is loaded once for the module (tests/demo/loaded.py).
pytestmark = pytest.mark.django_db

A4 = {"width": 794, "height": 1123}  # CSS pixels at 96 dpi
MOST_SHEETS = 6


@pytest.fixture(scope="module", autouse=True)
def loop_connections_closed(demo_loaded, browser) -> Iterator[None]:
    """As in test_demo_pages_browser: the demo first, then the browser, and this thread's
    connections closed before the browser goes."""
    yield
    connections.close_all()


@pytest.mark.parametrize("range_", ["30d", "90d"])
def test_the_demo_report_prints_on_a_few_sheets(demo_loaded, demo_marketer, watched, range_):
    page = watched
    brand = demo_loaded.brand
    sign_in(page, demo_loaded, demo_marketer, f"/dashboard/report/?brand={brand.pk}&range={range_}")
    expect(page).to_have_url(re.compile(r"/dashboard/report/"))
    for chart_id in CHARTS:
        drawn(page, chart_id)
    expect(page.locator(".report-empty")).to_have_count(0)
    expect(page.locator("#report-share tr[data-brand]")).to_have_count(3)
    expect(page.locator("#report-advocates tr[data-author]").first).to_be_visible()
    expect(page.locator("#report-detractors tr[data-author]").first).to_be_visible()
    expect(page.locator('#report-care [data-figure="answered"]')).not_to_have_text("0")
    if range_ == "90d":
        expect(page.locator("#report-spikes")).to_contain_text("#acmedown")
    assert_clean(page, range_)
    if range_ == "30d":
        screenshot(page, "dashboard-report.png")

    page.emulate_media(media="print")
    page.set_viewport_size(A4)
    for section in SECTIONS:
        expect(page.locator(f"#report-{section}")).to_be_visible()
    expect(page.locator(".topbar")).to_be_hidden()
    page.wait_for_timeout(300)  # Chart.js redraws at the sheet's width
    pdf = page.pdf(format="A4", print_background=True)
    if range_ == "30d":
        (SCREENSHOTS / "dashboard-report.pdf").write_bytes(pdf)
    assert 2 <= pdf_pages(pdf) <= MOST_SHEETS, pdf_pages(pdf)
