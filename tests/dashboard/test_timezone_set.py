"""The time-zone POST of the charted pages (dashboard `timezone_set`) under hostile values:
an unknown zone is refused with a clear 400 and never reaches the session, a known one is
kept and the user goes back where they were (never to another site), never a 500."""

# ruff: noqa: F401, F811 (fixtures imported by name, used as parameters)

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from django.urls import reverse

from dashboard.timezones import SESSION_KEY, zone_names
from tests.engagement.conftest import acme, marketer

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:timezone")
OVERVIEW = reverse("dashboard:overview")
MB = 1024 * 1024

# Raw form-encoded values of tz, as a hostile client would send them.
REFUSED = {
    "empty": "",
    "NUL": "%00",
    "NUL after a zone": "UTC%00",
    "lone surrogate (invalid UTF-8)": "%ED%A0%80",
    "lone surrogate after a zone": "Europe/Paris%ED%B0%80",
    "invalid UTF-8": "%FF%FE",
    "1 MB": "a" * MB,
    "1 MB after a zone": "UTC" + "+" * (MB - 3),
    "path traversal": quote("../../etc/passwd", safe=""),
    "absolute path": quote("/usr/share/zoneinfo/UTC", safe=""),
    "newline after a zone": "UTC%0A",
    "CRLF header injection": "UTC%0D%0ASet-Cookie:%20x=1",
    "leading space": "%20UTC",
    "lower case": "europe/paris",
    "upper case": "EUROPE/PARIS",
    "odd case": "eUROPE/pARIS",
    "beyond Etc's offsets": quote("Etc/GMT+14", safe=""),
    "an offset, not a zone": quote("+05:30", safe=""),
    "the host's own zone file": "localtime",
    "posixrules": "posixrules",
    "HTML": quote("<script>alert(1)</script>", safe=""),
}
ACCEPTED = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Etc/GMT-14"]


def post(client, body: str):
    return client.post(URL, body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_a_hostile_zone_is_a_clear_400_and_never_stored(client, marketer, value):
    client.force_login(marketer)
    next_path = f"{OVERVIEW}?brand=1"

    response = post(client, f"tz={value}&next={quote(next_path, safe='')}")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "Unknown time zone."
    assert SESSION_KEY not in client.session


def test_a_refused_zone_keeps_the_zone_chosen_before(client, marketer):
    client.force_login(marketer)
    assert post(client, "tz=Asia/Kolkata").status_code == 302

    assert post(client, "tz=asia/kolkata").status_code == 400
    assert post(client, "tz=Asia/Kolkata%00").status_code == 400

    assert client.session[SESSION_KEY] == "Asia/Kolkata"


def test_a_missing_zone_is_refused(client, marketer):
    client.force_login(marketer)
    assert client.post(URL, {}).status_code == 400
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize("zone", ACCEPTED)
def test_a_known_zone_is_kept_and_the_pages_use_it(client, marketer, acme, zone):
    client.force_login(marketer)
    back = f"{OVERVIEW}?brand={acme.pk}&range=7d"

    response = client.post(URL, {"tz": zone, "next": back})

    assert response.status_code == 302
    assert response["Location"] == back
    assert client.session[SESSION_KEY] == zone
    page = client.get(back)
    assert page.status_code == 200
    assert f"<option selected>{zone}</option>" in page.content.decode()


def test_every_zone_offered_is_one_the_database_knows(client, marketer, acme):
    """The choice list is the host's tz database; PostgreSQL buckets the days with its own.
    A name only one of them knows would answer 500 (or other days) on every chart."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's zone names")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_timezone_names")
        known = {name for (name,) in cursor.fetchall()}
    assert set(zone_names()) <= known, sorted(set(zone_names()) - known)


# next: where to go back to. Only a path of this site; anything else goes to the overview.
HOSTILE_NEXT = {
    "another site": "https://evil.example/",
    "scheme-relative": "//evil.example/",
    "backslashes": "\\\\evil.example/",
    "javascript": "javascript:alert(1)",
    "NUL": "/dashboard/\x00",
    "CRLF header injection": "/dashboard/\r\nSet-Cookie: x=1",
    "newline": "/dashboard/\nx",
    "tab in the scheme": "java\tscript:alert(1)",
    "1 MB": "/" + "a" * MB,
    "lone surrogate bytes": "%ED%A0%80",
}


@pytest.mark.parametrize("value", HOSTILE_NEXT.values(), ids=HOSTILE_NEXT.keys())
def test_a_hostile_next_goes_to_the_overview_never_a_500(client, marketer, value):
    client.force_login(marketer)
    body = urlencode({"tz": "UTC", "next": value})
    if value.startswith("%"):
        body = f"tz=UTC&next={value}"

    response = post(client, body)

    assert response.status_code == 302
    location = response["Location"]
    assert location == OVERVIEW or (location.startswith("/") and not location.startswith("//"))
    assert "\n" not in location and "\r" not in location and "\x00" not in location
    assert "evil.example" not in location
    assert client.session[SESSION_KEY] == "UTC"


def test_it_takes_only_a_post(client, marketer):
    client.force_login(marketer)
    assert client.get(URL, {"tz": "UTC"}).status_code == 405
    assert SESSION_KEY not in client.session
