"""A stranger's name or text with right-to-left override characters is shown bidi-isolated
(issue 9): it may read right-to-left itself, but never reorders the page text around it."""

from __future__ import annotations

import pytest

from engagement.models import Case
from engagement.routing import mentions_route
from listening.models import Author
from tests.engagement.conftest import store_mention

pytestmark = pytest.mark.django_db

RLO, PDF = "\u202e", "\u202c"
NAME = f"Carol {RLO}sretuo{PDF}"  # no closing PDF needed for the attack; <bdi> closes it anyway
SUBJECT = f"acme my bill is wrong again, terrible service {RLO}sdrawkcab"


@pytest.fixture
def case(acme, social_source) -> Case:
    store_mention(
        social_source,
        SUBJECT,
        author_handle=f"{RLO}carol@social.example",
        author_name=NAME,
    )
    mentions_route()
    case = Case.objects.get(brand=acme)
    # Ingest now drops overrides from one-line fields (names, handles), but rows stored
    # before that, or written another way, still have them: the pages must not trust it.
    Author.objects.filter(pk=case.author_id).update(
        display_name=NAME, handle=f"{RLO}carol@social.example"
    )
    return case


def test_the_queue_isolates_names_handles_and_subjects(client, admin_user, case):
    client.force_login(admin_user)
    content = client.get("/queue/").content.decode()
    assert f'<bdi><span class="name">{NAME}</span></bdi>' in content
    assert f'<bdi><span class="handle">{RLO}carol@social.example</span></bdi>' in content
    assert f'data-open dir="auto">{SUBJECT}</a>' in content


def test_the_case_page_isolates_the_name_the_subject_and_the_text(client, admin_user, case):
    client.force_login(admin_user)
    content = client.get(f"/cases/{case.pk}/").content.decode()
    assert f"<h1><bdi>{SUBJECT}</bdi> <small>case #{case.pk}" in content
    assert f'<strong class="author"><bdi>{NAME}</bdi></strong>' in content
    assert f'<p class="text" dir="auto">{SUBJECT}</p>' in content
    assert f"<strong><bdi>{NAME}</bdi></strong>" in content  # the author card
    assert f"Reply to <bdi>{NAME}</bdi> (r)" in content


def test_the_author_page_and_the_dashboard_isolate_them_too(client, admin_user, case):
    client.force_login(admin_user)
    author = client.get(f"/authors/{case.author_id}/?brand={case.brand_id}").content.decode()
    assert f"<h1><bdi>{NAME}</bdi> <small>" in author
    assert f'<p class="text" dir="auto">{SUBJECT}</p>' in author
    dashboard = client.get(f"/dashboard/mentions/?brand={case.brand_id}").content.decode()
    assert f"<td><bdi>{NAME}</bdi></td>" in dashboard
    assert f'<td class="text" dir="auto">{SUBJECT}</td>' in dashboard
