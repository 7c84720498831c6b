"""The tracked-link pages through the Django test client: the case page's and the saved-reply
editor's "Insert tracked link", the links page and its CSV, the tracking settings in admin."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from engagement.models import SavedReply
from tracking.models import Click, Conversion, TrackedLink, TrackingSettings
from tracking.services import link_create

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_case_page_offers_insert_tracked_link(case, agent):
    page = _client(agent).get(reverse("engagement:case", args=[case.pk])).content.decode()

    assert "Insert tracked link" in page
    assert reverse("tracking:case-link-create", args=[case.pk]) in page
    assert "earshot/tracked_link" in page


def test_insert_tracked_link_answers_the_link_to_insert(case, agent, settings):
    settings.EARSHOT_TRACKING_BASE_URL = "https://go.example"
    response = _client(agent).post(
        reverse("tracking:case-link-create", args=[case.pk]),
        {"url": "https://acme.example/refunds", "campaign": "refunds"},
        **HX,
    )

    link = TrackedLink.objects.get()
    assert response.status_code == 200
    assert f'data-tracked-link="https://go.example/r/{link.code}"' in response.content.decode()
    assert (link.case_id, link.created_by_id, link.campaign) == (case.pk, agent.pk, "refunds")


def test_a_refused_target_is_said_in_place_and_escaped(case, agent):
    response = _client(agent).post(
        reverse("tracking:case-link-create", args=[case.pk]),
        {"url": "https://<b>evil</b>.example/", "campaign": ""},
        **HX,
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert "Not a link Earshot can track" in body
    assert "<b>" not in body
    assert "data-tracked-link" not in body


def test_without_javascript_the_link_comes_back_as_a_message_on_the_case(case, agent):
    client = _client(agent)
    response = client.post(
        reverse("tracking:case-link-create", args=[case.pk]),
        {"url": "https://acme.example/", "campaign": ""},
        follow=True,
    )

    link = TrackedLink.objects.get()
    assert f"/r/{link.code}" in response.content.decode()


def test_the_saved_reply_editor_makes_a_template_link(shop, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    saved = SavedReply.objects.create(brand=shop, title="Roaming", body="Hi")
    client = _client(admin_user)

    editor = client.get(reverse("admin:engagement_savedreply_change", args=[saved.pk]))
    made = client.post(
        reverse("tracking:link-create"),
        {
            "brand": shop.pk,
            "url": "https://acme.example/roaming",
            "campaign": "r",
            "is_template": "on",
        },
        **HX,
    )

    assert "Insert tracked link" in editor.content.decode()
    link = TrackedLink.objects.get()
    assert link.is_template
    assert f'data-tracked-link="{{link:{link.code}}}"' in made.content.decode()


# --- the links page -------------------------------------------------------------------------


@pytest.fixture
def sold(case, agent, marketer):
    """A case link with a click and a 49.90 EUR sale, and a campaign link with a formula name."""
    link = link_create(
        brand=case.brand,
        target_url="https://acme.example/a",
        campaign="care",
        case=case,
        created_by=agent,
    )
    now = timezone.now()
    click = Click.objects.create(
        link=link,
        brand=case.brand,
        case=case,
        author=case.author,
        campaign="care",
        token="tok1",
        at=now - timedelta(hours=1),
    )
    Conversion.objects.create(
        brand=case.brand,
        click=click,
        order_id="A1",
        amount=Decimal("49.90"),
        currency="EUR",
        at=now,
        channel="postback",
        is_verified=True,
    )
    link_create(
        brand=case.brand,
        target_url="https://acme.example/b",
        campaign='=HYPERLINK("http://evil")',
        created_by=marketer,
    )
    return link


def test_the_links_page_shows_each_link_with_its_figures(
    sold, marketer, django_assert_max_num_queries
):
    client = _client(marketer)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("tracking:links"), {"brand": sold.brand_id})

    body = response.content.decode()
    assert response.status_code == 200
    assert f"/r/{sold.code}" in body
    assert "49.900 EUR" in body
    assert re.search(r"<strong>1</strong> click", body)
    assert "=HYPERLINK(&quot;http://evil&quot;)" in body


def test_the_links_csv_is_streamed_and_spreadsheet_safe(sold, marketer):
    response = _client(marketer).get(reverse("tracking:links-export"), {"brand": sold.brand_id})

    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_code = {row["code"]: row for row in rows}
    assert by_code[sold.code]["clicks"] == "1"
    assert by_code[sold.code]["revenue"] == "49.900 EUR"
    assert by_code[sold.code]["case_id"] == str(sold.case_id)
    formula = next(row for row in rows if row["code"] != sold.code)
    assert formula["campaign"].startswith("'=")


def test_an_agent_may_not_open_the_links_page(sold, agent):
    assert (
        _client(agent).get(reverse("tracking:links"), {"brand": sold.brand_id}).status_code == 403
    )


# --- the postback secret in admin -----------------------------------------------------------


def test_the_postback_secret_is_shown_once_when_made_and_when_rotated(shop, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client = _client(admin_user)

    added = client.post(
        reverse("admin:tracking_trackingsettings_add"),
        {"brand": shop.pk, "utm_template": ""},
        follow=True,
    )
    tracking = TrackingSettings.objects.get(brand=shop)
    change = reverse("admin:tracking_trackingsettings_change", args=[tracking.pk])
    later = client.get(change)
    rotated = client.post(
        change, {"utm_template": "utm_source=x", "rotate_secret": "on"}, follow=True
    )
    tracking.refresh_from_db()

    first = added.content.decode()
    assert "is not shown again" in first
    assert tracking.postback_secret not in later.content.decode()
    assert f"…{tracking.postback_secret[-4:]}" in client.get(change).content.decode()
    assert tracking.postback_secret in rotated.content.decode()
    assert tracking.utm_template == "utm_source=x"


def test_a_bad_utm_template_is_refused_in_admin(shop, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    response = _client(admin_user).post(
        reverse("admin:tracking_trackingsettings_add"),
        {"brand": shop.pk, "utm_template": "utm_content={author}"},
    )

    assert "unknown placeholder {author}" in response.content.decode()
    assert not TrackingSettings.objects.exists()


@pytest.mark.parametrize(
    ("role", "shown"), [("admin_user", True), ("marketer", True), ("agent", False)]
)
def test_the_main_navigation_links_tracked_links_for_admins_and_marketers(
    request, acme, role, shown
):
    client = Client()
    client.force_login(request.getfixturevalue(role))

    page = client.get(reverse("home"), follow=True).content.decode()

    assert (f'href="{reverse("tracking:links")}"' in page) is shown
