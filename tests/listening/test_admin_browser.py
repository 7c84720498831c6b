"""The listening admin pages in a real headless Chromium, as an Earshot admin uses them.

Everything is real: Django's live server on the test database, sources polled from a local
HTTP feed server with the real connector, and Debian's Chromium driven through Playwright.
The assertions are on what the admin reads on the page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from brands.models import Brand
from listening.models import FetchLog, Mention
from listening.services import brand_create, source_create, source_poll
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.feeds import rss_feed, rss_item

PASSWORD = "correct horse battery staple"

skip_without_chromium()


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 800}


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        username="ada", email="ada@earshot.example", password=PASSWORD
    )


def sign_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def poll(source) -> None:
    result = source_poll(source_id=source.pk)
    assert result is not None


def row(page: Page, text: str):
    """The change-list row (tr) that mentions text."""
    return page.locator("#result_list tbody tr").filter(has_text=text)


# --- Brands -------------------------------------------------------------------------------


def test_an_admin_adding_a_brand_with_a_broken_query_is_told_what_and_where(
    page, live_server, admin_user
):
    sign_in(page, live_server, admin_user)
    page.get_by_role("link", name="Brands").first.click()
    page.get_by_role("link", name="Add brand").click()
    page.get_by_label("Name").fill("Acme")
    page.get_by_label("Query").fill("(acme OR globex")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    expect(page.locator(".errorlist")).to_have_text(
        'Unbalanced parenthesis: "(" at position 1 is never closed'
    )
    # The form comes back with what was typed, so the admin only fixes the query.
    expect(page.get_by_label("Query")).to_have_value("(acme OR globex")
    assert not Brand.objects.exists()

    page.get_by_label("Query").fill("(acme OR globex)")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(row(page, "Acme")).to_contain_text("(acme OR globex)")
    assert list(Brand.objects.values_list("name", "query")) == [("Acme", "(acme OR globex)")]


# --- Test a query -------------------------------------------------------------------------


def test_an_admin_tests_a_query_against_the_stored_mentions(
    page, live_server, admin_user, feed_server
):
    acme = brand_create(name="Acme", query="acme OR globex")
    url = feed_server.add(
        "/news.xml",
        rss_feed(
            [
                rss_item("n1", "Acme phone battery lasts two days", "Charged it on Monday."),
                rss_item("n2", "Globex opens a store downtown", "Doors open at nine."),
                rss_item("n3", "Acme support kept me on hold", "Forty minutes of music."),
                rss_item("n4", "Weather today", "Sunny with light winds."),  # not stored
            ]
        ),
    )
    poll(source_create(brand=acme, kind="rss", url=url, name="News"))
    assert Mention.objects.count() == 3

    sign_in(page, live_server, admin_user)
    page.get_by_role("link", name="Brands").first.click()
    page.get_by_role("link", name="Test a query").click()
    expect(page.get_by_role("heading", name="Test a keyword query")).to_be_visible()

    page.get_by_label("Query").fill("battery OR store")
    page.get_by_role("button", name=re.compile("Test against the newest")).click()

    expect(page.locator("#query-test-summary")).to_have_text(
        "Matches 2 of the newest 3 stored mentions."
    )
    results = page.locator("#query-test-results tbody tr")
    expect(results).to_have_count(2)
    battery = results.filter(has_text="battery")
    expect(battery.locator("td").nth(1)).to_have_text(
        "Acme phone battery lasts two days. Charged it on Monday."
    )
    expect(battery.locator("td").nth(2)).to_have_text("battery")
    store = results.filter(has_text="Globex")
    expect(store.locator("td").nth(1)).to_have_text(
        "Globex opens a store downtown. Doors open at nine."
    )
    expect(store.locator("td").nth(2)).to_have_text("store")
    expect(page.get_by_text("hold")).to_have_count(0)

    # A broken query: the error, and no result table.
    page.get_by_label("Query").fill("acme AND")
    page.get_by_role("button", name=re.compile("Test against the newest")).click()
    expect(page.locator(".errorlist")).to_have_text(
        'Dangling operator: "AND" at position 6 needs a term after it'
    )
    expect(page.locator("#query-test-summary")).to_have_count(0)

    # A query that matches nothing says so, and how to widen it.
    page.get_by_label("Query").fill("zeppelin")
    page.get_by_role("button", name=re.compile("Test against the newest")).click()
    expect(page.locator("#query-test-summary")).to_have_text(
        "Matches 0 of the newest 3 stored mentions."
    )
    expect(
        page.get_by_text(
            "No stored mention matches this query. Try fewer terms, OR, or a wildcard."
        )
    ).to_be_visible()
    expect(page.locator("#query-test-results")).to_have_count(0)


# --- Source health ------------------------------------------------------------------------


def test_the_source_list_tells_a_healthy_source_from_a_failing_one(
    page, live_server, admin_user, feed_server
):
    acme = brand_create(name="Acme", query="acme")
    good_url = feed_server.add(
        "/good.xml",
        rss_feed(
            [
                rss_item("g1", "Acme opens a store downtown", "On Friday."),
                rss_item("g2", "Love the new Acme phone", "Great battery."),
            ]
        ),
    )
    bad_url = feed_server.add(
        "/broken.xml", b"<h1>Internal Server Error</h1>", status=500, content_type="text/html"
    )
    good = source_create(brand=acme, kind="rss", url=good_url, name="Acme newsroom")
    bad = source_create(brand=acme, kind="rss", url=bad_url, name="Partner blog")
    poll(good)
    poll(bad)
    poll(bad)
    error = f"Server error (HTTP 500) fetching {bad_url}; will retry later."
    assert FetchLog.objects.filter(source=bad, error_message=error).count() == 2

    sign_in(page, live_server, admin_user)
    page.get_by_role("link", name="Sources").first.click()
    expect(page.get_by_role("heading", name="Select source to change")).to_be_visible()

    healthy_row = row(page, "Acme newsroom")
    expect(healthy_row.locator("td.field-health")).to_have_text("healthy")
    # The admin's sign for an empty value.
    expect(healthy_row.locator("td.field-short_error")).to_have_text("-")

    failing_row = row(page, "Partner blog")
    # Two failures push the next poll out: the source is backing off, not disabled. The
    # count is in the health cell (the list has no column of its own for it: issue 11).
    expect(failing_row.locator("td.field-health")).to_have_text("backing off (2 failures)")
    expect(failing_row.locator("td.field-short_error")).to_have_text(f"http_5xx: {error}")

    # For the README: wide enough for every column, the app sidebar folded away.
    page.set_viewport_size({"width": 1920, "height": 600})
    page.get_by_role("button", name="Toggle navigation").click()
    expect(page.locator("#nav-sidebar")).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-sources.png"), full_page=True)

    failing_row.get_by_role("link", name="Partner blog").click()
    expect(page.get_by_role("heading", name=re.compile("Partner blog"))).to_be_visible()
    fetches = page.locator(".inline-group").filter(has_text="Fetch logs").locator("tbody tr")
    fetches = fetches.filter(has_text="http_5xx")
    expect(fetches).to_have_count(2)
    for entry in (fetches.nth(0), fetches.nth(1)):
        expect(entry.locator("td.field-http_status")).to_have_text("500")
        expect(entry.locator("td.field-error_class")).to_have_text("http_5xx")
        expect(entry.locator("td.field-error_message")).to_have_text(error)


# --- Hostile text -------------------------------------------------------------------------

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'


def test_hostile_feed_text_is_shown_as_text_and_links_are_safe(
    page, live_server, admin_user, feed_server
):
    acme = brand_create(name="Acme", query="acme")
    url = feed_server.add(
        "/hostile.xml",
        rss_feed(
            [
                rss_item(
                    "evil",
                    f"Acme recall {HOSTILE}",
                    f"{HOSTILE} Acme says &lt;b&gt;nothing to see&lt;/b&gt; here",
                    link="javascript:alert(1)",
                    author=f'mallory@example.com (<b>Mallory</b><img src=x onerror="{HOSTILE}">)',
                ),
                rss_item(
                    "fine",
                    "Acme ships on time",
                    "A calm report.",
                    link="https://news.example/acme-ships",
                    author="jo@example.com (Jo)",
                ),
            ]
        ),
    )
    poll(source_create(brand=acme, kind="rss", url=url, name="Hostile feed"))
    evil = Mention.objects.select_related("author").get(external_id="evil")
    # The stored clean text: script content dropped, the escaped <b> now a literal "<b>".
    assert "<b>nothing to see</b>" in evil.text and "__pwned" not in evil.text
    author_name = str(evil.author)
    assert "<b>Mallory</b>" in author_name
    # The RSS connector already drops non-web links (the evil item is stored without one);
    # a row written with one by an older version or another connector must not get a link
    # in the admin either.
    Mention.objects.create(
        source=evil.source,
        external_id="legacy",
        url="javascript:alert(1)",
        text="Acme legacy row with a script link",
        published_at=evil.published_at,
        neg=0.0,
        neu=1.0,
        pos=0.0,
        compound=0.0,
        label="neutral",
    )

    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/listening/mention/")
    expect(page.get_by_role("heading", name="Select mention to view")).to_be_visible()

    evil_row = row(page, "Acme recall")
    expect(evil_row.locator("td.field-short_text")).to_have_text(evil.text)
    expect(evil_row.locator("td.field-short_text")).to_contain_text("<b>nothing to see</b>")
    expect(evil_row.locator("td.field-author")).to_have_text(author_name)
    # Shown as text, so no element was made from it.
    expect(evil_row.locator("b, img, script")).to_have_count(0)
    # javascript: links are never offered ("-" is the admin's sign for an empty value).
    expect(evil_row.locator("td.field-link")).to_have_text("-")
    expect(evil_row.locator("td.field-link a")).to_have_count(0)

    legacy_row = row(page, "Acme legacy row")
    expect(legacy_row.locator("td.field-link")).to_have_text("-")
    expect(legacy_row.locator("a[href^='javascript']")).to_have_count(0)

    fine_link = row(page, "Acme ships on time").locator("td.field-link a")
    expect(fine_link).to_have_text("open")
    expect(fine_link).to_have_attribute("href", "https://news.example/acme-ships")
    rel = (fine_link.get_attribute("rel") or "").split()
    assert {"noopener", "noreferrer", "nofollow"} <= set(rel)
    assert page.evaluate("typeof window.__pwned") == "undefined"

    evil_row.locator("th a, td a").first.click()
    expect(page.get_by_role("heading", name="View mention")).to_be_visible()
    text_field = page.locator(".field-text .readonly")
    expect(text_field).to_have_text(evil.text)
    expect(text_field.locator("b, img, script")).to_have_count(0)
    expect(page.locator(".field-author .readonly")).to_contain_text(author_name)
    expect(page.locator("#content-main a[href^='javascript']")).to_have_count(0)
    expect(page.locator("#content-main img")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"

    # The same stored text on "Test a query" is text too.
    page.goto(f"{live_server.url}/admin/brands/brand/test-query/")
    page.get_by_label("Query").fill("recall OR legacy")
    page.get_by_role("button", name=re.compile("Test against the newest")).click()
    expect(page.locator("#query-test-summary")).to_have_text(
        "Matches 2 of the newest 3 stored mentions."
    )
    matched = page.locator("#query-test-results tbody tr").filter(has_text="Acme recall")
    expect(matched.locator("td").nth(1)).to_have_text(evil.text)
    expect(page.locator("#query-test-results").locator("b, img, script")).to_have_count(0)

    page.goto(f"{live_server.url}/admin/listening/mention/")
    row(page, "Acme legacy row").locator("th a, td a").first.click()
    expect(page.get_by_role("heading", name="View mention")).to_be_visible()
    expect(page.locator(".field-url .readonly")).to_have_text("javascript:alert(1)")
    expect(page.locator("#content-main a[href^='javascript']")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"
