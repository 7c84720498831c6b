"""The dashboard's date filter over the whole date range: never a 500 (issue 9, point 8)."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.engagement.conftest import acme, marketer, social_source, store_mention

MENTIONS = reverse("dashboard:mentions")
EXPORT = reverse("dashboard:mentions-export")
TEXT = "acme opened a shop on Main street"

pytestmark = pytest.mark.django_db

any_day = st.dates(min_value=date.min, max_value=date.max)
edge_day = st.sampled_from([date.min, date.min + timedelta(days=1), date.max, None])


@pytest.fixture(params=["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def zone(request, settings):
    """UTC, and the zones furthest east (+14) and west (-12) of it: in them the first and the
    last day of the calendar have a midnight a datetime cannot hold in UTC."""
    settings.TIME_ZONE = request.param
    return request.param


@pytest.fixture
def signed_in(client, marketer, social_source):
    store_mention(social_source, TEXT, published_at=timezone.now() - timedelta(hours=1))
    client.force_login(marketer)
    return client


def iso(day: date | None) -> str:
    # date.isoformat pads the year to four digits; strftime("%Y") would write year 1 as "1".
    return day.isoformat() if day else ""


def test_the_last_day_of_the_calendar_shows_the_page_with_todays_mentions(signed_in, acme, zone):
    response = signed_in.get(MENTIONS, {"brand": acme.pk, "date_to": "9999-12-31"})

    assert response.status_code == 200
    assert TEXT in response.content.decode()


def test_the_first_day_of_the_calendar_shows_the_page_with_todays_mentions(signed_in, acme, zone):
    response = signed_in.get(
        MENTIONS, {"brand": acme.pk, "date_from": "0001-01-01", "date_to": "9999-12-31"}
    )

    assert response.status_code == 200
    assert TEXT in response.content.decode()


def test_the_whole_calendar_exports_todays_mentions(signed_in, acme, zone):
    response = signed_in.get(
        EXPORT, {"brand": acme.pk, "date_from": "0001-01-01", "date_to": "9999-12-31"}
    )

    assert response.status_code == 200
    assert TEXT in b"".join(response.streaming_content).decode()


def test_a_day_outside_the_calendar_is_a_form_error_not_a_500(signed_in, acme):
    for value in ("10000-01-01", "0000-12-31", "9999-13-01", "1" * 30):
        response = signed_in.get(MENTIONS, {"brand": acme.pk, "date_to": value})
        assert response.status_code == 200, value
        assert "Enter a valid date." in response.content.decode(), value


@given(date_from=st.one_of(any_day, edge_day), date_to=st.one_of(any_day, edge_day))
@example(date_from=date.max, date_to=date.max)
@example(date_from=date.min, date_to=date.min)
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_pair_of_days_answers_the_page_and_shows_exactly_the_mentions_in_range(
    signed_in, acme, zone, date_from, date_to
):
    response = signed_in.get(
        MENTIONS, {"brand": acme.pk, "date_from": iso(date_from), "date_to": iso(date_to)}
    )

    assert response.status_code == 200
    body = response.content.decode()
    if date_from and date_to and date_from > date_to:
        assert "The start date is after the end date." in body
        assert TEXT not in body
        return
    published = timezone.localdate(timezone.now() - timedelta(hours=1))
    in_range = (date_from or date.min) <= published <= (date_to or date.max)
    assert (TEXT in body) == in_range
