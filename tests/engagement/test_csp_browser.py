"""The Content-Security-Policy in a real headless Chromium: the main pages load with no
violation, and htmx and the keyboard shortcuts still work (issue 9).

The policy allows scripts and styles from our own static files only (config/settings.py):
any inline <script>, on*= handler, <style>, style="" attribute or eval left in a template,
in HTML built in Python or in htmx's configuration shows up here as Chromium's console
message "Refused to ..." or a securitypolicyviolation event, and fails the test.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from brands.models import Membership
from engagement.models import Case
from engagement.routing import mentions_route
from listening.models import FetchLog
from tests.browser import skip_without_chromium
from tests.engagement.conftest import PASSWORD, make_user, store_mention

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

# Chromium reports a blocked inline script/style/eval on the console and as an event; the
# event is collected by a script Playwright injects (not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(page: Page):
    """The page, with every console message about the policy collected."""
    messages: list[str] = []
    page.on(
        "console",
        lambda msg: (
            messages.append(f"{msg.type}: {msg.text}")
            if "Content Security Policy" in msg.text or "Refused to" in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    page.add_init_script(RECORD_VIOLATIONS)
    page.csp_messages = messages
    return page


def assert_no_violation(page: Page, where: str) -> None:
    page.wait_for_load_state("networkidle")
    events = page.evaluate("window.__cspViolations || []")
    assert not page.csp_messages and not events, (where, page.csp_messages, events)


@pytest.fixture
def ada(acme):
    """An Earshot admin who is also a Django staff superuser: every page is open to her."""
    user = make_user("ada", acme, Membership.Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


@pytest.fixture
def case(acme, social_source) -> Case:
    # A right-to-left override in the name: shown isolated, never as a style attribute.
    store_mention(
        social_source,
        "acme my bill is wrong again, terrible service",
        author_handle="carol@social.example",
        author_name="Carol \u202eevil\u202c Jones",
        published_at=timezone.now() - timedelta(minutes=12),
    )
    mentions_route()
    social_source.consecutive_failures = 2
    social_source.save(update_fields=["consecutive_failures"])
    FetchLog.objects.create(source=social_source, error_class="Timeout", error_message="slow")
    return Case.objects.get(brand=acme)


def test_the_main_pages_load_under_the_policy_with_no_violation(
    watched, live_server, ada, case, social_source
):
    page = watched
    page.goto(f"{live_server.url}/login/")
    assert_no_violation(page, "sign-in")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/queue/"))
    expect(page.locator("tr[data-row]")).to_have_count(1)
    assert_no_violation(page, "queue")

    # Keyboard shortcuts still work: "?" opens the list, "?" closes it.
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    page.keyboard.press("?")
    expect(overlay).to_be_hidden()

    # htmx still works: a filter change fetches the rows as a fragment.
    with page.expect_response(
        lambda r: "/queue/" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.get_by_label("Status").select_option("new")
    expect(page.locator("tr[data-row]")).to_have_count(1)
    assert_no_violation(page, "queue after an htmx swap")

    # The case page, where htmx polls presence on load.
    page.get_by_role("heading", name="Queue", exact=True).click()  # out of the filter select
    with page.expect_response(lambda r: f"/cases/{case.pk}/presence/" in r.url):
        page.keyboard.press("j")
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{case.pk}/"))
    assert_no_violation(page, "case")
    # The case page's own htmx settings (409 swaps) keep the policy's (htmx reads one tag).
    config = page.evaluate(
        "({eval: htmx.config.allowEval, styles: htmx.config.includeIndicatorStyles,"
        " swaps409: htmx.config.responseHandling.some(r => r.code === '409' && r.swap)})"
    )
    assert config == {"eval": False, "styles": False, "swaps409": True}

    page.goto(f"{live_server.url}/authors/{case.author_id}/?brand={case.brand_id}")
    expect(page.locator("svg.trajectory")).to_be_visible()
    assert_no_violation(page, "author and trajectory")

    for path, what in [
        ("/dashboard/", "dashboard"),
        ("/dashboard/mentions/", "dashboard mentions"),
        ("/admin/", "admin index"),
        ("/admin/listening/source/", "admin sources change list"),
        ("/admin/listening/fetchlog/", "admin fetch log change list"),
        ("/admin/listening/mention/", "admin mentions change list"),
        ("/admin/listening/author/", "admin authors change list"),
        ("/admin/brands/membership/", "admin memberships change list"),
        (f"/admin/listening/source/{social_source.pk}/change/", "admin source change form"),
        ("/admin/brands/membership/add/", "admin membership add form"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, (path, response)
        assert_no_violation(page, what)
    expect(page.locator("body")).not_to_contain_text("Server Error")

    # The source's health is still coloured, through a class instead of style="".
    page.goto(f"{live_server.url}/admin/listening/source/")
    failing = page.locator("#result_list .status-bad").first
    expect(failing).to_contain_text("failing")
    assert failing.evaluate("e => getComputedStyle(e).color") == "rgb(187, 0, 0)"


def test_an_inline_script_would_be_caught(watched, live_server, ada, case):
    """The watch works: a script injected as inline markup is refused and reported."""
    page = watched
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        """() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = true'; document.body.appendChild(s); }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran === undefined")
    events = page.evaluate("window.__cspViolations")
    assert page.csp_messages or events
