"""The 403 page in a real browser (issue 11): a marketer who opens the queue reads what their
role allows and follows the link to their dashboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.brands.conftest import PASSWORD
from tests.browser import skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_refused_the_queue_follows_the_page_to_the_dashboard(
    page, live_server, marketer
):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/"))

    response = page.goto(f"{live_server.url}/queue/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="This page is not open to your role")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Acme")
    expect(row).to_contain_text("Marketer")
    expect(row).to_contain_text("Not the care queue or its cases.")

    row.get_by_role("link", name="The dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboard/overview/"))
