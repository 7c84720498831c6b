"""The overview's most engaged mentions in a real headless Chromium, as a marketer: the panel
renders its rows (hostile text as text), its CSV downloads with the effective label and the
reach, nothing breaks the Content-Security-Policy, and its links open the explorer sorted by
engagement and the author page, read-only."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from listening.models import Mention
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.dashboard.test_engaged_mentions import store
from tests.dashboard.test_explorer_browser import assert_clean, watched
from tests.dashboard.test_pages_browser import sign_in
from tests.engagement.conftest import acme, marketer, social_source

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_reads_the_most_engaged_mentions(
    watched, live_server, marketer, acme, social_source
):
    now = timezone.now()
    for n in range(12):
        store(
            social_source,
            f"acme mention number {n}",
            at=now - timedelta(days=n % 5, hours=1),
            likes=n,
            replies=1,
            handle=f"fan{n % 3}@social.example",
            name=f"Fan {n % 3}",
            followers=100 + n,
        )
    top = store(
        social_source,
        "acme launch day",
        at=now - timedelta(hours=3),
        likes=40,
        reposts=2,
        handle="rita@social.example",
        name="Rita",
        followers=9000,
    )
    Mention.objects.filter(pk=top.pk).update(text='acme <img src=x onerror="alert(1)"> launch')
    page = watched

    sign_in(page, live_server, marketer, f"/dashboard/overview/?brand={acme.pk}&range=7d")

    panel = page.locator("#panel-engaged")
    expect(panel.locator("tr[data-mention]")).to_have_count(10)
    first = panel.locator("tr[data-mention]").first
    expect(first).to_have_attribute("data-mention", str(top.pk))
    expect(first.locator("td").nth(5)).to_have_text("42")
    expect(first.locator("td").nth(6)).to_have_text("9000")
    expect(first.locator("td.text")).to_have_text('acme <img src=x onerror="alert(1)"> launch')
    expect(panel.locator("img")).to_have_count(0)
    assert_clean(page, "overview with the panel")
    panel.screenshot(path=str(SCREENSHOTS / "dashboard-most-engaged.png"))

    with page.expect_download() as download_info:
        panel.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(
        r"acme-most-engaged-[\d-]{10}-[\d-]{10}-utc\.csv", download.suggested_filename
    )
    with Path(download.path()).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert rows[0]["Engagement"] == "42"
    assert rows[0]["reach"] == "9000"
    assert rows[0]["effective_label"] == top.label
    assert rows[0]["Text"] == 'acme <img src=x onerror="alert(1)"> launch'
    assert_clean(page, "download")

    panel.get_by_role("link", name="All mentions by engagement").click()
    expect(page).to_have_url(re.compile(r"/dashboard/explorer/\?.*sort=engagement"))
    expect(page.locator("tr[data-row]").first).to_contain_text("launch")
    assert_clean(page, "explorer sorted by engagement")

    page.go_back()
    page.locator("#panel-engaged").get_by_role("link", name="Rita").click()
    expect(page).to_have_url(re.compile(rf"/authors/{top.author_id}/\?brand={acme.pk}"))
    expect(page.locator("h1")).to_contain_text("Rita")
    expect(page.locator("main form")).to_have_count(0)
    assert_clean(page, "author page, read-only")
