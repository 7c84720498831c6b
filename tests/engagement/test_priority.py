"""Priority names the post each part comes from (issue 11), so the case page can show it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from engagement.models import Case
from engagement.priority import case_priority, cases_priority_refresh, priority_waiting_update
from engagement.routing import mentions_route
from tests.engagement.conftest import store_mention


def test_each_part_names_the_post_it_comes_from(acme, social_source):
    now = timezone.now()
    angry = store_mention(
        social_source,
        "acme support is horrible and useless, I hate it",
        followers=10,
        external_id="angry",
        published_at=now - timedelta(hours=2),
    )
    loud = store_mention(
        social_source,
        "acme support is bad",
        followers=90_000,
        thread_id="angry",
        in_reply_to="angry",
        published_at=now - timedelta(hours=1),
    )
    spreading = store_mention(
        social_source,
        "How do I reset my acme router",
        followers=5,
        reply_count=30,
        repost_count=10,
        thread_id="angry",
        in_reply_to="angry",
        published_at=now - timedelta(minutes=30),
    )

    mentions_route(now=now)

    parts = Case.objects.get().priority_parts
    assert parts["negativity"]["mention_id"] == angry.pk
    assert parts["reach"]["mention_id"] == loud.pk
    assert parts["spread"]["mention_id"] == spreading.pk
    assert "mention_id" not in parts["waiting"]


def test_ties_name_the_earliest_post_whatever_the_order(acme, social_source):
    now = timezone.now()
    first = store_mention(
        social_source, "acme support is bad", published_at=now - timedelta(hours=1)
    )
    second = store_mention(social_source, "acme support is bad", published_at=now)
    case = Case(opened_at=now, first_response_due=now + timedelta(hours=1))

    for mentions in ([first, second], [second, first]):
        _, _, parts = case_priority(case, mentions=mentions, now=now)
        assert parts["negativity"]["mention_id"] == first.pk
        assert parts["reach"]["mention_id"] == first.pk


def test_parts_without_a_post_have_no_mention_id(acme):
    now = timezone.now()
    case = Case(opened_at=now, first_response_due=now + timedelta(hours=1))

    _, _, parts = case_priority(case, mentions=[], now=now)

    assert parts["negativity"] == {"points": 0.0, "text": "no mentions"}
    assert "mention_id" not in parts["reach"] and "mention_id" not in parts["spread"]


def test_parts_stored_before_mention_ids_still_refresh(acme, social_source):
    store_mention(social_source, "acme support is bad")
    mentions_route()
    old_parts = {
        "negativity": {"points": 8.1, "text": "most negative compound -0.20"},
        "reach": {"points": 8.7, "text": "120 followers"},
        "spread": {"points": 0.0, "text": "no reply or repost counts"},
        "waiting": {"points": 0.0, "text": "waited 0 of 60 min for first response"},
    }
    Case.objects.update(priority_parts=old_parts)

    assert cases_priority_refresh(now=timezone.now() + timedelta(minutes=30)) == 1

    case = Case.objects.get()
    assert case.priority_parts["negativity"] == old_parts["negativity"]
    assert case.priority_parts["waiting"]["points"] > 0
    priority_waiting_update(case, now=timezone.now())
    assert case.priority == round(sum(p["points"] for p in case.priority_parts.values()), 1)


# Written for these tests: a Spanish complaint plain VADER reads as negative (its "no").
SPANISH_COMPLAINT = "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo."


def test_a_mention_earshot_left_unscored_is_never_ranked_as_negative(acme, social_source):
    now = timezone.now()
    spanish = store_mention(social_source, SPANISH_COMPLAINT, language="", published_at=now)
    mild = store_mention(social_source, "acme support is a bit slow", published_at=now)
    case = Case(opened_at=now, first_response_due=now + timedelta(hours=1))
    assert spanish.compound < -0.05 and spanish.our_compound is None

    _, _, parts = case_priority(case, mentions=[spanish], now=now)
    assert parts["negativity"] == {"points": 0.0, "text": "no scored mentions (their language)"}

    _, _, parts = case_priority(case, mentions=[spanish, mild], now=now)
    assert parts["negativity"]["mention_id"] == mild.pk
    assert parts["negativity"]["points"] == round(40 * max(0.0, -mild.our_compound), 1)


def test_routing_reads_earshots_score_not_plain_vaders(acme, social_source):
    now = timezone.now()
    # Negative by plain VADER, unscored by Earshot: it opens no care case on its own...
    store_mention(social_source, SPANISH_COMPLAINT, language="", author_handle="eva@x")
    # ... but a question in any language still needs an answer, with no negativity points.
    question = store_mention(
        social_source,
        "¿Acme, por qué no funciona mi teléfono desde ayer? Nadie me responde.",
        language="",
        author_handle="leo@x",
    )
    assert question.language == "es" and question.our_label == "unscored"

    result = mentions_route(now=now)

    assert (result.opened, result.skipped) == (1, 1)
    case = Case.objects.get()
    assert case.author_id == question.author_id
    assert case.kind == Case.Kind.CARE
    assert case.priority_parts["negativity"]["points"] == 0.0
