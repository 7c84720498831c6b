"""The redirect, the postback and the pixel through a real HTTP server (live_server) and a
real HTTP client (requests), on real PostgreSQL: what a visitor's browser and a shop's server
actually get."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from tests.tracking.conftest import BROWSER, PHONE, signed
from tracking.models import Click, Conversion, TrackedLink
from tracking.services import ip_hash, link_create, tracking_settings_get
from tracking.views import PIXEL_GIF

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def link(case, agent):
    return link_create(
        brand=case.brand,
        target_url="https://shop.acme.example/deals?ref=care#top",
        campaign="winter",
        case=case,
        created_by=agent,
    )


def _click(live_server, code: str, **headers) -> requests.Response:
    return requests.get(
        f"{live_server.url}/r/{code}",
        headers={"User-Agent": BROWSER, **headers},
        allow_redirects=False,
        timeout=10,
    )


def test_a_click_is_sent_to_the_brands_page_with_utm_and_recorded(live_server, link, case):
    response = _click(live_server, link.code)

    assert response.status_code == 302
    assert "no-store" in response.headers["Cache-Control"]
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.acme.example",
        "/deals",
    )
    assert location.fragment == "top"
    query = parse_qs(location.query)
    click = Click.objects.get()
    assert query == {
        "ref": ["care"],
        "utm_source": ["earshot"],
        "utm_medium": ["social"],
        "utm_campaign": ["winter"],
        "utm_content": [link.code],
        "earshot_click": [click.token],
    }
    assert (click.link_id, click.case_id, click.author_id, click.campaign) == (
        link.pk,
        case.pk,
        case.author_id,
        "winter",
    )
    assert (click.agent_family, click.is_bot) == ("desktop", False)


def test_no_ip_address_is_stored_in_clear(live_server, link):
    _click(live_server, link.code)
    _click(live_server, link.code, **{"User-Agent": PHONE})

    clicks = list(Click.objects.order_by("pk"))
    assert [c.agent_family for c in clicks] == ["desktop", "mobile"]
    # The same address gives the same keyed hash, which is not the address.
    assert clicks[0].ip_hash == clicks[1].ip_hash == ip_hash("127.0.0.1")
    assert len(clicks[0].ip_hash) == 16
    # Nowhere in the table, in any column, as text.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM tracking_click WHERE tracking_click::text LIKE %s",
            ["%127.0.0.1%"],
        )
        assert cursor.fetchone()[0] == 0


def test_an_unknown_code_is_a_404_page_and_records_nothing(live_server, link):
    response = _click(live_server, link.code + "x")

    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]
    assert not Click.objects.exists()


def test_a_head_request_is_answered_but_counts_no_click(live_server, link):
    response = requests.head(
        f"{live_server.url}/r/{link.code}", headers={"User-Agent": BROWSER}, timeout=10
    )

    assert response.status_code == 302
    assert "earshot_click" not in response.headers["Location"]
    assert "utm_source=earshot" in response.headers["Location"]
    assert not Click.objects.exists()


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mastodon/4.3.0 (http.rb/5.2.0; +https://social.example/)",
        "Twitterbot/1.0",
        "facebookexternalhit/1.1",
        "python-requests/2.32.5",
        "",
    ],
)
def test_link_previews_and_scripts_are_counted_but_flagged_as_bots(live_server, link, user_agent):
    response = _click(live_server, link.code, **{"User-Agent": user_agent})

    assert response.status_code == 302
    click = Click.objects.get()
    assert (click.agent_family, click.is_bot) == ("bot", True)


# --- making a link over HTTP: a foreign target is refused -----------------------------------


def _signed_in(live_server, user) -> requests.Session:
    """A requests session holding a real session cookie of user, and the CSRF cookie."""
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = django_settings.AUTHENTICATION_BACKENDS[0]
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store.save()
    session = requests.Session()
    session.cookies.set(django_settings.SESSION_COOKIE_NAME, store.session_key)
    session.get(f"{live_server.url}/login/", timeout=10)  # sets csrftoken
    return session


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "https://acme.example@evil.example/",
        "https://acme.example.evil.example/",
        "javascript:alert(1)",
        "https://evil.example\\@acme.example/",
    ],
)
def test_a_link_to_another_site_is_refused_when_it_is_made(live_server, case, agent, target):
    session = _signed_in(live_server, agent)

    response = session.post(
        f"{live_server.url}/cases/{case.pk}/tracked-link/",
        data={"url": target, "campaign": "x"},
        headers={"HX-Request": "true", "X-CSRFToken": session.cookies["csrftoken"]},
        timeout=10,
    )

    assert response.status_code == 409
    assert "Not a link Earshot can track" in response.text
    assert "/r/" not in response.text
    assert not TrackedLink.objects.exists()


def test_a_link_to_the_brands_site_is_made_over_http_and_redirects(live_server, case, agent):
    session = _signed_in(live_server, agent)

    made = session.post(
        f"{live_server.url}/cases/{case.pk}/tracked-link/",
        data={"url": "https://acme.example/help", "campaign": "care"},
        headers={"HX-Request": "true", "X-CSRFToken": session.cookies["csrftoken"]},
        timeout=10,
    )

    assert made.status_code == 200
    link = TrackedLink.objects.get()
    assert f"/r/{link.code}" in made.text
    assert urlsplit(_click(live_server, link.code).headers["Location"]).netloc == "acme.example"


# --- the postback ---------------------------------------------------------------------------


def _post(live_server, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{live_server.url}/conversions/", data=body, headers=headers, timeout=10)


@pytest.fixture
def click(live_server, link) -> Click:
    _click(live_server, link.code)
    return Click.objects.get()


def _sale(of: Click, **fields) -> dict:
    """A sale of the click as a shop posts it ("at" left out: now)."""
    return {"click": of.token, "order_id": "A-1001", "amount": "49.90", "currency": "EUR", **fields}


def test_a_signed_postback_records_the_sale_once(live_server, click, secret):
    body, headers = signed(secret, _sale(click))

    first = _post(live_server, body, headers)
    replay = _post(live_server, body, headers)  # the very same request again
    again, headers2 = signed(secret, _sale(click, amount="60"))  # a second delivery, new body
    second = _post(live_server, again, headers2)

    assert (first.status_code, first.json()["result"]) == (200, "recorded")
    assert (replay.status_code, replay.json()["result"]) == (200, "duplicate")
    assert (second.status_code, second.json()["result"]) == (200, "duplicate")
    sale = Conversion.objects.get()
    assert (sale.order_id, sale.amount, sale.currency, sale.is_verified, sale.click_id) == (
        "A-1001",
        Decimal("49.900"),
        "EUR",
        True,
        click.pk,
    )


def test_a_postback_with_a_bad_signature_is_refused_and_shown_in_admin(live_server, click, secret):
    body, headers = signed("not-the-secret", _sale(click))
    unsigned = {"Content-Type": "application/json"}

    wrong = _post(live_server, body, headers)
    missing = _post(live_server, body, unsigned)

    assert wrong.status_code == 401
    assert "signature does not match" in wrong.json()["error"]
    assert missing.status_code == 401
    assert not Conversion.objects.exists()
    tracking = tracking_settings_get(brand=click.brand)
    assert tracking.postbacks_refused == 2
    assert tracking.last_postback_error.startswith("bad_signature")


def test_a_postback_signed_long_ago_is_refused_as_stale(live_server, click, secret):
    body, headers = signed(secret, _sale(click), at=int(time.time()) - 3600)

    response = _post(live_server, body, headers)

    assert response.status_code == 401
    assert "stale timestamp" in response.json()["error"]
    assert not Conversion.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"amount": "forty"}, "amount: 'forty' is not a decimal number"),
        ({"amount": "-5"}, "amount: must be a number from 0"),
        ({"amount": "NaN"}, "amount: must be a number from 0"),
        ({"amount": "1e20"}, "amount: must be a number from 0"),
        ({"amount": "1.0001"}, "amount: at most 3 decimal places"),
        ({"amount": None}, "amount: give a decimal number"),
        ({"amount": True}, "amount: give a decimal number"),
        ({"currency": "euro"}, "currency: an ISO 4217 code"),
        ({"order_id": ""}, "order_id: 1 to 200 printable characters"),
        ({"order_id": "x" * 201}, "order_id: 1 to 200 printable characters"),
        ({"at": "yesterday"}, "at: an ISO 8601 date and time"),
        ({"at": "2026-01-01T00:00:00"}, "at: an ISO 8601 date and time"),
        ({"at": "2000-01-01T00:00:00Z"}, "at: the order is dated before its click"),
        ({"at": "2999-01-01T00:00:00Z"}, "at: the order is dated in the future"),
    ],
)
def test_a_postback_with_a_bad_field_is_a_400_that_says_which(
    live_server, click, secret, fields, error
):
    body, headers = signed(secret, _sale(click, **fields))

    response = _post(live_server, body, headers)

    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert not Conversion.objects.exists()


def test_a_postback_for_an_unknown_click_or_not_json_is_refused(live_server, click, secret):
    body, headers = signed(secret, _sale(click, click="nope"))
    garbage, garbage_headers = signed(secret, b"{not json")

    assert _post(live_server, body, headers).status_code == 404
    assert _post(live_server, garbage, garbage_headers).status_code == 400
    assert not Conversion.objects.exists()


# --- the pixel ------------------------------------------------------------------------------


def _pixel(live_server, **params) -> requests.Response:
    return requests.get(
        f"{live_server.url}/conversions/pixel.gif",
        params=params,
        headers={"User-Agent": BROWSER},
        timeout=10,
    )


def test_the_pixel_records_an_unverified_sale_once(live_server, click):
    params = {"click": click.token, "order": "P-7", "amount": "12.5", "currency": "usd"}

    first = _pixel(live_server, **params)
    again = _pixel(live_server, **params)

    assert first.status_code == 200
    assert first.headers["Content-Type"] == "image/gif"
    assert first.content == PIXEL_GIF
    assert first.headers["X-Earshot-Result"] == "recorded"
    assert again.headers["X-Earshot-Result"] == "duplicate"
    sale = Conversion.objects.get()
    assert (sale.amount, sale.currency, sale.channel, sale.is_verified) == (
        Decimal("12.500"),
        "USD",
        "pixel",
        False,
    )


def test_a_bad_pixel_still_answers_an_image_with_the_reason(live_server, click):
    bad = _pixel(live_server, click=click.token, order="P-8", amount="-1", currency="USD")
    unknown = _pixel(live_server, click="nope", order="P-9", amount="1", currency="USD")

    assert (bad.status_code, bad.headers["Content-Type"]) == (400, "image/gif")
    assert bad.headers["X-Earshot-Result"].startswith("amount:")
    assert unknown.status_code == 404
    assert not Conversion.objects.exists()


def test_a_signed_postback_verifies_the_pixels_sale_and_a_later_pixel_changes_nothing(
    live_server, click, secret
):
    _pixel(live_server, click=click.token, order="A-1001", amount="40", currency="EUR")
    body, headers = signed(secret, _sale(click))

    verified = _post(live_server, body, headers)
    late_pixel = _pixel(live_server, click=click.token, order="A-1001", amount="1", currency="EUR")

    assert verified.json()["result"] == "verified"
    assert late_pixel.headers["X-Earshot-Result"] == "duplicate"
    sale = Conversion.objects.get()
    assert (sale.amount, sale.channel, sale.is_verified) == (Decimal("49.900"), "postback", True)


def test_a_postback_body_over_the_limit_is_refused_unread(live_server, click, secret):
    body, headers = signed(secret, json.dumps({"pad": "x" * 20000}).encode())

    assert _post(live_server, body, headers).status_code == 413
