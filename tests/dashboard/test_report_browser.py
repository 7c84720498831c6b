"""The printable report in a real headless Chromium: a marketer opens it with a month of
demo-like data, the charts draw, nothing breaks the Content-Security-Policy; printed (print
media, then a real PDF) the navigation and forms are gone, every section is there, and the
whole fits on a few A4 pages; the print button prints; the weekly e-mail form subscribes."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from dashboard.models import ReportSubscription
from engagement.models import AuthorStanding, Case
from tests.browser import skip_without_chromium
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.dashboard.test_pages_browser import drawn, sign_in
from tests.engagement.conftest import PASSWORD, acme, agent, marketer, social_source, store_mention

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = ("headline", "volume", "spikes", "share", "authors", "care", "funnel")
CHARTS = ("volume", "sentiment", "net", "share_mentions", "first_response", "sla")


@pytest.fixture
def month(acme, agent, social_source):
    """A month like the demo's: a few mentions a day from a dozen authors, a spike, the
    competitor, answered cases, an advocate and a detractor."""
    now = timezone.now()
    texts = ["I love acme, great service", "acme is awful and broken", "acme opens a shop"]
    authors = []
    for day in range(28):  # inside the last 30 days at any time of day
        for n in range(3):
            mention = store_mention(
                social_source,
                f"{texts[(day + n) % 3]} {day}-{n}",
                author_handle=f"u{(day + n) % 12}@social.example",
                author_name=f"User {(day + n) % 12}",
                followers=10 * n + day,
                reply_count=n,
                published_at=now - timedelta(days=day, hours=2 + n),
            )
            authors.append(mention.author)
    for n in range(12):  # the spike, three days ago
        store_mention(
            social_source,
            f"acme outage #down {n}",
            author_handle=f"angry{n % 4}@social.example",
            published_at=now - timedelta(days=3, hours=1, minutes=n),
        )
    for n in range(8):
        store_mention(social_source, f"globex is great {n}", published_at=now - timedelta(days=n))
    AuthorStanding.objects.update_or_create(
        brand=acme, author=authors[0], defaults={"standing": AuthorStanding.Standing.ADVOCATE}
    )
    AuthorStanding.objects.update_or_create(
        brand=acme, author=authors[1], defaults={"standing": AuthorStanding.Standing.DETRACTOR}
    )
    for n in range(10):
        opened = now - timedelta(days=2 * n, hours=3)
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


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def test_a_marketer_prints_the_report_on_a_few_pages(watched, live_server, marketer, acme, month):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/report/?brand={acme.pk}&range=30d")
    expect(page).to_have_url(re.compile(r"/dashboard/report/"))
    for chart_id in CHARTS:
        drawn(page, chart_id)
    expect(page.locator('[data-figure="mentions"] .value')).to_have_text("96")  # 28 x 3 + 12
    # One day, two spikes: volume and negative share (Earshot's scorer reads the outage as bad).
    expect(page.locator("#report-spikes li[data-spike]")).to_have_count(2)
    expect(page.locator("#report-spikes")).to_contain_text("#down")
    expect(page.locator("#report-share")).to_contain_text("Globex")
    expect(page.locator(".topbar")).to_be_visible()
    expect(page.get_by_role("button", name="Print / save as PDF")).to_be_visible()
    assert_clean(page, "report")

    page.emulate_media(media="print")
    for hidden in (".topbar", ".dash-tabs", ".dash-period", ".dash-tz", ".report-subscribe"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.get_by_role("button", name="Print / save as PDF")).to_be_hidden()
    for section in SECTIONS:
        expect(page.locator(f"#report-{section}")).to_be_visible()
    # Beside each chart its figures, on paper: the share chart's table, the day-by-day one.
    expect(page.locator("#report-chart-share_mentions table")).to_be_visible()
    expect(page.locator("#report-care-table tbody tr")).to_have_count(30)
    expect(page.locator("#report-time-table tbody tr")).to_have_count(30)
    for chart_id in CHARTS:
        box = page.locator(f'canvas[data-chart="{chart_id}"]').bounding_box()
        assert box and box["height"] < 260, (chart_id, box)  # sized for paper, not screen
    assert_clean(page, "print media")

    # Chromium lays the sheets out at A4's width; Chart.js redraws its canvases at their
    # paper size when the page is that wide (as on a real print's beforeprint).
    page.set_viewport_size({"width": 794, "height": 1123})
    page.wait_for_timeout(300)
    pdf = page.pdf(format="A4", print_background=True)
    assert 2 <= pdf_pages(pdf) <= 6, pdf_pages(pdf)

    # Three months by week print on no more pages.
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("link", name="Last 90 days").click()
    drawn(page, "volume")
    expect(page.locator("#report-time-table")).to_contain_text("week of")
    assert page.locator("#report-time-table tbody tr").count() in (13, 14)  # Mondays in 90 days
    page.emulate_media(media="print")
    assert 2 <= pdf_pages(page.pdf(format="A4")) <= 6
    assert_clean(page, "90 days")


def test_the_print_button_prints_and_the_form_subscribes(
    watched, live_server, marketer, acme, month
):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/report/?brand={acme.pk}&range=7d")
    drawn(page, "volume")
    # Headless Chromium has no print dialog: record the call instead.
    page.evaluate(
        "() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }"
    )
    page.get_by_role("button", name="Print / save as PDF").click()
    assert page.evaluate("window.__printed") == 1

    page.locator(".report-subscribe select[name=time_zone]").select_option("Asia/Kathmandu")
    page.get_by_role("button", name="Send it to me weekly").click()
    expect(page.locator(".messages")).to_contain_text("every week, in Asia/Kathmandu")
    expect(page).to_have_url(re.compile(rf"/dashboard/report/\?brand={acme.pk}&range=7d$"))
    subscription = ReportSubscription.objects.get(user=marketer, brand=acme)
    assert subscription.time_zone == "Asia/Kathmandu"
    page.get_by_role("button", name="Stop the weekly e-mail").click()
    expect(page.locator(".messages")).to_contain_text("no more weekly e-mails")
    assert not ReportSubscription.objects.exists()
    assert_clean(page, "subscription")


def test_the_overview_links_to_the_report(watched, live_server, marketer, acme, month):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/overview/?brand={acme.pk}&range=7d")
    page.get_by_role("link", name="Printable report").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/report/\?brand={acme.pk}&range=7d$"))
    drawn(page, "volume")
    assert_clean(page, "report from the overview")
