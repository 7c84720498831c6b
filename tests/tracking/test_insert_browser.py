""" "Insert tracked link" in a real headless Chromium: the link lands in the reply box at the
cursor on the case page, and {link:<code>} in the saved reply's body in the admin; a refused
target is said in place. Live server, the pages' own static JavaScript under the
Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engagement.models import SavedReply
from tests.browser import skip_without_chromium
from tests.engagement.test_queue_browser import sign_in
from tracking.models import TrackedLink

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_agent_inserts_a_tracked_link_into_the_reply(page, live_server, case, agent):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, agent)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    box = page.locator("#reply-text")
    box.fill("Here is the refund form:")

    page.get_by_text("Insert tracked link").click()
    page.get_by_label("Page on the brand's site").fill("https://evil.example/")
    page.get_by_role("button", name="Insert link").click()
    expect(page.locator("#tracked-link-result")).to_contain_text("not one of the brand's domains")
    expect(box).to_have_value("Here is the refund form:")

    page.get_by_label("Page on the brand's site").fill("https://acme.example/refunds")
    page.get_by_role("button", name="Insert link").click()

    expect(box).to_have_value(re.compile(r"^Here is the refund form: http://\S+/r/[\w-]{10}$"))
    link = TrackedLink.objects.get()
    assert box.input_value().endswith(f"/r/{link.code}")
    assert link.case_id == case.pk
    assert errors == []


def test_an_admin_inserts_a_template_link_into_a_saved_reply(page, live_server, shop, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    saved = SavedReply.objects.create(brand=shop, title="Roaming", body="Roaming help: ")
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/engagement/savedreply/{saved.pk}/change/")

    page.get_by_label("Page on Acme's site").fill("https://acme.example/roaming")
    page.get_by_role("button", name="Insert link").click()

    link_code = re.compile(r"^Roaming help: \{link:[\w-]{10}\}$")
    expect(page.locator("#id_body")).to_have_value(link_code)
    page.get_by_role("button", name="Save", exact=True).click()
    saved.refresh_from_db()
    assert saved.body == "Roaming help: {link:" + TrackedLink.objects.get().code + "}"
