# ruff: noqa: F811 (fixtures imported by name, used as parameters)
"""Hostile values in every dashboard and explorer link parameter (issue 12's drill-down
contract, dashboard/explorer PARAMETERS): each page answers a page, a clear 400 or a
404 (an id naming nothing the user may see), never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from dashboard.explorer import PARAMETERS
from tests.dashboard.test_explorer import make
from tests.engagement.conftest import acme, marketer, social_source  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

# Raw query-string values: NUL, a lone surrogate as UTF-8 bytes (invalid UTF-8), huge and
# negative integers, years 1 and 9999 and beyond, deep brackets, a 1 MB string.
HOSTILE = [
    "%00",
    "acme%00refund",
    "%ED%A0%80",
    "%FF%FE",
    str(10**20),
    "-1",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    quote("[" * 200 + "]" * 200),
    "a" * (1024 * 1024),
]
PAGES = ["dashboard:explorer", "dashboard:explorer-export", "dashboard:overview", "dashboard:care"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("parameter", PARAMETERS)
def test_a_hostile_parameter_gets_a_page_or_a_clear_4xx_never_a_500(
    client,
    marketer,
    acme,
    social_source,
    page,
    parameter,  # noqa: F811
):
    make(social_source, "acme good mention")
    client.force_login(marketer)
    for value in HOSTILE:
        # The brand stays valid unless it is the parameter under attack.
        query = (
            f"{parameter}={value}"
            if parameter == "brand"
            else (f"brand={acme.pk}&{parameter}={value}")
        )
        response = client.get(reverse(page), QUERY_STRING=query)
        # 404 is the answer for an id that names no brand or source the user may see.
        assert response.status_code in (200, 400, 404), (page, parameter, value[:40])
        if response.status_code != 200:
            assert response.content.strip(), (page, parameter, value[:40])


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("since", "until"), [("0001-01-05", "0001-01-10"), ("9999-12-20", "9999-12-31")]
)
def test_a_range_at_the_calendars_ends_is_refused_or_shown_never_a_500(
    client, marketer, acme, page, since, until
):
    # The previous period (and the default start) are counted back from these days.
    client.force_login(marketer)
    response = client.get(reverse(page), {"brand": acme.pk, "since": since, "until": until})
    assert response.status_code in (200, 400), response.status_code
