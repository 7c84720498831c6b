"""The demo's dashboard in a real headless Chromium (issue 12): a marketer of the demo brand
opens every page on the demo's data, each page's charts draw, nothing logs an error or breaks
the Content-Security-Policy, and a bar's table link leads to the explorer with that bar's
mentions. The screenshots are the README's (EARSHOT_UPDATE_SCREENSHOTS=1 writes them into
docs/screenshots)."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect

from demo import content
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.dashboard.test_pages_browser import sign_in
from tests.demo.loaded import demo_loaded, demo_marketer

skip_without_chromium()

# Not transactional: the demo is loaded once for the module (tests/demo/loaded.py).
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def loop_connections_closed(demo_loaded, browser) -> Iterator[None]:
    """The demo first, then the browser; and before the browser goes, this thread's database
    connections closed. While Playwright's event loop runs, Django keeps a thread's
    connections per context (asgiref.local), so the tests' transactions use one that
    nothing else closes: left open, the test database could not be dropped."""
    yield
    connections.close_all()


# Each charted page and the charts it must draw with the demo's data.
CHARTED_PAGES = {
    "overview": ("volume", "sentiment", "net", "platforms", "sources", "languages"),
    "share": ("share_mentions", "share_positive", "share_reach", "net_by_brand"),
    "authors": ("top_authors",),
    "funnel": ("funnel",),
    "care": ("first_response", "resolution", "sla", "outcomes", "backlog"),
}


def charts_drawn(page: Page) -> list[str]:
    """The ids of the page's charts that Chart.js drew: a sized canvas holding a Chart
    instance and non-blank pixels. Waits for every chart to be marked drawn first."""
    canvases = page.locator("canvas[data-chart]")
    for n in range(canvases.count()):
        expect(canvases.nth(n)).to_have_attribute("data-drawn", "true")
    return page.evaluate(
        """() => [...document.querySelectorAll("canvas[data-chart]")].filter((c) => {
            const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            return c.width > 100 && c.height > 50 && Chart.getChart(c) !== undefined
                && px.some((v, i) => i % 4 === 3 && v > 0);
        }).map((c) => c.dataset.chart)"""
    )


# A README screenshot shows the top of a long page (the authors page runs to 5500 pixels;
# the overview, with its spikes at the bottom, to 3400).
SCREENSHOT_MAX_HEIGHT = 3600


def screenshot(page: Page, filename: str) -> None:
    height = min(page.evaluate("document.documentElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
    width = page.viewport_size["width"]
    page.screenshot(
        path=str(SCREENSHOTS / filename),
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": height},
    )


@pytest.mark.parametrize("name", list(CHARTED_PAGES))
def test_each_dashboard_page_draws_the_demo(demo_loaded, demo_marketer, watched, name):
    page = watched
    brand = demo_loaded.brand
    sign_in(page, demo_loaded, demo_marketer, f"/dashboard/{name}/?brand={brand.pk}")
    expect(page).to_have_url(re.compile(rf"/dashboard/{name}/"))
    assert set(charts_drawn(page)) >= set(CHARTED_PAGES[name])
    expect(page.locator("p.empty")).to_have_count(0)

    # What each page is for, in the demo.
    if name == "overview":
        expect(page.locator("#panel-spikes li[data-spike]").first).to_be_visible()
        expect(page.locator("#panel-spikes")).to_contain_text("#acmedown")
    elif name == "share":
        expect(page.locator("table.summary tbody tr")).to_have_count(3)
    elif name == "authors":
        for table in ("advocates", "detractors"):
            rows = page.locator(f"#authors-{table} tr[data-author]")
            assert rows.count() >= 3, table
    elif name == "funnel":
        persuasion = page.locator('tr[data-step="persuasion"] td').first.inner_text()
        assert int(persuasion) > 0
    elif name == "care":
        expect(page.locator('[data-figure="answered"]')).not_to_have_text("0")
    assert_clean(page, name)
    screenshot(page, f"dashboard-{name}.png")


def test_the_outage_bar_leads_to_the_outage_s_mentions(demo_loaded, demo_marketer, watched):
    page = watched
    brand = demo_loaded.brand
    now = timezone.now()
    outage = content.event_days("outage", now - timedelta(days=29), now - timedelta(days=1))[-1]
    day = outage.date().isoformat()
    sign_in(page, demo_loaded, demo_marketer, f"/dashboard/overview/?brand={brand.pk}")
    assert "volume" in charts_drawn(page)

    # The volume chart's table: the outage day's bar, as a link to its mentions.
    page.get_by_text("Table of “Mentions”").click()
    link = page.locator(f'#panel-volume table a[href$="since={day}&until={day}"]')
    expected = int(link.inner_text())
    assert expected >= 20
    link.click()

    expect(page).to_have_url(re.compile(r"/dashboard/explorer/\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"brand": [str(brand.pk)], "since": [day], "until": [day]}
    rows = page.locator("tr[data-row]")
    expect(rows).to_have_count(expected)
    expect(rows.filter(has_text="#acmedown").first).to_be_visible()
    assert rows.filter(has_text="negative").count() >= expected - 2
    assert_clean(page, "explorer after the drill-down")
    screenshot(page, "dashboard-explorer.png")
