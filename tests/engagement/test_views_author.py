"""The author page as marketers read it (issue 12): read-only, with the brand's mentions, the
author's standing and cases, no action; through the Django test client on real PostgreSQL.

The agent's view of the same page is in tests/engagement/test_views_case.py; who may open it
at all is in test_permission_matrix.py (Action.VIEW_AUTHORS).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from engagement import services
from engagement.models import AuthorStanding, Case, CaseMention, Note, Reply, SavedReply, Tag
from listening.models import Source
from tests.engagement.conftest import store_mention

pytestmark = pytest.mark.django_db

HANDLE = "carol@social.example"
# Every URL a POST on the author's case could go to: none may appear on a marketer's page.
ACTION_PATHS = (
    "/claim/",
    "/release/",
    "/assign/",
    "/takeover/",
    "/status/",
    "/notes/",
    "/tags/",
    "/reply/",
    "/correct/",
    "/similar/",
    "/merge",
)


def url(name, *args) -> str:
    return reverse(f"engagement:{name}", args=args)


@pytest.fixture
def heard(acme, other_brand, social_source, agent):
    """Carol, heard by Acme (two mentions, a case, a standing) and by Initech (one mention)."""
    now = timezone.now()
    complaint = store_mention(
        social_source,
        "acme is terrible, my order is lost",
        published_at=now - timedelta(days=2),
    )
    praise = store_mention(
        social_source, "acme sorted it out, thanks!", published_at=now - timedelta(days=1)
    )
    case = Case.objects.create(
        brand=acme,
        author=complaint.author,
        opened_at=complaint.published_at,
        subject=complaint.text,
        status=Case.Status.RESOLVED,
        outcome=Case.Outcome.IMPROVED,
        assignee=agent,
    )
    CaseMention.objects.create(case=case, mention=complaint, brand=acme)
    AuthorStanding.objects.create(
        author=complaint.author,
        brand=acme,
        standing="advocate",
        positive_count=1,
        negative_count=1,
        mention_count=2,
    )
    initech_source = Source.objects.create(
        brand=other_brand, kind="mastodon", url="https://initech.example"
    )
    initech = store_mention(initech_source, "initech billing is broken again")
    assert initech.author_id == complaint.author_id
    return case, complaint, praise


def page(client, user, author_id, brand_id):
    client.force_login(user)
    return client.get(url("author", author_id), {"brand": brand_id})


def test_a_marketer_reads_the_author_page_of_their_brand(client, acme, marketer, heard):
    case, complaint, praise = heard

    response = page(client, marketer, case.author_id, acme.pk)

    assert response.status_code == 200
    body = response.content.decode()
    assert "acme is terrible, my order is lost" in body
    assert "acme sorted it out, thanks!" in body
    assert "Advocate" in body
    assert "(1 positive, 1 negative of 2 mentions)" in body
    # The cases list: number, status and outcome, without a link the marketer would meet a
    # 403 behind.
    assert f"#{case.pk}" in body
    assert "Resolved" in body and "Improved" in body
    assert url("case", case.pk) not in body


def test_the_page_shows_times_in_the_zone_chosen_on_the_dashboard(client, acme, marketer, heard):
    from zoneinfo import ZoneInfo

    from dashboard.timezones import SESSION_KEY

    case, complaint, praise = heard
    client.force_login(marketer)
    session = client.session
    session[SESSION_KEY] = "Asia/Kathmandu"  # +05:45: no other zone gives these minutes
    session.save()
    body = client.get(url("author", case.author_id), {"brand": acme.pk}).content.decode()
    local = complaint.published_at.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert local.strftime("%Y-%m-%d %H:%M") in body


def test_a_marketer_sees_only_their_brands_mentions_of_the_author(
    client, acme, other_brand, marketer, heard
):
    case, _, _ = heard

    body = page(client, marketer, case.author_id, acme.pk).content.decode()

    assert "initech billing" not in body
    # Initech heard Carol too, but the marketer is no member of it: nothing to see there.
    assert page(client, marketer, case.author_id, other_brand.pk).status_code == 404


def test_a_marketers_author_page_offers_no_action(client, acme, marketer, heard):
    case, _, _ = heard

    body = page(client, marketer, case.author_id, acme.pk).content.decode()

    forms = re.findall(r"<form[^>]*>", body)
    # The only form is the top bar's sign-out.
    assert forms == [f'<form method="post" action="{reverse("logout")}" class="inline">']
    assert not re.search(r"hx-(post|put|patch|delete)=", body)
    for path in ACTION_PATHS:
        assert path not in body, path
    for words in ("Claim", "Reply", "Add note", "Correct", "Merge", "Tags"):
        assert f">{words}" not in body, words


def test_the_case_actions_still_refuse_a_marketer(client, acme, marketer, agent, heard):
    case, complaint, _ = heard
    reply = Reply.objects.create(case=case, user=agent, text="x", status=Reply.Status.FAILED)
    saved = SavedReply.objects.create(brand=acme, title="t", body="b")
    tag = Tag.objects.create(brand=acme, name="shipping")
    client.force_login(marketer)
    posts = [
        (url("case-claim", case.pk), {}),
        (url("case-release", case.pk), {}),
        (url("case-assign", case.pk), {"assignee": marketer.pk}),
        (url("case-takeover", case.pk), {}),
        (url("case-status", case.pk), {"status": "open"}),
        (url("case-note", case.pk), {"text": "seen by marketing"}),
        (url("case-tags", case.pk), {"tags": [tag.pk]}),
        (url("case-reply", case.pk), {"text": "Hello"}),
        (url("case-reply-manual", case.pk), {"text": "Hello"}),
        (url("reply-retry", reply.pk), {}),
        (url("mention-correct", complaint.pk), {"case": case.pk, "label": "positive"}),
        (url("case-similar-reply", case.pk), {"text": "x", "cases": [case.pk], "mode": "manual"}),
    ]

    for path, data in posts:
        assert client.post(path, data).status_code == 403, path
        assert client.post(path, data, HTTP_HX_REQUEST="true").status_code == 403, path
    assert client.get(url("saved-reply-render", case.pk, saved.pk)).status_code == 403
    assert client.get(url("case", case.pk)).status_code == 403

    case.refresh_from_db()
    assert (case.assignee, case.status) == (agent, Case.Status.RESOLVED)
    assert not case.tags.exists()
    assert not Note.objects.exists()
    assert Reply.objects.count() == 1
    assert not complaint.corrections.exists()


def test_agents_and_admins_still_get_the_case_links(client, acme, agent, admin_user, heard):
    case, _, _ = heard

    for user in (agent, admin_user):
        body = page(client, user, case.author_id, acme.pk).content.decode()
        assert f'<a href="{url("case", case.pk)}">#{case.pk}</a>' in body


def test_the_author_page_shows_the_brands_effective_label(client, acme, marketer, agent, heard):
    case, complaint, _ = heard
    assert complaint.label == "negative"
    services.sentiment_correct(
        mention=complaint, brand=acme, user=agent, label="neutral", reason="a question"
    )

    body = page(client, marketer, case.author_id, acme.pk).content.decode()

    # The timeline and the trajectory table both carry the corrected label, not VADER's.
    assert 'class="label label-negative"' not in body
    assert body.count('class="label label-neutral"') == 2


def test_an_unscored_mention_shows_as_not_scored_and_stays_off_the_tone_line(
    client, acme, marketer, social_source
):
    author = {"author_handle": "eva@social.example", "author_name": "Eva"}
    spanish = store_mention(
        social_source,
        "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo servicio.",
        language="",
        **author,
    )
    english = store_mention(social_source, "Acme is awful and broken", **author)

    body = page(client, marketer, spanish.author_id, acme.pk).content.decode()

    # The timeline and the trajectory table both say so; only the English one is on the line.
    assert body.count('class="label label-unscored">not scored (language)') == 2
    assert body.count('class="point negative"') == 1
    assert f"{english.our_compound:+.2f}" in body
