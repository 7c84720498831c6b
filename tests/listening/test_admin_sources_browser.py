"""Sources in admin, in a real headless Chromium at 1,600 x 900 (issue 11): the list fits the
screen with a long error, each kind shows its own help as it is picked, and a host that is
down can be saved anyway. Real local feed server, real connector, no mocks."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from listening.models import Source
from listening.services import brand_create, source_create, source_poll
from tests.browser import SCREENSHOTS, skip_without_chromium
from tests.feeds import numbered_items, rss_feed
from tests.listening.test_admin_browser import PASSWORD, row, sign_in

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1600

# Collected by a script Playwright injects (not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": WIDTH, "height": 900}


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        username="ada", email="ada@earshot.example", password=PASSWORD
    )


def right_edge(locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "not laid out"
    return box["x"] + box["width"]


def test_the_sources_list_fits_1600_px_with_a_long_error(
    page: Page, live_server, admin_user, feed_server
):
    acme = brand_create(name="Acme", query="acme")
    long_path = "/feeds/" + "very-long-section-name/" * 12 + "rss.xml"
    broken = feed_server.add(long_path, b"<h1>Bad gateway</h1>" * 40, status=502)
    failing = source_create(brand=acme, kind="rss", url=broken, name="Partner blog")
    source_poll(source_id=failing.pk)
    failing.refresh_from_db()
    assert len(failing.last_error) > 300
    healthy = source_create(
        brand=acme, kind="rss", url=feed_server.add("/ok.xml", rss_feed(numbered_items(2)))
    )
    source_poll(source_id=healthy.pk)

    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/listening/source/")
    # The app sidebar stays open, as an admin arriving from the index sees it.
    expect(page.locator("#nav-sidebar")).to_be_visible()

    header = page.locator("#result_list thead th.column-short_error")
    expect(header).to_have_text("Last error")
    assert right_edge(header) <= WIDTH
    cell = row(page, "Partner blog").locator("td.field-short_error")
    expect(cell).to_be_visible()
    assert right_edge(cell) <= WIDTH
    # Not hidden inside the list's own scroll box either: the table fits its box.
    results = page.locator("#changelist .results")
    assert right_edge(cell) <= right_edge(results) + 0.5
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    # Cut short in the list, whole on hover.
    error = cell.locator(".source-error")
    expect(error).to_have_attribute("title", failing.last_error)
    expect(error).to_contain_text("http_5xx: Server error (HTTP 502)")
    assert (error.text_content() or "").endswith("…")
    expect(row(page, "Partner blog").locator("td.field-health")).to_have_text(
        "backing off (1 failure)"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-sources-1600.png"), full_page=True)


def test_each_kind_shows_its_own_help_as_it_is_picked(page: Page, live_server, admin_user):
    brand_create(name="Acme", query="acme")
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/listening/source/add/")

    helps = page.locator("#id_kind_help .kind-help")
    expect(helps).to_have_count(len(Source.Kind.choices))
    expect(helps.filter(visible=True)).to_have_count(1)
    expect(helps.filter(visible=True)).to_contain_text("RSS / Atom / JSON Feed")
    # Internal state is not asked for on a new source.
    for label in ("Cursor", "Etag", "Consecutive failures", "Next poll at", "Save anyway"):
        expect(page.get_by_label(label, exact=True)).to_have_count(0)
    expect(page.locator(".inline-group")).to_have_count(0)

    page.get_by_label("Kind").select_option("webhook")
    shown = helps.filter(visible=True)
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("Signed webhook (pushed to Earshot)")
    expect(shown).to_contain_text(
        "The delivery URL (/hooks/ and a token) and its signing secret are made when the "
        "source is saved, and shown on its page then"
    )
    expect(shown).not_to_contain_text("/hooks//")

    page.get_by_label("Kind").select_option("mastodon-stream")
    shown = helps.filter(visible=True)
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("Live: followed as it happens by manage.py run_streams.")
    expect(shown).to_contain_text("hashtag (required)")
    assert page.evaluate("window.__cspViolations") == []


def test_a_host_that_is_down_is_saved_only_when_the_admin_says_so(
    page: Page, live_server, admin_user, feed_server
):
    brand_create(name="Acme", query="acme")
    url = feed_server.add("/busy.xml", b"busy", status=503, content_type="text/plain")
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/listening/source/add/")

    page.get_by_label("Brand").select_option(label="Acme")
    page.get_by_label("Name").fill("Busy blog")
    page.get_by_label("Url").fill(url)
    page.get_by_role("button", name="Save", exact=True).click()

    errors = page.locator(".field-url .errorlist")
    expect(errors).to_contain_text("Could not fetch it (http_5xx): Server error (HTTP 503)")
    expect(errors).to_contain_text("tick \u201cSave anyway\u201d below and save again")
    assert not Source.objects.exists()

    page.get_by_label("Save anyway").check()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("Saved anyway. Could not fetch it")
    expect(row(page, "Busy blog")).to_be_visible()
    assert Source.objects.get().url == url
