"""The case page, its actions and the author page, through the Django test client on real
PostgreSQL. Mentions are stored through the real listening pipeline (store_mention)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from brands.models import AuditLog
from engagement.models import (
    AuthorStanding,
    Case,
    CaseMention,
    CasePresence,
    Note,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
)
from listening.models import Mention, MentionMatch, Source
from tests.engagement.conftest import store_mention

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def make_case(brand, source, texts, *, minutes_ago=60, **fields) -> Case:
    """A case holding one stored mention per text, a minute apart, oldest first."""
    now = timezone.now()
    mentions = []
    for i, text in enumerate(texts):
        kwargs = {}
        if isinstance(text, tuple):
            text, kwargs = text
        kwargs.setdefault("published_at", now - timedelta(minutes=minutes_ago - i))
        mentions.append(store_mention(source, text, **kwargs))
    fields.setdefault("subject", mentions[0].text)
    case = Case.objects.create(
        brand=brand,
        author=mentions[0].author,
        opened_at=mentions[0].published_at,
        **fields,
    )
    for mention in mentions:
        CaseMention.objects.create(case=case, mention=mention, brand=brand)
    return case


@pytest.fixture
def case(acme, social_source) -> Case:
    return make_case(
        acme,
        social_source,
        ["My acme order never arrived and support is terrible", "Still waiting, acme?"],
        status=Case.Status.OPEN,
        priority=42.5,
        priority_band="medium",
        priority_parts={
            "negativity": {"points": 30.0, "text": "most negative compound -0.72"},
            "reach": {"points": 12.5, "text": "120 followers"},
        },
        first_response_due=timezone.now() - timedelta(minutes=5),
    )


@pytest.fixture
def rss_source(acme) -> Source:
    return Source.objects.create(brand=acme, kind="rss", url="https://news.example/feed.xml")


def url(name, *args) -> str:
    return reverse(f"engagement:{name}", args=args)


def signed_in(client, user):
    client.force_login(user)
    return client


# --- the page ---------------------------------------------------------------------------------


def test_it_shows_the_conversation_in_time_order_with_replies_and_notes(
    client, case, agent, teammate, acme, social_source
):
    first, second = (
        cm.mention for cm in CaseMention.objects.filter(case=case).order_by("mention__published_at")
    )
    brand_answer = store_mention(
        social_source,
        "@carol sorry about that, acme is on it",
        author_handle="acme_help@social.example",
        author_name="Acme Help",
        published_at=first.published_at + timedelta(seconds=30),
    )
    CaseMention.objects.create(case=case, mention=brand_answer, brand=acme, is_brand_reply=True)
    Reply.objects.create(
        case=case,
        user=agent,
        text="We sent a replacement",
        status=Reply.Status.SENT,
        url="https://social.example/@acme_help/9",
        created_at=second.published_at + timedelta(seconds=10),
        sent_at=second.published_at + timedelta(seconds=11),
    )
    Reply.objects.create(
        case=case,
        user=agent,
        text="Second try",
        status=Reply.Status.FAILED,
        attempts=3,
        error="HTTP 502 from the instance",
        created_at=second.published_at + timedelta(seconds=20),
    )
    Reply.objects.create(
        case=case,
        user=agent,
        text="Retrying this one",
        status=Reply.Status.SENDING,
        attempts=2,
        created_at=second.published_at + timedelta(seconds=25),
    )
    Reply.objects.create(
        case=case,
        user=agent,
        text="Answered in the app",
        status=Reply.Status.MANUAL,
        url="https://social.example/@acme_help/10",
        created_at=second.published_at + timedelta(seconds=30),
    )
    Note.objects.create(
        case=case, user=teammate, text="VIP customer", created_at=first.published_at
    )

    response = signed_in(client, agent).get(url("case", case.pk))

    assert response.status_code == 200
    body = response.content.decode()
    order = [
        "My acme order never arrived",
        "VIP customer",
        "sorry about that, acme is on it",
        "Still waiting, acme?",
        "We sent a replacement",
        "Second try",
        "Retrying this one",
        "Answered in the app",
    ]
    positions = [body.index(text) for text in order]
    assert positions == sorted(positions)
    assert "brand reply" in body
    assert "failed: HTTP 502 from the instance" in body
    assert "retrying (attempt 2)" in body
    assert "replied on platform" in body
    assert 'href="https://social.example/@acme_help/10"' in body
    assert "Internal note" in body


def test_it_shows_each_mentions_sentiment_and_the_priority_explained(client, case, agent):
    mention = case.case_mentions.order_by("mention__published_at").first().mention

    body = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    assert f"VADER {mention.compound:.3f}" in body
    assert f'label-{mention.label}">{mention.label}' in body
    assert "medium · 42.50" in body
    assert "negativity: most negative compound -0.72 (+30.00)" in body
    assert "reach: 120 followers (+12.50)" in body
    assert "overdue" in body


def test_it_shows_earshots_score_beside_vaders_and_not_scored_for_another_language(
    client, acme, social_source, agent
):
    spanish_text = "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo."
    case = make_case(acme, social_source, [(spanish_text, {"language": ""}), "acme is awful"])
    spanish, english = (
        link.mention for link in case.case_mentions.order_by("mention__published_at")
    )

    body = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    article = body[
        body.index(f'id="mention-{spanish.pk}"') : body.index(f'id="mention-{english.pk}"')
    ]
    assert 'label-unscored">not scored (language)' in article
    assert "(language: es)" in article
    assert f"VADER {spanish.compound:.3f}" in article
    assert "Earshot " not in article
    # Any label may be given to an unscored mention.
    for value in ("positive", "neutral", "negative"):
        assert f'name="label" value="{value}"' in article
    assert f"Earshot {english.our_compound:.3f}" in body
    assert f"VADER {english.compound:.3f}" in body


def test_it_escapes_hostile_mention_text_and_author_names(client, acme, social_source, agent):
    hostile = make_case(acme, social_source, ["acme broke"])
    # Stored text is already cleaned of markup; write the worst case straight to the rows.
    mention = hostile.case_mentions.get().mention
    Mention.objects.filter(pk=mention.pk).update(text="acme <script>alert(1)</script> broke")
    hostile.author.display_name = '<img src=x onerror="alert(2)">'
    hostile.author.save()

    body = signed_in(client, agent).get(url("case", hostile.pk)).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in body


def test_it_says_when_a_mention_was_cut_at_the_stored_limit(
    client, acme, social_source, agent, settings
):
    settings.EARSHOT_MENTION_TEXT_MAX_CHARS = 200
    long = make_case(acme, social_source, ["acme broke " + "again " * 100, "acme short"])

    body = signed_in(client, agent).get(url("case", long.pk)).content.decode()

    assert body.count("Truncated: the post was longer than Earshot stores") == 1
    assert "the whole post is on " in body


def test_it_links_mentions_only_over_http_with_safe_rel(client, acme, social_source, agent):
    case = make_case(acme, social_source, ["acme is broken", "acme still broken"])
    bad, good = (cm.mention for cm in case.case_mentions.order_by("mention__published_at"))
    Mention.objects.filter(pk=bad.pk).update(url="javascript:alert(document.cookie)")
    case.author.profile_url = "javascript:alert(3)"
    case.author.save()

    body = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    assert "javascript:" not in body
    link = re.search(rf'<a href="{re.escape(good.url)}"[^>]*>', body)
    assert link is not None
    assert 'rel="noopener noreferrer nofollow"' in link.group(0)


def test_it_links_only_what_web_url_makes_a_link(client, acme, social_source, agent):
    """The case page and the author page follow listening.outside.web_url, the one link rule:
    a URL a browser would read oddly (a bidi override, a space) is shown as no link at all."""
    case = make_case(acme, social_source, ["acme is broken", "acme still broken"])
    odd, good = (cm.mention for cm in case.case_mentions.order_by("mention__published_at"))
    Mention.objects.filter(pk=odd.pk).update(url="https://evil.example/\u202egnp.exe")
    case.author.profile_url = "https://evil.example/a b"
    case.author.save()
    client = signed_in(client, agent)

    body = client.get(url("case", case.pk)).content.decode()
    response = client.get(reverse("engagement:author", args=[case.author_id]), {"brand": acme.pk})
    author = response.content.decode()

    assert 'href="https://evil.example' not in body
    assert re.search(rf'<a href="{re.escape(good.url)}"', body) is not None
    assert response.status_code == 200
    assert 'href="https://evil.example' not in author


def test_it_shows_the_author_card_with_standing_and_other_cases(
    client, case, acme, social_source, agent
):
    AuthorStanding.objects.create(
        author=case.author, brand=acme, standing="detractor", negative_count=3, mention_count=4
    )
    older = make_case(
        acme,
        social_source,
        ["acme lost my parcel last year"],
        minutes_ago=60 * 24 * 300,
        status=Case.Status.RESOLVED,
        outcome=Case.Outcome.IMPROVED,
    )

    body = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    assert "Carol" in body
    assert "120 followers" in body
    assert "Detractor" in body
    assert f'href="{url("case", older.pk)}">#{older.pk}</a> Resolved · Improved' in body
    assert f"{url('author', case.author_id)}?brand={acme.pk}" in body


def test_the_case_page_takes_a_fixed_number_of_queries(
    client, case, acme, social_source, agent, django_assert_max_num_queries
):
    for i in range(5):
        store = store_mention(social_source, f"acme {i} more complaints, terrible")
        CaseMention.objects.create(case=case, mention=store, brand=acme)
        Reply.objects.create(case=case, user=agent, text=f"r{i}", status=Reply.Status.SENT)
        Note.objects.create(case=case, user=agent, text=f"n{i}")
    Tag.objects.create(brand=acme, name="billing")
    SavedReply.objects.create(brand=acme, title="Sorry", body="Sorry {author_name}")
    signed_in(client, agent)

    with django_assert_max_num_queries(17):
        response = client.get(url("case", case.pk))

    assert response.status_code == 200


# --- ownership ----------------------------------------------------------------------------------


def test_an_agent_claims_an_unowned_case_and_can_release_it(client, case, agent):
    signed_in(client, agent)

    response = client.post(url("case-claim", case.pk))

    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assignee == agent
    page = client.get(url("case", case.pk)).content.decode()
    assert "You own this case now." in page
    assert "Release" in page

    response = client.post(url("case-release", case.pk), **HX)

    assert response.status_code == 200
    assert 'id="case-body"' in response.content.decode()
    case.refresh_from_db()
    assert case.assignee is None


def test_claiming_a_case_someone_owns_shows_why_with_htmx(client, case, agent, teammate):
    case.assignee = teammate
    case.save()

    response = signed_in(client, agent).post(url("case-claim", case.pk), **HX)

    assert response.status_code == 409
    assert 'class="error"' in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == teammate


def test_taking_over_is_explicit_and_logged(client, case, agent, teammate):
    case.assignee = teammate
    case.save()
    signed_in(client, agent)
    page = client.get(url("case", case.pk)).content.decode()
    assert "Only the case's owner can reply (tom owns it)" in page
    assert "Take over" in page

    response = client.post(url("case-takeover", case.pk), **HX)

    assert response.status_code == 200
    assert "(you)" in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == agent
    assert AuditLog.objects.filter(object_id=str(case.pk), action__icontains="takeover").exists()


def test_an_admin_assigns_a_case_to_a_teammate(client, case, admin_user, teammate):
    response = signed_in(client, admin_user).post(
        url("case-assign", case.pk), {"assignee": teammate.pk}, **HX
    )

    assert response.status_code == 200
    case.refresh_from_db()
    assert case.assignee == teammate


def test_assigning_to_someone_outside_the_brand_is_refused(client, case, agent, outsider):
    response = signed_in(client, agent).post(
        url("case-assign", case.pk), {"assignee": outsider.pk}, **HX
    )

    assert response.status_code == 409
    case.refresh_from_db()
    assert case.assignee is None


# --- status, notes, tags ------------------------------------------------------------------------


def test_status_moves_to_waiting_then_resolved_and_reopens(client, case, agent):
    case.assignee = agent
    case.save()
    signed_in(client, agent)

    response = client.post(url("case-status", case.pk), {"status": "waiting"}, **HX)
    assert response.status_code == 200
    assert 'id="case-header"' in response.content.decode()
    assert "Waiting on customer" in response.content.decode()

    response = client.post(url("case-status", case.pk), {"status": "resolved"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.RESOLVED
    assert "Reopen" in client.get(url("case", case.pk)).content.decode()

    client.post(url("case-status", case.pk), {"status": "open"}, **HX)
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN


def test_an_unknown_status_is_refused_with_a_message(client, case, agent):
    response = signed_in(client, agent).post(url("case-status", case.pk), {"status": "gone"}, **HX)

    assert response.status_code == 409
    assert "status" in response.content.decode()


def test_a_note_is_added_to_the_conversation(client, case, agent):
    signed_in(client, agent)

    response = client.post(url("case-note", case.pk), {"text": "Call <b>them</b>"}, **HX)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="case-conversation"' in body
    assert "Call &lt;b&gt;them&lt;/b&gt;" in body
    assert Note.objects.get(case=case).user == agent

    response = client.post(url("case-note", case.pk), {"text": "plain"})
    assert response.status_code == 302
    assert Note.objects.filter(case=case).count() == 2


def test_tags_are_set_from_the_brands_tags(client, case, agent, acme, other_brand):
    billing = Tag.objects.create(brand=acme, name="billing")
    Tag.objects.create(brand=acme, name="shipping")
    foreign = Tag.objects.create(brand=other_brand, name="secret")
    signed_in(client, agent)

    response = client.post(url("case-tags", case.pk), {"tags": [billing.pk]}, **HX)

    assert response.status_code == 200
    assert list(case.tags.all()) == [billing]
    assert re.search(rf'value="{billing.pk}" checked', response.content.decode())

    response = client.post(url("case-tags", case.pk), {"tags": [foreign.pk]}, **HX)
    assert response.status_code == 409
    assert list(case.tags.all()) == [billing]

    client.post(url("case-tags", case.pk), {})
    assert list(case.tags.all()) == []


# --- replies ------------------------------------------------------------------------------------


def test_a_non_owners_reply_is_refused_and_stores_nothing(client, case, agent, teammate):
    case.assignee = teammate
    case.save()

    response = signed_in(client, agent).post(
        url("case-reply", case.pk), {"text": "Hello there"}, **HX
    )

    assert response.status_code == 409
    body = response.content.decode()
    assert 'class="error"' in body
    assert "Hello there" in body  # what was typed is kept
    assert not Reply.objects.exists()

    response = client.post(url("case-reply", case.pk), {"text": "Hello there"})
    assert response.status_code == 302
    assert not Reply.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages


def test_replying_on_a_platform_earshot_cannot_post_offers_the_manual_path(
    client, acme, rss_source, agent
):
    case = make_case(acme, rss_source, ["acme blog post says the product is bad"], assignee=agent)
    signed_in(client, agent)
    page = client.get(url("case", case.pk)).content.decode()
    assert "This platform cannot be answered from Earshot" in page

    response = client.post(url("case-reply", case.pk), {"text": "Thanks, fixing it"}, **HX)

    assert response.status_code == 409
    body = response.content.decode()
    assert "mark it replied" in body
    assert '<details class="manual" open>' in body
    assert not Reply.objects.exists()

    response = client.post(
        url("case-reply-manual", case.pk),
        {"text": "Thanks, fixing it", "url": "https://news.example/comment/4"},
        **HX,
    )

    assert response.status_code == 200
    reply = Reply.objects.get(case=case)
    assert reply.status == Reply.Status.MANUAL
    assert reply.url == "https://news.example/comment/4"
    assert "replied on platform" in response.content.decode()


@pytest.mark.parametrize(
    ("config", "shown"),
    [
        (
            {"identifier": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
            "At most 300 characters on this platform.",
        ),
        ({}, "Earshot has no Bluesky account to reply with on this source"),
    ],
)
def test_the_reply_box_says_what_the_platform_takes(client, acme, agent, config, shown):
    source = Source.objects.create(brand=acme, kind="bluesky", url="", config=config)
    case = make_case(acme, source, ["acme app keeps crashing"], assignee=agent)
    signed_in(client, agent)

    page = client.get(url("case", case.pk)).content.decode()

    assert shown in page
    assert "cannot be answered from Earshot" not in page
    manual_open = '<details class="manual" open>' in page
    assert manual_open == (not config)


def test_marking_replied_refuses_a_javascript_link(client, case, agent):
    case.assignee = agent
    case.save()

    response = signed_in(client, agent).post(
        url("case-reply-manual", case.pk), {"text": "done", "url": "javascript:alert(1)"}, **HX
    )

    assert response.status_code == 409
    assert not Reply.objects.exists()


def test_a_failed_reply_is_retried_by_the_owner(client, case, agent, teammate):
    case.assignee = agent
    case.save()
    reply = Reply.objects.create(
        case=case, user=agent, text="hi", status=Reply.Status.FAILED, attempts=1, error="timeout"
    )
    signed_in(client, teammate)
    response = client.post(url("reply-retry", reply.pk), **HX)
    assert response.status_code == 409
    reply.refresh_from_db()
    assert reply.status == Reply.Status.FAILED

    response = signed_in(client, agent).post(url("reply-retry", reply.pk), **HX)

    assert response.status_code == 200
    reply.refresh_from_db()
    assert reply.status == Reply.Status.SENDING
    assert "sending" in response.content.decode()


def test_a_saved_reply_renders_with_the_authors_name(client, case, agent, acme, other_brand):
    saved = SavedReply.objects.create(
        brand=acme, title="Sorry", body="Hi {author_name}, {brand} is sorry. {agent_name}"
    )
    foreign = SavedReply.objects.create(brand=other_brand, title="X", body="secret")
    signed_in(client, agent)

    response = client.get(url("saved-reply-render", case.pk, saved.pk))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "Hi Carol, Acme is sorry. ana"
    assert client.get(url("saved-reply-render", case.pk, foreign.pk)).status_code == 404
    page = client.get(url("case", case.pk), {"saved": saved.pk}).content.decode()
    assert "Hi Carol, Acme is sorry. ana</textarea>" in page


# --- sentiment ----------------------------------------------------------------------------------


def test_correcting_sentiment_keeps_the_scores_beside_it(client, case, agent):
    mention = case.case_mentions.order_by("mention__published_at").first().mention
    signed_in(client, agent)

    response = client.post(
        url("mention-correct", mention.pk),
        {"case": case.pk, "label": "neutral", "reason": "a shipping question, not anger"},
        **HX,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="mention-{mention.pk}"' in body
    assert f"Earshot {mention.our_compound:.3f}" in body
    assert f"VADER {mention.compound:.3f}" in body
    assert "corrected to" in body and "a shipping question, not anger" in body
    correction = SentimentCorrection.objects.get(mention=mention)
    # What the correction overrode: Earshot's reading, plain VADER's stays on the mention.
    assert correction.original_compound == mention.our_compound != mention.compound
    mention.refresh_from_db()
    assert mention.label == "negative"

    response = client.post(
        url("mention-correct", mention.pk), {"case": case.pk, "label": "neutral", "reason": "x"}
    )
    assert response.status_code == 302
    assert SentimentCorrection.objects.count() == 1


def test_correcting_a_mention_outside_the_case_is_not_found(
    client, case, agent, acme, social_source
):
    elsewhere = store_mention(social_source, "acme is awful")

    response = signed_in(client, agent).post(
        url("mention-correct", elsewhere.pk), {"case": case.pk, "label": "neutral", "reason": "x"}
    )

    assert response.status_code == 404


def test_the_explanation_shows_the_words_that_carried_valence(client, acme, social_source, agent):
    case = make_case(acme, social_source, ["acme is not good and VERY terrible"])
    mention = case.case_mentions.get().mention

    response = signed_in(client, agent).get(
        url("mention-explain", mention.pk), {"case": case.pk}, **HX
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "<td>good</td>" in body
    assert "negated" in body
    assert "booster" in body
    assert "<td>terrible</td>" in body
    assert f"{mention.compound:+.3f}" in body


# --- presence -----------------------------------------------------------------------------------


def test_presence_shows_who_else_is_viewing_or_typing(client, case, agent, teammate, admin_user):
    signed_in(Client(), teammate).post(url("case-presence", case.pk), {"is_typing": "on"})
    signed_in(Client(), admin_user).post(url("case-presence", case.pk))

    response = signed_in(client, agent).post(url("case-presence", case.pk), **HX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "tom is typing" in body
    assert "ada is viewing" in body
    assert "ana" not in body
    assert CasePresence.objects.filter(case=case, user=agent, is_typing=False).exists()
    page = client.get(url("case", case.pk)).content.decode()
    assert "tom is typing" in page
    assert 'hx-trigger="load, every 5s' in page


# --- similar requests -----------------------------------------------------------------------


def test_similar_requests_are_grouped_and_answered_at_once(
    client, acme, social_source, rss_source, agent, teammate
):
    def similar(text, source, handle, **fields):
        return make_case(
            acme,
            source,
            [(text, {"author_handle": handle, "author_name": handle.split("@")[0]})],
            similarity_key="where-is-my-refund",
            status=Case.Status.OPEN,
            **fields,
        )

    main = similar("acme where is my refund", rss_source, "ann@x", assignee=agent)
    unclaimed = similar("acme where is my refund?", rss_source, "bob@x")
    theirs = similar("acme, where is my refund", rss_source, "cat@x", assignee=teammate)
    signed_in(client, agent)

    page = client.get(url("case", main.pk)).content.decode()
    assert "Similar requests (2)" in page
    assert f'name="cases" value="{unclaimed.pk}"' in page

    response = client.post(
        url("case-similar-reply", main.pk),
        {
            "text": "Refunds go out within 5 days.",
            "mode": "manual",
            "cases": [main.pk, unclaimed.pk, theirs.pk],
        },
        **HX,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "Replied on 2 of 3 cases." in body
    assert set(Reply.objects.values_list("case_id", flat=True)) == {main.pk, unclaimed.pk}
    unclaimed.refresh_from_db()
    assert unclaimed.assignee == agent
    assert f"#{theirs.pk}</a>: " in body
    assert not Reply.objects.filter(case=theirs).exists()


def test_reply_to_all_ignores_cases_outside_the_group(client, case, agent, acme, social_source):
    stranger = make_case(acme, social_source, ["acme unrelated thing"], assignee=agent)

    response = signed_in(client, agent).post(
        url("case-similar-reply", case.pk),
        {"text": "x", "mode": "manual", "cases": [stranger.pk]},
        **HX,
    )

    assert response.status_code == 409
    assert not Reply.objects.exists()


# --- the author page ----------------------------------------------------------------------------


def test_the_author_page_shows_the_trajectory_as_svg_and_table(client, acme, social_source, agent):
    now = timezone.now()
    case = make_case(
        acme,
        social_source,
        [
            ("acme is terrible", {"published_at": now - timedelta(days=3)}),
            ("acme is great now", {"published_at": now - timedelta(days=1)}),
        ],
        outcome=Case.Outcome.IMPROVED,
    )
    latest = case.case_mentions.order_by("-mention__published_at").first().mention
    Mention.objects.filter(pk=latest.pk).update(text="acme is <b>great</b> now")
    AuthorStanding.objects.create(author=case.author, brand=acme, standing="advocate")

    response = signed_in(client, agent).get(url("author", case.author_id), {"brand": acme.pk})

    assert response.status_code == 200
    body = response.content.decode()
    assert '<svg class="trajectory"' in body
    assert body.count("<circle") == 2
    assert 'class="zero"' in body
    assert "<polyline" in body
    assert 'fill="#b42318"' in body and 'fill="#067647"' in body
    assert '<table class="trajectory-table">' in body
    assert "acme is &lt;b&gt;great&lt;/b&gt; now" in body
    assert "Advocate" in body
    assert f'href="{url("case", case.pk)}">#{case.pk}</a>' in body


def test_the_author_page_needs_a_brand_that_heard_the_author(
    client, acme, other_brand, social_source, agent, outsider
):
    case = make_case(acme, social_source, ["acme is slow"])
    signed_in(client, agent)

    assert client.get(url("author", case.author_id)).status_code == 404
    assert client.get(url("author", case.author_id), {"brand": "x"}).status_code == 404
    assert client.get(url("author", case.author_id), {"brand": other_brand.pk}).status_code == 404
    other_source = Source.objects.create(brand=other_brand, kind="rss", url="https://o.example/f")
    signed_in(client, outsider)
    assert client.get(url("author", case.author_id), {"brand": other_brand.pk}).status_code == 404
    assert not MentionMatch.objects.filter(brand=other_brand).exists()
    assert other_source.pk


# --- access -------------------------------------------------------------------------------------


def every_route(case, mention, reply, saved):
    """(method, url, data) for every route of urls/case.py but the author page, which
    marketers may read (tests/engagement/test_views_author.py)."""
    return [
        ("get", url("case", case.pk), {}),
        ("post", url("case-claim", case.pk), {}),
        ("post", url("case-release", case.pk), {}),
        ("post", url("case-assign", case.pk), {"assignee": case.assignee_id}),
        ("post", url("case-takeover", case.pk), {}),
        ("post", url("case-status", case.pk), {"status": "resolved"}),
        ("post", url("case-note", case.pk), {"text": "x"}),
        ("post", url("case-tags", case.pk), {}),
        ("post", url("case-reply", case.pk), {"text": "x"}),
        ("post", url("case-reply-manual", case.pk), {"text": "x"}),
        ("post", url("reply-retry", reply.pk), {}),
        ("get", url("saved-reply-render", case.pk, saved.pk), {}),
        ("post", url("case-presence", case.pk), {}),
        ("post", url("mention-correct", mention.pk), {"case": case.pk, "label": "neutral"}),
        ("get", url("mention-explain", mention.pk), {"case": case.pk}),
        ("post", url("case-similar-reply", case.pk), {"text": "x", "cases": [case.pk]}),
    ]


@pytest.mark.parametrize(("who", "status"), [("marketer", 403), ("outsider", 404)])
def test_every_route_refuses_marketers_and_hides_from_outsiders(
    request, client, case, agent, acme, who, status
):
    case.assignee = agent
    case.save()
    mention = case.case_mentions.first().mention
    reply = Reply.objects.create(case=case, user=agent, text="x", status=Reply.Status.FAILED)
    saved = SavedReply.objects.create(brand=acme, title="t", body="b")
    signed_in(client, request.getfixturevalue(who))

    for method, path, data in every_route(case, mention, reply, saved):
        response = getattr(client, method)(path, data)
        assert response.status_code == status, (method, path)

    case.refresh_from_db()
    assert case.assignee == agent
    assert case.status == Case.Status.OPEN
    assert not Note.objects.exists()
    assert Reply.objects.count() == 1


def test_signed_out_users_are_sent_to_sign_in(client, case):
    response = client.get(url("case", case.pk))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_mutating_routes_refuse_get(client, case, agent):
    signed_in(client, agent)

    for name in ("case-claim", "case-status", "case-note", "case-reply", "case-presence"):
        assert client.get(url(name, case.pk)).status_code == 405


def test_posts_without_a_csrf_token_are_refused(case, agent):
    client = signed_in(Client(enforce_csrf_checks=True), agent)

    response = client.post(url("case-claim", case.pk))

    assert response.status_code == 403
    case.refresh_from_db()
    assert case.assignee is None
    page = client.get(url("case", case.pk)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(url("case-claim", case.pk), HTTP_X_CSRFTOKEN=token, **HX)
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.assignee == agent


def test_the_page_links_the_previous_and_next_case_in_queue_order(
    client, case, agent, acme, social_source
):
    higher = make_case(acme, social_source, ["acme is down"], priority=90.0)
    lower = make_case(acme, social_source, ["acme is slow"], priority=10.0)
    make_case(acme, social_source, ["acme was bad"], priority=50.0, status=Case.Status.RESOLVED)

    body = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    assert f'data-previous-url="{url("case", higher.pk)}"' in body
    assert f'data-next-url="{url("case", lower.pk)}"' in body
    assert 'data-queue-url="/queue/"' in body
