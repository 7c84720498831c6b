"""The charted dashboard pages in a real headless Chromium: a marketer opens the overview and
the care page with data, the charts draw (a canvas Chart.js filled), nothing breaks the
Content-Security-Policy or logs an error, and a click on a chart's bar opens the explorer
with that bar's filter."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from engagement.models import Case
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.engagement.conftest import PASSWORD, acme, agent, marketer, social_source, store_mention

# The README's dashboard screenshots come from the demo (test_demo_pages_browser.py); these
# pages hold a small sample, kept for looking at only.
VAR_SCREENSHOTS = SCREENSHOTS.parents[1] / "var" / "screenshots"

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data(acme, agent, social_source):
    now = timezone.now()
    texts = ["I love acme, great service", "acme is awful and broken", "acme opens a shop"]
    for n in range(12):
        store_mention(
            social_source,
            f"{texts[n % 3]} {n}",
            followers=10 * n,
            reply_count=n % 4,
            published_at=now - timedelta(days=n % 6, hours=1),
        )
    for n in range(6):
        opened = now - timedelta(days=n, hours=3)
        Case.objects.create(
            brand=acme,
            assignee=agent if n % 2 else None,
            opened_at=opened,
            status=Case.Status.RESOLVED if n % 3 == 0 else Case.Status.OPEN,
            first_response_at=opened + timedelta(minutes=15 * (n + 1)),
            first_response_due=opened + timedelta(hours=1),
            resolved_at=opened + timedelta(hours=n + 1) if n % 3 == 0 else None,
            outcome=Case.Outcome.IMPROVED if n % 2 else Case.Outcome.UNCHANGED,
            priority=10.0,
            priority_band="low",
        )


def sign_in(page: Page, live_server, user, path: str) -> None:
    page.goto(f"{live_server.url}/login/?{urlencode({'next': path})}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def drawn(page: Page, chart_id: str) -> None:
    canvas = page.locator(f'canvas[data-chart="{chart_id}"]')
    expect(canvas).to_have_attribute("data-drawn", "true")
    # Chart.js drew something: the canvas has a size and non-blank pixels.
    assert page.evaluate(
        """(id) => {
            const c = document.querySelector(`canvas[data-chart="${id}"]`);
            const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            return c.width > 100 && px.some((v, i) => i % 4 === 3 && v > 0);
        }""",
        chart_id,
    ), chart_id


def test_a_marketer_reads_the_overview_and_clicks_a_bar_to_its_mentions(
    watched, live_server, marketer, acme, data
):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/overview/?brand={acme.pk}&range=7d")
    expect(page).to_have_url(re.compile(r"/dashboard/overview/"))
    for chart_id in ("volume", "sentiment", "net", "platforms", "sources", "languages"):
        drawn(page, chart_id)
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    expect(page.locator(".figure").first).to_contain_text("12")
    assert_clean(page, "overview")
    page.screenshot(path=str(VAR_SCREENSHOTS / "sample-overview.png"), full_page=True)

    # The table view holds the same numbers as links.
    page.get_by_text("Table of “Mentions”").click()
    expect(page.locator("#panel-volume table a").first).to_be_visible()

    # Each chart downloads its figures as CSV, the brand, chart and range in the file name.
    with page.expect_download() as download_info:
        page.locator("#panel-sentiment").get_by_role("button", name="Download CSV").click()
    download = download_info.value
    first = (timezone.localdate() - timedelta(days=6)).isoformat()
    assert download.suggested_filename == (
        f"acme-sentiment-{first}-{timezone.localdate().isoformat()}-utc.csv"
    )
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",Positive,Neutral,Negative"
    assert len(lines) == 8
    assert lines[-1].startswith(timezone.localdate().isoformat() + ",")
    assert sum(sum(int(n) for n in line.split(",")[1:]) for line in lines[1:]) == 12
    assert_clean(page, "download")

    # Click the bar of today in the volume chart, where Chart.js says it is.
    today = timezone.localdate().isoformat()
    point = page.evaluate(
        """() => {
            const c = document.querySelector('canvas[data-chart="volume"]');
            const bar = Chart.getChart(c).getDatasetMeta(0).data.at(-1);
            const box = c.getBoundingClientRect();
            return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    expect(page).to_have_url(re.compile(r"/dashboard/explorer/\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"brand": [str(acme.pk)], "since": [today], "until": [today]}
    expect(page.locator("tr[data-row]")).to_have_count(2)
    assert_clean(page, "explorer after the drill-down")


def test_a_marketer_reads_the_care_page(watched, live_server, marketer, agent, acme, data):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/care/?brand={acme.pk}&range=7d")
    expect(page).to_have_url(re.compile(r"/dashboard/care/"))
    for chart_id in ("first_response", "resolution", "sla", "outcomes", "backlog"):
        drawn(page, chart_id)
    expect(page.locator('[data-figure="cases"]')).to_have_text("6")
    expect(page.locator("tr[data-agent]")).to_have_count(2)  # the agent, and nobody
    expect(page.locator(f'tr[data-agent="{agent.username}"] td').first).to_have_text("3")
    assert_clean(page, "care")
    page.screenshot(path=str(VAR_SCREENSHOTS / "sample-care.png"), full_page=True)

    # The tabs keep brand and range; keyboard users reach the figures from the chart.
    page.locator('canvas[data-chart="outcomes"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel-outcomes details")).to_have_attribute("open", "")
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/dashboard/overview/\?brand={acme.pk}&range=7d$"))
    drawn(page, "volume")
    assert_clean(page, "overview from the tab")


def test_a_marketer_reads_the_authors_and_funnel_pages(watched, live_server, marketer, acme, data):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/authors/?brand={acme.pk}&range=7d")
    expect(page).to_have_url(re.compile(r"/dashboard/authors/"))
    drawn(page, "top_authors")
    expect(page.locator("#authors-volume tr[data-author]")).to_have_count(1)
    expect(page.locator("#authors-volume tr[data-author] td").nth(1)).to_have_text("12")
    assert_clean(page, "authors")
    page.screenshot(path=str(VAR_SCREENSHOTS / "sample-authors.png"), full_page=True)
    page.get_by_role("link", name="Funnel", exact=True).click()
    drawn(page, "funnel")
    expect(page.locator('tr[data-step="awareness"] td').first).to_have_text("1")
    assert_clean(page, "funnel")
    page.screenshot(path=str(VAR_SCREENSHOTS / "sample-funnel.png"), full_page=True)
    page.get_by_role("link", name="Authors", exact=True).click()
    page.locator("#authors-volume").get_by_role("link", name="Mentions").click()
    expect(page).to_have_url(re.compile(r"/dashboard/explorer/\?.*author=carol%40social.example"))
    expect(page.locator("tr[data-row]")).to_have_count(12)
    assert_clean(page, "explorer of an author")


def test_a_marketer_compares_the_brand_with_its_competitors(
    watched, live_server, marketer, acme, social_source, data
):
    now = timezone.now()
    for n in range(5):
        store_mention(
            social_source, f"globex is great {n}", published_at=now - timedelta(days=n, hours=2)
        )
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/share/?brand={acme.pk}&range=30d")
    expect(page).to_have_url(re.compile(r"/dashboard/share/"))
    for chart_id in ("share_mentions", "share_positive", "share_reach", "net_by_brand"):
        drawn(page, chart_id)
    rows = page.locator("table.summary tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Acme")
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("70.6 %")  # 12 of 17
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("29.4 %")
    # The swatch beside each name has the brand's chart colour (set by script: no inline CSS).
    colour = page.evaluate("getComputedStyle(document.querySelector('.swatch')).backgroundColor")
    assert colour != "rgb(102, 112, 133)", colour  # not the grey default
    assert_clean(page, "share of voice")
    page.screenshot(path=str(VAR_SCREENSHOTS / "sample-share.png"), full_page=True)
