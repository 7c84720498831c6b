"""The dashboard's authors page sends every reader to the author page, which marketers may
read since issue 12 (tests/engagement/test_views_author.py has what they see there)."""

# ruff: noqa: F401, F811 (fixtures imported by name, used as parameters)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.engagement.conftest import acme, admin_user, marketer, social_source, store_mention

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["marketer", "admin_user"])
def test_each_author_links_to_their_author_page_and_it_opens(
    request, client, acme, social_source, who
):
    store_mention(social_source, "acme is great", author_handle="ann@social.example")
    store_mention(social_source, "acme is slow", author_handle="bob@social.example")
    client.force_login(request.getfixturevalue(who))

    page = client.get(reverse("dashboard:authors"), {"brand": acme.pk, "range": "7d"})

    assert page.status_code == 200
    body = page.content.decode()
    rows = re.findall(r'<tr data-author="(\d+)">(.*?)</tr>', body, re.S)
    assert {pk for pk, _ in rows} and len({pk for pk, _ in rows}) == 2
    for pk, row in rows:
        link = f"{reverse('engagement:author', args=[int(pk)])}?brand={acme.pk}"
        assert f'href="{link}">Author page</a>' in row
        assert client.get(link).status_code == 200
