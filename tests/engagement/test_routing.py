"""Routing mentions into cases: what needs an answer, joining, brand replies, priority,
similar requests, auto-tags, author standing and follow-up outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from engagement.care import EARLIEST
from engagement.followup import followups_evaluate
from engagement.models import AuthorStanding, AutoTagRule, CareSettings, Case, CaseMention, Tag
from engagement.priority import case_priority, cases_priority_refresh
from engagement.routing import mentions_route
from engagement.selectors.case import author_trajectory, similar_cases
from engagement.tasks import (
    cases_priority_refresh_task,
    followups_evaluate_task,
    mentions_route_task,
)
from listening.models import Author, Mention, MentionMatch, Source
from tests.engagement.conftest import store_mention
from tests.fresh_process import production_env, run_fresh

BRAND_HANDLE = "acme_help@social.example"


def only_case(brand):
    cases = list(Case.objects.filter(brand=brand))
    assert len(cases) == 1, cases
    return cases[0]


def case_of(mention, brand):
    return CaseMention.objects.select_related("case").get(mention=mention, brand=brand).case


# --- What needs an answer ---------------------------------------------------------------------


def test_a_negative_mention_opens_a_care_case(acme, social_source):
    mention = store_mention(social_source, "acme lost my parcel again, awful")
    now = timezone.now()

    result = mentions_route(now=now)

    case = only_case(acme)
    assert result.opened == 1
    assert case.kind == Case.Kind.CARE
    assert case.status == Case.Status.NEW
    assert case.author == mention.author
    assert case.subject == "acme lost my parcel again, awful"
    assert case.thread_id == mention.thread_id
    assert case.opened_at == mention.published_at
    assert case.first_response_due == mention.published_at + timedelta(minutes=60)
    assert case.resolution_due == mention.published_at + timedelta(minutes=24 * 60)
    assert MentionMatch.objects.get(mention=mention, brand=acme).routed_at == now


def test_a_long_mention_gets_its_first_140_characters_as_subject(acme, social_source):
    text = "acme support is terrible, " + "my order never arrived and nobody answers. " * 5
    store_mention(social_source, text)

    mentions_route()

    assert only_case(acme).subject == text[:140]


def test_a_question_opens_a_care_case(acme, social_source):
    store_mention(social_source, "How do I reset my acme router")

    mentions_route()

    assert only_case(acme).kind == Case.Kind.CARE


def test_a_mention_addressing_the_brand_handle_opens_a_care_case(acme, social_source):
    # Slightly positive by VADER, but it speaks to the brand: it needs an answer.
    store_mention(social_source, "@acme_help my order number is 1234")

    mentions_route()

    assert only_case(acme).kind == Case.Kind.CARE


def test_a_positive_mention_goes_to_an_advocate_case(acme, social_source):
    store_mention(social_source, "I love my new acme blender, it is great")

    result = mentions_route()

    assert only_case(acme).kind == Case.Kind.ADVOCATE
    assert (result.opened, result.advocates) == (1, 1)


def test_a_neutral_mention_gets_no_case_but_is_routed(acme, social_source):
    mention = store_mention(social_source, "acme opened a store downtown")

    result = mentions_route()

    assert not Case.objects.exists()
    assert result.skipped == 1
    assert MentionMatch.objects.get(mention=mention, brand=acme).routed_at is not None


def test_the_brands_own_model_label_decides_what_needs_an_answer(acme, social_source):
    """A brand switched to its learned model (issue 13) gets that model's label on its match
    at ingest (listening.brand_scoring); routing follows it, not Earshot's compound."""
    neutral = store_mention(social_source, "acme opened a store downtown", author_handle="a@x")
    happy = store_mention(social_source, "I love my new acme blender", author_handle="b@x")
    angry = store_mention(social_source, "acme lost my parcel again, awful", author_handle="c@x")
    # What the brand's model said of them, where it differs from Earshot's reading.
    for mention, label in ((neutral, "negative"), (happy, "neutral"), (angry, "positive")):
        assert mention.our_label != label
        MentionMatch.objects.filter(mention=mention, brand=acme).update(label=label)

    mentions_route()

    kinds = {c.author.handle: c.kind for c in Case.objects.filter(brand=acme)}
    assert kinds == {"a@x": Case.Kind.CARE, "c@x": Case.Kind.ADVOCATE}


def test_a_raised_negative_threshold_lets_mild_complaints_pass(acme, social_source):
    CareSettings.objects.create(brand=acme, negative_threshold=-0.5)
    store_mention(social_source, "acme is a bit disappointing")  # -0.49
    store_mention(social_source, "acme lost my parcel again, awful", author_handle="dan@x")  # -0.70

    mentions_route()

    assert [c.subject for c in Case.objects.filter(brand=acme)] == [
        "acme lost my parcel again, awful"
    ]


def test_questions_get_no_case_when_answering_questions_is_off(acme, social_source):
    CareSettings.objects.create(brand=acme, answer_questions=False)
    store_mention(social_source, "How do I reset my acme router")

    mentions_route()

    assert not Case.objects.exists()


def test_addressed_mentions_get_no_care_case_when_answering_them_is_off(acme, social_source):
    CareSettings.objects.create(brand=acme, answer_addressed=False)
    store_mention(social_source, "@acme_help my order number is 1234")

    mentions_route()

    # Neutral to Earshot's scorer (the handle is not sentiment) and no longer needing an
    # answer: no case at all (plain VADER read it as slightly positive).
    mention = Mention.objects.get()
    assert (mention.our_label, mention.label) == ("neutral", "positive")
    assert not Case.objects.exists()
    assert MentionMatch.objects.get().routed_at is not None


def test_routing_creates_default_care_settings(acme, social_source):
    store_mention(social_source, "acme support is bad")

    mentions_route()

    assert CareSettings.objects.get(brand=acme).first_response_minutes == 60


# --- Joining ----------------------------------------------------------------------------------


def test_the_authors_second_complaint_joins_the_open_case(acme, social_source):
    first = store_mention(social_source, "acme lost my parcel again, awful")
    mentions_route()
    second = store_mention(social_source, "acme support is bad")

    result = mentions_route()

    case = only_case(acme)
    assert result.joined == 1
    assert case_of(first, acme) == case_of(second, acme) == case


def test_two_complaints_of_one_author_in_one_batch_share_a_case(acme, social_source):
    now = timezone.now()
    store_mention(social_source, "acme lost my parcel", published_at=now - timedelta(minutes=9))
    store_mention(social_source, "acme support is bad", published_at=now - timedelta(minutes=8))

    result = mentions_route(now=now)

    assert (result.opened, result.joined) == (1, 1)
    assert only_case(acme).case_mentions.count() == 2


def test_a_reply_in_the_thread_joins_the_threads_case(acme, social_source):
    root = store_mention(social_source, "acme lost my parcel again, awful", external_id="root1")
    mentions_route()
    reply = store_mention(
        social_source,
        "Same here, how do I track an acme parcel?",
        author_handle="bob@social.example",
        thread_id="root1",
        in_reply_to="root1",
    )

    mentions_route()

    case = only_case(acme)
    assert case_of(reply, acme) == case
    assert case.author == root.author


def test_a_neutral_reply_in_an_open_thread_joins_the_conversation(acme, social_source):
    store_mention(social_source, "acme lost my parcel again, awful", external_id="root2")
    mentions_route()
    reply = store_mention(
        social_source, "acme opened a store downtown", thread_id="root2", in_reply_to="root2"
    )

    mentions_route()

    assert case_of(reply, acme) == only_case(acme)


def test_a_complaint_of_another_author_opens_its_own_case(acme, social_source):
    store_mention(social_source, "acme lost my parcel again, awful")
    store_mention(social_source, "acme support is bad", author_handle="dan@social.example")

    result = mentions_route()

    assert result.opened == 2


def test_a_complaint_does_not_join_the_authors_advocate_case(acme, social_source):
    store_mention(social_source, "I love my new acme blender, it is great")
    mentions_route()
    store_mention(social_source, "acme support is bad")

    mentions_route()

    kinds = sorted(Case.objects.filter(brand=acme).values_list("kind", flat=True))
    assert kinds == [Case.Kind.ADVOCATE, Case.Kind.CARE]


def test_a_resolved_case_reopens_when_the_author_comes_back_negative_in_the_window(
    acme, social_source
):
    now = timezone.now()
    store_mention(social_source, "acme lost my parcel", published_at=now - timedelta(hours=20))
    mentions_route(now=now - timedelta(hours=20))
    Case.objects.update(status=Case.Status.RESOLVED, resolved_at=now - timedelta(hours=10))
    store_mention(social_source, "acme support is bad", published_at=now)

    result = mentions_route(now=now)

    case = only_case(acme)
    assert result.reopened == 1
    assert case.status == Case.Status.OPEN
    assert case.reopened_count == 1
    assert case.resolved_at is None
    assert case.resolution_due == now + timedelta(minutes=24 * 60)


def test_a_resolved_case_stays_resolved_when_the_author_comes_back_after_the_window(
    acme, social_source
):
    now = timezone.now()
    store_mention(social_source, "acme lost my parcel", published_at=now - timedelta(hours=90))
    mentions_route(now=now - timedelta(hours=90))
    Case.objects.update(status=Case.Status.RESOLVED, resolved_at=now - timedelta(hours=80))
    store_mention(social_source, "acme support is bad", published_at=now)

    result = mentions_route(now=now)

    assert (result.opened, result.reopened) == (1, 0)
    assert Case.objects.filter(status=Case.Status.RESOLVED, reopened_count=0).count() == 1


def test_a_resolved_case_does_not_reopen_for_a_question(acme, social_source):
    now = timezone.now()
    store_mention(social_source, "acme lost my parcel", published_at=now - timedelta(hours=5))
    mentions_route(now=now - timedelta(hours=5))
    Case.objects.update(status=Case.Status.RESOLVED, resolved_at=now - timedelta(hours=1))
    store_mention(social_source, "How do I reset my acme router", published_at=now)

    mentions_route(now=now)

    assert Case.objects.filter(status=Case.Status.RESOLVED).count() == 1
    assert Case.objects.filter(status=Case.Status.NEW).count() == 1


def test_routing_twice_routes_nothing_twice(acme, social_source):
    store_mention(social_source, "acme lost my parcel again, awful")
    store_mention(social_source, "I love my new acme blender, it is great", author_handle="d@x")
    store_mention(social_source, "acme opened a store downtown", author_handle="e@x")

    first = mentions_route()
    second = mentions_route()

    assert first.routed == 3
    assert second.routed == 0
    assert Case.objects.count() == 2
    assert CaseMention.objects.count() == 2
    assert AuthorStanding.objects.get(author__handle="carol@social.example").mention_count == 1


def test_mentions_of_a_competitor_are_routed_for_that_brand(acme, social_source):
    store_mention(social_source, "globex lost my parcel again, awful")

    mentions_route()

    assert only_case(acme.competitors.get()).kind == Case.Kind.CARE
    assert not Case.objects.filter(brand=acme).exists()


# --- Replies made on the platform -------------------------------------------------------------


def test_a_brand_reply_in_the_thread_records_the_first_response(acme, social_source):
    now = timezone.now()
    store_mention(
        social_source,
        "acme lost my parcel again, awful",
        external_id="root3",
        published_at=now - timedelta(minutes=40),
    )
    mentions_route(now=now - timedelta(minutes=30))
    replied_at = now - timedelta(minutes=10)
    reply = store_mention(
        social_source,
        "@carol sorry about that, acme is on it",
        author_handle=BRAND_HANDLE,
        thread_id="root3",
        in_reply_to="root3",
        published_at=replied_at,
    )

    result = mentions_route(now=now)

    case = only_case(acme)
    assert result.brand_replies == 1
    assert case.first_response_at == replied_at
    assert case.status == Case.Status.WAITING
    assert case.followup_until == replied_at + timedelta(days=14)
    assert CaseMention.objects.get(mention=reply).is_brand_reply
    assert not AuthorStanding.objects.filter(author=reply.author).exists()


def test_a_brand_reply_recognises_the_handle_in_any_case_and_instance(acme, social_source):
    store_mention(social_source, "acme support is bad", external_id="root4")
    store_mention(
        social_source,
        "acme can help",
        author_handle="@ACME_Help@other.example",
        thread_id="root4",
        in_reply_to="root4",
    )

    result = mentions_route()

    assert result.brand_replies == 1
    assert only_case(acme).first_response_at is not None


def test_an_imported_conversation_keeps_its_response_time(acme, social_source):
    asked = timezone.now() - timedelta(days=30)
    store_mention(social_source, "acme support is bad", external_id="old1", published_at=asked)
    store_mention(
        social_source,
        "acme here: DM us",
        author_handle=BRAND_HANDLE,
        thread_id="old1",
        in_reply_to="old1",
        published_at=asked + timedelta(minutes=25),
    )

    mentions_route()

    case = only_case(acme)
    assert case.first_response_at - case.opened_at == timedelta(minutes=25)


def test_a_later_brand_reply_keeps_the_first_response_time(acme, social_source):
    now = timezone.now()
    store_mention(
        social_source,
        "acme support is bad",
        external_id="r5",
        published_at=now - timedelta(hours=3),
    )
    for minutes in (120, 60):
        store_mention(
            social_source,
            "acme here",
            author_handle=BRAND_HANDLE,
            thread_id="r5",
            in_reply_to="r5",
            published_at=now - timedelta(minutes=minutes),
        )

    mentions_route(now=now)

    assert only_case(acme).first_response_at == now - timedelta(minutes=120)


def test_a_brand_post_outside_any_case_thread_is_skipped(acme, social_source):
    store_mention(social_source, "acme has a new blender out today", author_handle=BRAND_HANDLE)

    result = mentions_route()

    assert result.skipped == 1
    assert not Case.objects.exists()


def test_the_customer_answering_a_waiting_case_reopens_the_conversation(acme, social_source):
    store_mention(social_source, "acme support is bad", external_id="r6")
    store_mention(
        social_source, "acme: DM us", author_handle=BRAND_HANDLE, thread_id="r6", in_reply_to="r6"
    )
    mentions_route()
    store_mention(
        social_source, "How do I DM acme?", thread_id="r6", in_reply_to="r6", external_id="r6b"
    )

    mentions_route()

    assert only_case(acme).status == Case.Status.OPEN


# --- Priority ---------------------------------------------------------------------------------


def test_a_large_spreading_complaint_outranks_a_small_one(acme, social_source):
    now = timezone.now()
    store_mention(
        social_source,
        "acme broke my order and the service is awful",
        author_handle="big@social.example",
        followers=50_000,
        reply_count=40,
        repost_count=60,
        published_at=now - timedelta(hours=1),
    )
    store_mention(
        social_source,
        "acme broke my order and the service is awful",
        author_handle="small@social.example",
        followers=10,
        published_at=now - timedelta(minutes=5),
    )
    store_mention(
        social_source,
        "acme support is horrible and useless, I hate it",
        author_handle="angry@social.example",
        followers=10,
        published_at=now,
    )

    mentions_route(now=now)

    big = Case.objects.get(author__handle="big@social.example")
    small = Case.objects.get(author__handle="small@social.example")
    angry = Case.objects.get(author__handle="angry@social.example")
    assert big.priority > angry.priority > small.priority
    # 28 + 19.6 + 20 + 12; 35 + 4.3 + 0 + 0; 28 + 4.3 + 0 + 1.
    assert (big.priority, angry.priority, small.priority) == (79.6, 39.3, 33.3)
    assert (big.priority_band, angry.priority_band, small.priority_band) == (
        "high",
        "medium",
        "low",
    )
    assert big.priority_parts["reach"]["text"] == "50,000 followers"
    assert big.priority_parts["spread"]["text"] == "100 replies/reposts per hour"
    assert big.priority_parts["spread"]["points"] == 20.0
    assert big.priority_parts["negativity"]["text"] == "most negative compound -0.70"
    assert big.priority_parts["negativity"]["points"] == 28.0
    assert big.priority_parts["waiting"]["text"] == "waited 60 of 60 min for first response"
    assert small.priority_parts["spread"]["text"] == "no reply or repost counts"
    assert small.priority_parts["reach"]["text"] == "10 followers"
    assert list(Case.objects.order_by("-priority")) == [big, angry, small]


def test_a_neutral_question_from_a_small_account_is_low_priority(acme, social_source):
    store_mention(social_source, "How do I reset my acme router", followers=10)

    mentions_route()

    case = only_case(acme)
    assert case.priority_band == "low"
    assert case.priority == pytest.approx(sum(p["points"] for p in case.priority_parts.values()))


def test_case_priority_explains_a_slow_spread_and_an_overdue_wait(acme, social_source):
    now = timezone.now()
    mention = store_mention(
        social_source,
        "acme support is bad",
        reply_count=8,
        repost_count=0,
        published_at=now - timedelta(hours=2),
    )
    mentions_route(now=now - timedelta(hours=2))
    case = only_case(acme)

    score, band, parts = case_priority(case, mentions=[mention], now=now)

    assert parts["spread"]["text"] == "4 replies/reposts per hour"
    assert parts["waiting"]["text"] == "overdue: waited 120 of 60 min for first response"
    assert parts["waiting"]["points"] == 15.0
    assert score == pytest.approx(sum(p["points"] for p in parts.values()))
    assert band in {"low", "medium", "high"}


def test_refreshing_priority_raises_waiting_points_over_time(acme, social_source):
    now = timezone.now()
    store_mention(social_source, "acme support is bad", published_at=now)
    mentions_route(now=now)
    before = only_case(acme)

    changed = cases_priority_refresh(now=now + timedelta(minutes=45))
    later = only_case(acme)
    cases_priority_refresh(now=now + timedelta(minutes=90))
    overdue = only_case(acme)

    assert changed == 1
    assert before.priority_parts["waiting"]["points"] == 0.0
    assert later.priority_parts["waiting"]["points"] == 9.0
    assert later.priority_parts["waiting"]["text"] == "waited 45 of 60 min for first response"
    assert overdue.priority_parts["waiting"]["points"] == 15.0
    assert before.priority < later.priority < overdue.priority
    assert later.priority_parts["reach"] == before.priority_parts["reach"]


def test_refreshing_priority_skips_resolved_cases(acme, social_source):
    store_mention(social_source, "acme support is bad")
    mentions_route()
    Case.objects.update(status=Case.Status.RESOLVED, resolved_at=timezone.now())

    assert cases_priority_refresh(now=timezone.now() + timedelta(hours=5)) == 0


def test_refreshing_priority_uses_a_query_per_chunk(acme, social_source, django_assert_num_queries):
    for n in range(5):
        store_mention(social_source, "acme support is bad", author_handle=f"u{n}@x")
    mentions_route()

    # One select and one bulk update for the chunk, and the select that finds no more.
    with django_assert_num_queries(3):
        assert cases_priority_refresh(now=timezone.now() + timedelta(minutes=30)) == 5


# --- Similar requests -------------------------------------------------------------------------


def test_cases_saying_the_same_thing_share_a_similarity_key(acme, social_source):
    store_mention(social_source, "My acme blender makes a grinding noise :(", author_handle="a@x")
    store_mention(
        social_source,
        "my ACME blender makes a grinding noise!!! https://pics.example/1 @acme_help #fail",
        author_handle="b@x",
    )
    store_mention(social_source, "acme lost my parcel again, awful", author_handle="c@x")

    mentions_route()

    a = Case.objects.get(author__handle="a@x")
    b = Case.objects.get(author__handle="b@x")
    assert a.similarity_key and a.similarity_key == b.similarity_key
    assert list(similar_cases(case=a)) == [b]


def test_cases_sharing_a_key_phrase_on_the_same_day_are_similar(acme, social_source):
    now = timezone.now()
    store_mention(
        social_source,
        "Why is there a grinding noise from my acme blender?",
        author_handle="a@x",
        published_at=now,
    )
    store_mention(
        social_source,
        "That grinding noise is back on my acme mixer, awful",
        author_handle="b@x",
        published_at=now,
    )
    store_mention(
        social_source,
        "Grinding noise on my acme kettle, awful",
        author_handle="c@x",
        published_at=now - timedelta(days=2),
    )

    mentions_route(now=now)

    a = Case.objects.get(author__handle="a@x")
    b = Case.objects.get(author__handle="b@x")
    day = timezone.localtime(now).date().isoformat()
    assert a.similarity_key != b.similarity_key
    assert a.phrase_key == b.phrase_key == f"{day}:grinding noise"
    assert list(similar_cases(case=a)) == [b]


def test_resolved_cases_are_not_shown_as_similar(acme, social_source):
    store_mention(social_source, "acme support is bad", author_handle="a@x")
    store_mention(social_source, "acme support is bad", author_handle="b@x")
    mentions_route()
    Case.objects.filter(author__handle="b@x").update(status=Case.Status.RESOLVED)

    assert not similar_cases(case=Case.objects.get(author__handle="a@x")).exists()


# --- Auto-tags --------------------------------------------------------------------------------


def test_an_auto_tag_rule_tags_the_case_on_arrival(acme, social_source):
    billing = Tag.objects.create(brand=acme, name="billing")
    AutoTagRule.objects.create(brand=acme, query="refund*", tag=billing)
    store_mention(social_source, "acme, I want a refund now, terrible")
    store_mention(social_source, "acme lost my parcel again, awful", author_handle="z@x")

    mentions_route()

    tagged = Case.objects.get(author__handle="carol@social.example")
    assert list(tagged.tags.all()) == [billing]
    assert not Case.objects.get(author__handle="z@x").tags.exists()


def test_an_invalid_auto_tag_rule_does_not_stop_routing(acme, social_source):
    tag = Tag.objects.create(brand=acme, name="broken")
    AutoTagRule.objects.create(brand=acme, query="(refund", tag=tag)
    store_mention(social_source, "acme, I want a refund now, terrible")

    mentions_route()

    assert not only_case(acme).tags.exists()


# --- Author standing --------------------------------------------------------------------------


def test_an_author_becomes_an_advocate_after_three_positive_mentions(acme, social_source):
    for text in ("I love acme", "acme is great", "acme, thanks, love it"):
        store_mention(social_source, text, author_handle="fan@x")
        mentions_route()
        standing = AuthorStanding.objects.get(author__handle="fan@x", brand=acme)
        if standing.positive_count < 3:
            assert standing.standing == AuthorStanding.Standing.NEUTRAL

    assert standing.standing == AuthorStanding.Standing.ADVOCATE
    assert (standing.mention_count, standing.positive_count) == (3, 3)


def test_an_author_becomes_a_detractor_after_two_negative_mentions(acme, social_source):
    now = timezone.now()
    store_mention(social_source, "acme support is bad", author_handle="grr@x", published_at=now)
    mentions_route()
    assert AuthorStanding.objects.get(author__handle="grr@x").standing == "neutral"
    store_mention(social_source, "acme lost my parcel", author_handle="grr@x", published_at=now)

    mentions_route()

    standing = AuthorStanding.objects.get(author__handle="grr@x")
    assert standing.standing == AuthorStanding.Standing.DETRACTOR
    assert standing.negative_count == 2
    assert standing.compound_sum < 0
    assert standing.last_mention_at == now


def test_a_mixed_author_stays_neutral(acme, social_source):
    for text in ("I love acme", "acme is great", "acme, thanks, love it", "acme support is bad"):
        store_mention(social_source, text, author_handle="mixed@x")
    store_mention(social_source, "acme lost my parcel", author_handle="mixed@x")

    mentions_route()

    # 3 of 5 positive (< 2/3) and 2 of 5 negative (< 1/2).
    assert AuthorStanding.objects.get(author__handle="mixed@x").standing == "neutral"


# --- Follow-up --------------------------------------------------------------------------------


def conversation(source, *, before: str, after: str | None, start):
    """A complaint, the brand's reply an hour later, and the author's later word a day later."""
    store_mention(source, before, external_id="conv", published_at=start)
    store_mention(
        source,
        "acme here, sorry: fixed on our side",
        author_handle=BRAND_HANDLE,
        thread_id="conv",
        in_reply_to="conv",
        published_at=start + timedelta(hours=1),
    )
    if after is not None:
        store_mention(source, after, published_at=start + timedelta(days=1))


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [
        ("acme lost my parcel again, awful", "acme works now, thanks", "converted"),
        ("acme support is horrible and useless, I hate it", "acme support is bad", "improved"),
        (
            "acme lost my parcel again, awful",
            "acme broke my order and the service is awful",
            "unchanged",
        ),
        ("acme support is bad", "acme support is horrible and useless, I hate it", "worsened"),
    ],
)
def test_the_follow_up_records_how_the_tone_changed(acme, social_source, before, after, outcome):
    start = timezone.now() - timedelta(days=3)
    conversation(social_source, before=before, after=after, start=start)

    mentions_route()

    case = Case.objects.get(kind=Case.Kind.CARE)
    assert case.outcome == outcome
    assert case.compound_before < 0
    assert case.compound_after is not None


def test_a_converted_author_is_recorded_while_their_praise_goes_to_advocates(acme, social_source):
    start = timezone.now() - timedelta(days=3)
    conversation(
        social_source,
        before="acme lost my parcel again, awful",
        after="Thanks acme, it works great now, love it",
        start=start,
    )

    result = mentions_route()

    care = Case.objects.get(kind=Case.Kind.CARE)
    assert result.advocates == 1
    assert care.outcome == Case.Outcome.CONVERTED
    assert care.compound_before == pytest.approx(-0.700, abs=0.001)
    assert care.compound_after == pytest.approx(0.914, abs=0.001)


def test_the_follow_up_ends_with_no_further_word_when_the_window_passes(acme, social_source):
    start = timezone.now() - timedelta(days=3)
    conversation(social_source, before="acme support is bad", after=None, start=start)
    mentions_route()
    replied = start + timedelta(hours=1)

    assert followups_evaluate(now=replied + timedelta(days=13)) == 0
    assert Case.objects.get().outcome == Case.Outcome.PENDING
    assert followups_evaluate(now=replied + timedelta(days=14, minutes=1)) == 1

    case = Case.objects.get()
    assert case.outcome == Case.Outcome.NO_FURTHER_WORD
    assert case.compound_before == pytest.approx(-0.542, abs=0.001)
    assert case.compound_after is None
    assert followups_evaluate(now=replied + timedelta(days=20)) == 0


def test_a_mention_after_the_window_does_not_count(acme, social_source):
    start = timezone.now() - timedelta(days=20)
    conversation(social_source, before="acme support is bad", after=None, start=start)
    store_mention(social_source, "acme works now, thanks", published_at=start + timedelta(days=16))

    mentions_route()
    followups_evaluate()

    assert Case.objects.get(kind=Case.Kind.CARE).outcome == Case.Outcome.NO_FURTHER_WORD


def test_the_follow_up_window_starts_for_cases_answered_by_an_agent(acme, social_source):
    store_mention(social_source, "acme support is bad")
    mentions_route()
    answered = timezone.now()
    Case.objects.update(first_response_at=answered)

    followups_evaluate(now=answered)

    assert Case.objects.get().followup_until == answered + timedelta(days=14)


def test_the_author_trajectory_lists_mentions_and_case_markers(acme, social_source):
    start = timezone.now() - timedelta(days=3)
    conversation(
        social_source,
        before="acme lost my parcel again, awful",
        after="Thanks acme, it works great now, love it",
        start=start,
    )
    store_mention(social_source, "acme opened a store downtown", published_at=start)
    mentions_route()
    author = Author.objects.get(handle="carol@social.example")

    points = author_trajectory(author=author, brand=acme)

    assert [p["kind"] for p in points] == ["mention", "mention", "first_response", "mention"]
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)
    care = Case.objects.get(kind=Case.Kind.CARE)
    opened = [p for p in points if p["kind"] == "mention" and p["case_opened"]]
    assert [p["case_kind"] for p in opened] == ["care", "advocate"]
    assert points[2]["case_id"] == care.pk
    assert points[2]["outcome"] == "converted"
    assert {p["case_id"] for p in points if p["kind"] == "mention"} >= {care.pk, None}


# --- Query counts -----------------------------------------------------------------------------


def test_routing_a_batch_of_fifty_mentions_takes_a_constant_number_of_queries(
    acme, social_source, django_assert_max_num_queries
):
    billing = Tag.objects.create(brand=acme, name="billing")
    AutoTagRule.objects.create(brand=acme, query="refund*", tag=billing)
    texts = [
        "acme lost my parcel again, awful",
        "How do I reset my acme router",
        "I love my new acme blender, it is great",
        "acme opened a store downtown",
        "acme, I want a refund now, terrible",
    ]
    for n in range(50):
        store_mention(
            social_source,
            texts[n % 5],
            author_handle=f"user{n % 20}@x",
            followers=n * 100,
            reply_count=n,
            repost_count=1,
        )
    # 23 today (conversations and waiting replies added 4): the same for 5 or 500 mentions
    # (one statement per step, not per row).
    with django_assert_max_num_queries(26):
        result = mentions_route()
    assert result.routed == 50

    # A second batch that joins and reopens existing cases stays constant too.
    Case.objects.filter(author__handle="user5@x").update(
        status=Case.Status.RESOLVED, resolved_at=timezone.now()
    )
    for n in range(50):
        store_mention(social_source, texts[n % 5], author_handle=f"user{n % 20}@x")
    with django_assert_max_num_queries(28):
        result = mentions_route()
    assert result.routed == 50
    assert result.joined > 0
    assert result.reopened == 1


# --- Tasks ------------------------------------------------------------------------------------


def test_the_route_task_routes_everything_and_a_second_run_routes_nothing(acme, social_source):
    store_mention(social_source, "acme lost my parcel again, awful")
    store_mention(social_source, "acme opened a store downtown", author_handle="e@x")

    assert mentions_route_task() == 2
    assert mentions_route_task() == 0
    assert cases_priority_refresh_task() in {0, 1}  # seconds later: waiting barely moved
    assert followups_evaluate_task() == 0
    assert Case.objects.count() == 1


def test_the_beat_schedule_runs_the_queue_tasks(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "engagement.tasks.mentions_route_task",
        "engagement.tasks.cases_priority_refresh_task",
        "engagement.tasks.followups_evaluate_task",
        "engagement.tasks.sentiment_models_dispatch_task",
    } <= tasks


def test_a_fresh_worker_finds_every_engagement_task_by_autodiscovery_alone(tmp_path):
    """No CELERY_IMPORTS: the worker's autodiscovery of each app's tasks.py registers them
    all, reply delivery under the name replies queued before the move still carry."""
    code = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print(sorted(n for n in app.tasks if n.startswith('engagement.')))\n"
    )
    result = run_fresh(production_env(tmp_path), "-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        [
            "engagement.reply_tasks.reply_deliver_task",
            "engagement.tasks.cases_priority_refresh_task",
            "engagement.tasks.followups_evaluate_task",
            "engagement.tasks.mentions_route_task",
            "engagement.tasks.sentiment_model_train_task",
            "engagement.tasks.sentiment_models_dispatch_task",
            "engagement.tasks.sentiment_rescore_batch_task",
        ]
    )


# --- No poison blocks the queue (issue 9) -----------------------------------------------------

YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


def planted(mention, **fields):
    """Write fields straight into the mention's rows, as a bug or an old ingest left them."""
    Mention.objects.filter(pk=mention.pk).update(**fields)
    match_fields = {k: v for k, v in fields.items() if k in {"published_at", "label"}}
    if match_fields:
        MentionMatch.objects.filter(mention=mention).update(**match_fields)
    return mention


@pytest.fixture
def initech_source(other_brand):
    return Source.objects.create(brand=other_brand, kind="mastodon", url="https://other.example")


@pytest.fixture
def poisoned_backlog(acme, other_brand, social_source, initech_source):
    """Good rows for two brands behind a year-1 post and a post whose score makes the case's
    priority unstorable (PostgreSQL's json refuses Infinity): the oldest rows come first."""
    year_one = planted(
        store_mention(social_source, "acme lost my parcel, awful", author_handle="old@x"),
        published_at=YEAR_ONE,
    )
    poison = planted(
        store_mention(social_source, "acme broke everything, awful", author_handle="inf@x"),
        published_at=YEAR_ONE + timedelta(days=1),
        # Priority reads Earshot's compound (issue 13); plain VADER's is poisoned alike.
        compound=float("-inf"),
        earshot_compound=float("-inf"),
    )
    good = [
        store_mention(social_source, "acme my order is late, terrible", author_handle="a@x"),
        store_mention(social_source, "How do I reset my acme router", author_handle="b@x"),
        store_mention(initech_source, "initech billing is broken, awful", author_handle="c@x"),
        store_mention(initech_source, "why is initech down again?", author_handle="d@x"),
    ]
    return {"year_one": year_one, "poison": poison, "good": good}


def test_a_year_one_post_and_a_poison_row_do_not_stop_any_brands_routing(
    acme, other_brand, poisoned_backlog
):
    result = mentions_route()

    assert result.failed == 1
    for mention in poisoned_backlog["good"]:
        match = MentionMatch.objects.get(mention=mention)
        assert match.routed_at is not None and match.route_error == ""
        assert case_of(mention, match.brand).kind == Case.Kind.CARE
    # The year-1 post routes like any other: the window arithmetic holds instead of overflowing.
    old = poisoned_backlog["year_one"]
    assert case_of(old, acme).subject == "acme lost my parcel, awful"
    assert case_of(old, acme).opened_at == EARLIEST
    assert MentionMatch.objects.get(mention=old).route_error == ""
    # The poison row is marked, not retried forever, and has no case.
    bad = MentionMatch.objects.get(mention=poisoned_backlog["poison"])
    assert bad.routed_at is not None
    assert bad.route_error.startswith("DataError: ")
    assert len(bad.route_error) <= 1000
    assert not CaseMention.objects.filter(mention=poisoned_backlog["poison"]).exists()
    assert Case.objects.filter(brand=acme).count() == 3
    assert Case.objects.filter(brand=other_brand).count() == 2

    again = mentions_route()
    assert (again.routed, again.failed) == (0, 0)


def test_the_route_task_keeps_routing_past_a_poison_row(acme, other_brand, poisoned_backlog):
    assert mentions_route_task() == 5
    assert mentions_route_task() == 0
    assert MentionMatch.objects.filter(routed_at__isnull=True).count() == 0
    assert MentionMatch.objects.exclude(route_error="").count() == 1


def test_the_queue_shows_the_good_rows_and_not_the_poison(client, acme, agent, poisoned_backlog):
    mentions_route()

    client.force_login(agent)
    response = client.get(reverse("engagement:queue"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "acme my order is late, terrible" in body
    assert "How do I reset my acme router" in body
    assert "acme broke everything" not in body
    assert "initech" not in body  # another brand's rows stay out of Acme's queue


def test_an_admin_sees_why_a_row_was_not_routed(client, acme, poisoned_backlog):
    mentions_route()
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)

    failed = client.get(
        reverse("admin:listening_mention_changelist"), {"route_failed": "yes"}
    ).content.decode()
    page = client.get(
        reverse("admin:listening_mention_change", args=[poisoned_backlog["poison"].pk])
    ).content.decode()

    assert "acme broke everything, awful" in failed
    assert "acme my order is late" not in failed
    assert "DataError: " in page
    assert "Infinity" in page


def test_one_brands_extreme_care_settings_do_not_stop_the_others(
    acme, other_brand, social_source, initech_source
):
    # Saved through the ORM: PositiveIntegerField allows them, and they overflow timedelta math.
    CareSettings.objects.update_or_create(
        brand=acme,
        defaults={
            "reopen_window_hours": 2**31 - 1,
            "followup_days": 2**31 - 1,
            "resolution_minutes": 2**31 - 1,
        },
    )
    complaint = store_mention(
        social_source, "acme my order is late, awful", author_handle="a@x", thread_id="t1"
    )
    mentions_route()
    case = case_of(complaint, acme)
    store_mention(
        social_source,
        "acme: sorry, DM us",
        author_handle=BRAND_HANDLE,
        thread_id="t1",
        in_reply_to="t1",
    )
    other = store_mention(initech_source, "initech billing is broken, awful", author_handle="c@x")

    result = mentions_route()

    assert (result.brand_replies, result.opened, result.failed) == (1, 1, 0)
    case.refresh_from_db()
    assert case.status == Case.Status.WAITING
    assert case.followup_until.year == 9999
    assert case_of(other, other_brand).kind == Case.Kind.CARE


def test_a_year_one_post_routes_and_shows_in_a_time_zone_west_of_utc(
    settings, client, agent, acme, social_source
):
    settings.TIME_ZONE = "Etc/GMT+12"
    old = planted(
        store_mention(social_source, "acme parcel courier lost again, awful"),
        published_at=YEAR_ONE,
    )

    result = mentions_route()

    assert (result.opened, result.failed) == (1, 0)
    case = case_of(old, acme)
    assert case.phrase_key.startswith("0001-01-01:")
    client.force_login(agent)
    queue = client.get(reverse("engagement:queue"))
    assert queue.status_code == 200
    assert "acme parcel courier lost again" in queue.content.decode()


def test_a_case_that_cannot_be_scored_does_not_stop_the_priority_refresh(acme, social_source):
    for n in range(3):
        store_mention(social_source, "acme support is bad", author_handle=f"u{n}@x")
    mentions_route()
    broken, *fine = Case.objects.order_by("pk")
    Case.objects.filter(pk=broken.pk).update(priority_parts={"negativity": "not a part"})

    changed = cases_priority_refresh(now=timezone.now() + timedelta(minutes=45))

    assert changed == 2
    for case in fine:
        case.refresh_from_db()
        assert case.priority_parts["waiting"]["text"].startswith("waited 5")
    broken.refresh_from_db()
    assert broken.priority_parts == {"negativity": "not a part"}
    assert cases_priority_refresh_task() == 2  # back to 5 minutes waited


def test_extreme_follow_up_dates_do_not_stop_the_follow_up_job(acme, social_source):
    for n in range(3):
        store_mention(social_source, "acme support is bad", author_handle=f"u{n}@x")
    mentions_route()
    far, nearly, plain = Case.objects.order_by("pk")
    now = timezone.now()
    # First responses so late that first response + 14 days is past year 9999.
    Case.objects.filter(pk=far.pk).update(first_response_at=YEAR_9999)
    Case.objects.filter(pk=nearly.pk).update(first_response_at=YEAR_9999 - timedelta(days=3))
    Case.objects.filter(pk=plain.pk).update(first_response_at=now - timedelta(days=20))

    assert followups_evaluate(now=now) == 4

    far.refresh_from_db()
    nearly.refresh_from_db()
    plain.refresh_from_db()
    assert far.followup_until.year == nearly.followup_until.year == 9999
    assert plain.followup_until == now - timedelta(days=6)
    assert plain.outcome == Case.Outcome.NO_FURTHER_WORD
    assert far.outcome == nearly.outcome == Case.Outcome.PENDING
    assert followups_evaluate_task() == 0


def test_a_lock_timeout_is_not_blamed_on_the_rows(acme, social_source):
    """A server-side failure (here a lock held elsewhere past lock_timeout) leaves the batch
    unrouted and unmarked for the next run, instead of marking good rows as failed."""
    mention = store_mention(social_source, "acme my order is late, terrible", author_handle="a@x")
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"],
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )
    other.autocommit = True
    try:
        # Another router holding the (brand, author) pair this mention needs.
        other.cursor().execute("SELECT pg_advisory_lock(%s)", [(acme.pk << 40) ^ mention.author_id])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        with pytest.raises(OperationalError):
            mentions_route()
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")

    match = MentionMatch.objects.get(mention=mention)
    assert (match.routed_at, match.route_error) == (None, "")

    assert mentions_route().opened == 1
    assert MentionMatch.objects.get(mention=mention).route_error == ""


def test_a_marked_row_routes_again_once_its_routed_at_is_cleared(acme, poisoned_backlog):
    mentions_route()
    poison = poisoned_backlog["poison"]
    planted(poison, compound=-0.9, earshot_compound=-0.9)  # the bug is fixed
    MentionMatch.objects.filter(mention=poison).update(routed_at=None, route_error="")

    assert mentions_route().opened == 1

    assert MentionMatch.objects.get(mention=poison).route_error == ""
    assert case_of(poison, acme).subject == "acme broke everything, awful"
