"""The mention explorer in a real headless Chromium: a marketer searches, filters, pages and
drills down by author, with no console error and no Content-Security-Policy violation."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from engagement.models import Case, CaseMention
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.dashboard.test_explorer import NOW, make
from tests.engagement.conftest import PASSWORD, acme, marketer, social_source

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


@pytest.fixture
def watched(page: Page):
    problems: list[str] = []

    def on_console(msg) -> None:
        # A failed request is reported below with its URL (the browser's own favicon probe
        # is no error of ours).
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            problems.append(f"console: {msg.text}")

    def on_response(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.add_init_script(RECORD_VIOLATIONS)
    page.problems = problems
    return page


def assert_clean(page: Page, where: str) -> None:
    page.wait_for_load_state("networkidle")
    events = page.evaluate("window.__cspViolations || []")
    assert not page.problems and not events, (where, page.problems, events)


@pytest.fixture
def mentions(acme, social_source):
    for n in range(60):
        make(
            social_source,
            f"acme delivery update {n:02d}",
            label="negative" if n % 2 else "positive",
            handle=f"user{n % 4}",
            name=f"User \u202e{n % 4}",
            followers=n * 10,
            at=NOW - timedelta(minutes=n),
        )
    match = make(
        social_source,
        'acme refund <script>alert("x")</script> never came',
        label="negative",
        handle="rita",
        name="Rita",
        followers=5,
        at=NOW - timedelta(hours=3),
    )
    case = Case.objects.create(brand=acme, author=match.mention.author)
    CaseMention.objects.create(case=case, mention=match.mention, brand=acme)


def test_a_marketer_searches_filters_pages_and_drills_down(
    watched, live_server, marketer, acme, mentions
):
    page = watched
    page.goto(f"{live_server.url}/login/?next=/dashboard/explorer/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/explorer/"))
    rows = page.locator("tr[data-row]")
    expect(rows).to_have_count(50)
    expect(page.get_by_text("50+ mentions")).to_be_visible()
    assert_clean(page, "first page")

    # Full-text search through htmx: the results swap, the URL follows.
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Search").fill("refund")
        page.get_by_label("Search").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text('acme refund <script>alert("x")</script> never came')
    expect(page).to_have_url(re.compile(r"q=refund"))
    assert page.evaluate("window.__ran === undefined")
    assert_clean(page, "search")
    page.screenshot(path=str(SCREENSHOTS / "explorer-search.png"), full_page=True)

    # Clear, then filter by sentiment and sort by reach.
    page.get_by_role("link", name="Clear filters").first.click()
    expect(rows).to_have_count(50)
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Sentiment").select_option("negative")
    expect(rows).to_have_count(31)
    expect(page.get_by_text("31 mentions")).to_be_visible()
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Sort").select_option("reach")
    expect(rows.first).to_contain_text("acme delivery update 59")
    expect(rows.first).to_contain_text("590")
    assert_clean(page, "filtered and sorted")

    # Pages: back to every sentiment, then the next 50.
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Sentiment").select_option("")
    expect(rows).to_have_count(50)
    page.get_by_role("link", name="Next 50").click()
    expect(page).to_have_url(re.compile(r"after="))
    expect(rows).to_have_count(11)
    expect(page.get_by_text("Last page.")).to_be_visible()
    expect(page.get_by_role("link", name="First page")).to_be_visible()
    assert_clean(page, "second page")
    page.screenshot(path=str(SCREENSHOTS / "explorer.png"), full_page=True)

    # An author's name drills down to their mentions.
    page.get_by_role("link", name="Rita").click()
    expect(page).to_have_url(re.compile(r"author=rita"))
    expect(rows).to_have_count(1)
    expect(page.get_by_label("Author handle")).to_have_value("rita")
    assert_clean(page, "author drill-down")
