"""The ROI page in a real headless Chromium: a marketer opens it from the dashboard's tabs,
reads figures with their formulas, nothing breaks the Content-Security-Policy, and the print
stylesheet leaves the figures and drops the page's controls."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import skip_without_chromium
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.dashboard.test_pages_browser import sign_in
from tests.dashboard.test_roi import period, world
from tests.engagement.conftest import acme, agent, marketer, social_source

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_opens_the_roi_page_and_prints_it(watched, live_server, marketer, acme, world):
    page = watched
    sign_in(page, live_server, marketer, f"/dashboard/funnel/?brand={acme.pk}&range=30d")
    expect(page.locator('tr[data-step="conversion"] td').first).to_have_text("3")
    page.get_by_role("link", name="ROI", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/roi/\?"))
    expect(page.locator('tr[data-figure="cases_on_social"] td').first).to_have_text("3")
    expect(page.locator('tr[data-figure="contact_cost_moved"] td').first).to_have_text("missing")
    expect(page.locator('tr[data-figure="conversion_revenue"] td').first).to_have_text(
        "42.50 EUR, 10.00 USD"
    )
    assert_clean(page, "roi")

    page.emulate_media(media="print")
    expect(page.locator(".dash-head")).to_be_hidden()
    expect(page.get_by_role("button", name="Print / save as PDF")).to_be_hidden()
    expect(page.locator('tr[data-figure="referral_clicks"] td').first).to_have_text("2")
