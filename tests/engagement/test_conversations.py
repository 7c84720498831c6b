"""Routing on real conversation shapes (issue 11): a case holds every conversation it joined,
brand replies are found by thread id or by in_reply_to alone, a brand reply stored before the
post it answers waits and is linked when that post arrives, first response is the first brand
answer after the post that needed one, care can be off for a watched brand, history imports
file into closed cases, and routing the same rows again changes nothing.

The conversations are ours, written for these tests in the shapes a public export of
brand-to-customer conversations takes (customers write to the brand, the brand answers in the
thread)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement.followup import followups_evaluate
from engagement.models import (
    AuthorStanding,
    CareSettings,
    Case,
    CaseMention,
    WaitingBrandReply,
)
from engagement.routing import WAIT_DAYS, mentions_route, waiting_replies_expire
from listening.connectors.base import RawItem
from listening.models import Mention, MentionMatch
from listening.services import BrandMatcher, items_store, source_brands

BRAND = "acme_help@social.example"
CAROL = "carol@social.example"
DAN = "dan@social.example"
ERIN = "erin@social.example"

COMPLAINT = "acme lost my parcel again, awful"  # -0.65
MILD = "acme support is bad"  # -0.20
QUESTION = "How do I track an acme parcel?"
PRAISE = "I love my new acme blender, it is great"
THANKS = "Thanks acme, it works great now, love it"
ANSWER = "acme here, sorry: DM us your order number"
AGAIN = "acme here again: it is on its way"


def post(
    source,
    text: str,
    *,
    ext: str,
    at: datetime,
    author: str = CAROL,
    thread: str = "",
    reply_to: str = "",
    history: bool = False,
    followers: int | None = 120,
    reply_count: int | None = None,
) -> Mention:
    """Store one post as a connector or an import gives it: thread_id and in_reply_to exactly
    as passed (empty when the export has no such column)."""
    item = RawItem(
        external_id=ext,
        url=f"https://social.example/@x/{ext}",
        body=text,
        author_handle=author,
        author_name=author.split("@")[0].title(),
        author_followers=followers,
        published_at=at,
        language="en",
        thread_id=thread,
        in_reply_to=reply_to,
        reply_count=reply_count,
        repost_count=0 if reply_count is not None else None,
    )
    matcher = BrandMatcher.for_brands(source_brands(source))
    items_store(source=source, items=[item], matcher=matcher, platform="twitter")
    mention = Mention.objects.get(source=source, external_id=ext)
    if history:
        MentionMatch.objects.filter(mention=mention).update(is_history=True)
    return mention


def route_all(now: datetime | None = None, *, limit: int = 2000):
    """Route until nothing is left, summing what each sweep did."""
    total = None
    while True:
        result = mentions_route(now=now, limit=limit)
        total = result if total is None else total.plus(result)
        if result.routed + result.failed == 0:
            return total


def case_of(mention, brand) -> Case:
    return CaseMention.objects.select_related("case").get(mention=mention, brand=brand).case


def linked(case) -> dict[str, tuple[bool, str]]:
    """The posts of a case: external id -> (is brand reply, conversation)."""
    return {
        link.mention.external_id: (link.is_brand_reply, link.conversation)
        for link in case.case_mentions.select_related("mention")
    }


def snapshot(brand) -> dict:
    """Everything routing decides for a brand, by posts' external ids (not primary keys), so
    two routings of the same posts compare equal."""
    cases = {}
    for case in Case.objects.filter(brand=brand).select_related("answer_target"):
        key = tuple(sorted(linked(case)))
        cases[key] = (
            case.kind,
            case.status,
            case.is_history,
            case.thread_id,
            case.answer_target.external_id if case.answer_target else None,
            case.needs_answer_at,
            case.first_response_at,
            case.first_response_due,
            case.followup_until,
            case.resolved_at,
            case.outcome,
            case.compound_before,
            case.compound_after,
            tuple(sorted(linked(case).items())),
        )
    standings = {
        s.author.handle: (
            s.standing,
            s.mention_count,
            s.positive_count,
            s.negative_count,
            round(s.compound_sum, 6),
            s.last_mention_at,
        )
        for s in AuthorStanding.objects.filter(brand=brand).select_related("author")
    }
    waiting = sorted(
        WaitingBrandReply.objects.filter(brand=brand).values_list("mention__external_id", flat=True)
    )
    return {"cases": cases, "standings": standings, "waiting": waiting}


@pytest.fixture
def t0():
    return (timezone.now() - timedelta(days=2)).replace(microsecond=0)


# --- Conversations ------------------------------------------------------------------------


@pytest.mark.parametrize("routed", ["together", "one by one"])
def test_a_customers_second_conversation_keeps_the_brands_answers(acme, social_source, t0, routed):
    steps = [
        dict(text=COMPLAINT, ext="c1", thread="c1", at=t0),
        dict(text=MILD, ext="c2", thread="c2", at=t0 + timedelta(minutes=10)),
        dict(
            text=ANSWER,
            ext="b2",
            thread="c2",
            reply_to="c2",
            author=BRAND,
            at=t0 + timedelta(minutes=20),
        ),
        dict(
            text=AGAIN,
            ext="b1",
            thread="c1",
            reply_to="c1",
            author=BRAND,
            at=t0 + timedelta(minutes=30),
        ),
    ]
    for step in steps:
        post(social_source, **step)
        if routed == "one by one":
            route_all()
    result = route_all()

    case = Case.objects.get(brand=acme)
    assert linked(case) == {
        "c1": (False, "c1"),
        "c2": (False, "c2"),
        "b2": (True, "c2"),
        "b1": (True, "c1"),
    }
    # The answer in the second conversation is the case's first response.
    assert case.first_response_at == t0 + timedelta(minutes=20)
    assert case.needs_answer_at == t0
    assert case.answer_target.external_id == "c1"
    assert case.thread_id == "c1"
    assert case.status == Case.Status.WAITING
    if routed == "together":
        assert (result.opened, result.joined, result.brand_replies) == (1, 1, 2)


def test_replies_found_by_in_reply_to_alone_give_first_responses(acme, social_source, t0):
    """An export with no thread_id column: conversations are walked through in_reply_to."""
    post(social_source, COMPLAINT, ext="c1", at=t0)
    post(social_source, ANSWER, ext="b1", reply_to="c1", author=BRAND, at=t0 + timedelta(minutes=7))
    post(social_source, QUESTION, ext="c2", reply_to="b1", at=t0 + timedelta(minutes=9))
    post(social_source, AGAIN, ext="b2", reply_to="c2", author=BRAND, at=t0 + timedelta(minutes=12))
    post(social_source, MILD, ext="d1", author=DAN, at=t0 + timedelta(minutes=1))
    post(social_source, ANSWER, ext="b3", reply_to="d1", author=BRAND, at=t0 + timedelta(hours=2))

    result = route_all()

    carol = case_of(Mention.objects.get(external_id="c1"), acme)
    dan = case_of(Mention.objects.get(external_id="d1"), acme)
    assert carol.thread_id == "c1" and dan.thread_id == "d1"
    assert linked(carol) == {
        "c1": (False, "c1"),
        "b1": (True, "c1"),
        "c2": (False, "c1"),
        "b2": (True, "c1"),
    }
    assert linked(dan) == {"d1": (False, "d1"), "b3": (True, "d1")}
    assert carol.first_response_at == t0 + timedelta(minutes=7)
    assert dan.first_response_at == t0 + timedelta(hours=2)
    assert (result.opened, result.brand_replies, result.waiting) == (2, 3, 0)


def test_several_customers_in_one_thread_share_its_case_and_its_answers(acme, social_source, t0):
    post(social_source, COMPLAINT, ext="r", thread="r", at=t0)
    post(
        social_source,
        QUESTION,
        ext="d",
        thread="r",
        reply_to="r",
        author=DAN,
        at=t0 + timedelta(minutes=3),
    )
    post(
        social_source,
        MILD,
        ext="e",
        thread="r",
        reply_to="d",
        author=ERIN,
        at=t0 + timedelta(minutes=4),
    )
    # The brand answers Dan first, then Carol.
    post(
        social_source,
        ANSWER,
        ext="b1",
        thread="r",
        reply_to="d",
        author=BRAND,
        at=t0 + timedelta(minutes=30),
    )
    post(
        social_source,
        AGAIN,
        ext="b2",
        thread="r",
        reply_to="r",
        author=BRAND,
        at=t0 + timedelta(minutes=50),
    )

    route_all()

    case = Case.objects.get(brand=acme)
    assert set(linked(case)) == {"r", "d", "e", "b1", "b2"}
    assert case.author.handle == CAROL
    # The post that made the case need an answer is Carol's, the first; any brand answer
    # after it is the first response.
    assert case.answer_target.external_id == "r"
    assert case.first_response_at == t0 + timedelta(minutes=30)


# --- Brand replies that arrive before the post they answer -----------------------------------


CHAIN = [
    # (ext, author, text, reply_to, minutes after t0)
    ("c1", CAROL, COMPLAINT, "", 0),
    ("b1", BRAND, ANSWER, "c1", 20),
    ("b1b", BRAND, AGAIN, "b1", 21),  # the brand follows up on its own answer
    ("c2", CAROL, QUESTION, "b1b", 40),
    ("b2", BRAND, ANSWER, "c2", 45),
]
EXPECTED_CHAIN = {
    "c1": (False, "c1"),
    "b1": (True, "c1"),
    "b1b": (True, "c1"),
    "c2": (False, "c1"),
    "b2": (True, "c1"),
}


def store_chain(source, t0, names):
    rows = {row[0]: row for row in CHAIN}
    for name in names:
        ext, author, text, reply_to, minutes = rows[name]
        post(
            source,
            text,
            ext=ext,
            author=author,
            reply_to=reply_to,
            at=t0 + timedelta(minutes=minutes),
        )


def test_brand_posts_routed_before_the_customers_are_linked_when_the_customers_arrive(
    acme, social_source, t0
):
    store_chain(social_source, t0, ["b1", "b1b", "b2"])
    first = route_all()
    assert (first.waiting, first.skipped, first.brand_replies) == (3, 0, 0)
    assert WaitingBrandReply.objects.count() == 3
    assert not Case.objects.exists()

    store_chain(social_source, t0, ["c1", "c2"])
    second = route_all()

    case = Case.objects.get(brand=acme)
    assert linked(case) == EXPECTED_CHAIN
    assert case.first_response_at == t0 + timedelta(minutes=20)
    assert case.followup_until == t0 + timedelta(minutes=20, days=14)
    assert (second.opened, second.joined, second.linked_late) == (1, 1, 3)
    assert second.routed == 2  # linked_late rows were routed (as waiting) the first time
    assert not WaitingBrandReply.objects.exists()


def test_brand_posts_in_separate_batches_are_linked_across_batches(acme, social_source, t0):
    store_chain(social_source, t0, ["b2", "b1b"])
    route_all()
    store_chain(social_source, t0, ["c1"])
    middle = route_all()
    # b1b answers b1, which is not there yet: it keeps waiting.
    assert middle.linked_late == 0
    assert WaitingBrandReply.objects.count() == 2
    store_chain(social_source, t0, ["b1"])
    after_b1 = route_all()
    assert (after_b1.brand_replies, after_b1.linked_late) == (1, 1)  # b1, then b1b
    store_chain(social_source, t0, ["c2"])
    last = route_all()
    assert last.linked_late == 1  # b2

    case = Case.objects.get(brand=acme)
    assert linked(case) == EXPECTED_CHAIN
    assert case.first_response_at == t0 + timedelta(minutes=20)
    assert not WaitingBrandReply.objects.exists()


@pytest.mark.parametrize("limit", [1, 2, 2000])
def test_a_batch_that_meets_the_brand_reply_before_its_parent_links_it(
    acme, social_source, t0, limit
):
    """The brand's clock runs early: its replies are dated before the posts they answer, so
    routing (oldest first) meets them first, in the same batch or in earlier ones."""
    post(social_source, COMPLAINT, ext="c1", at=t0 + timedelta(minutes=10))
    post(social_source, ANSWER, ext="b1", reply_to="c1", author=BRAND, at=t0 + timedelta(minutes=5))
    post(social_source, AGAIN, ext="b1b", reply_to="b1", author=BRAND, at=t0 + timedelta(minutes=6))
    post(social_source, MILD, ext="c2", reply_to="b1b", at=t0 + timedelta(minutes=30))
    post(
        social_source, ANSWER, ext="b2", reply_to="c2", author=BRAND, at=t0 + timedelta(minutes=31)
    )

    result = route_all(limit=limit)

    case = Case.objects.get(brand=acme)
    assert linked(case) == EXPECTED_CHAIN
    assert result.brand_replies + result.linked_late == 3
    # Replies dated before the post that needed an answer are part of the conversation, not
    # its first response.
    assert case.first_response_at == t0 + timedelta(minutes=31)
    assert not WaitingBrandReply.objects.exists()


def test_the_same_posts_give_the_same_cases_in_any_order(acme, social_source, t0):
    store_chain(social_source, t0, ["c1", "b1", "b1b", "c2", "b2"])
    route_all()
    in_order = snapshot(acme)
    Case.objects.all().delete()
    AuthorStanding.objects.all().delete()
    MentionMatch.objects.update(routed_at=None)
    # Brand posts first, one row per batch.
    MentionMatch.objects.filter(mention__author__handle=CAROL).update(routed_at=timezone.now())
    route_all(limit=1)
    MentionMatch.objects.filter(mention__author__handle=CAROL).update(routed_at=None)
    route_all(limit=1)

    assert snapshot(acme) == in_order


def test_an_orphan_brand_reply_waits_fourteen_days_and_then_expires(acme, social_source, t0):
    now = timezone.now()
    reply = post(social_source, ANSWER, ext="b9", reply_to="c9", author=BRAND, at=t0)

    result = mentions_route(now=now)

    waiting = WaitingBrandReply.objects.get()
    assert result.waiting == 1 and result.routed == 1
    assert waiting.mention == reply and waiting.in_reply_to == "c9"
    assert waiting.waits_until == now + timedelta(days=WAIT_DAYS)
    assert MentionMatch.objects.get(mention=reply).routed_at == now
    assert waiting_replies_expire(now=now + timedelta(days=13)) == 0
    assert waiting_replies_expire(now=now + timedelta(days=14, seconds=1)) == 1
    assert waiting_replies_expire(now=now + timedelta(days=15)) == 0
    assert not WaitingBrandReply.objects.exists()

    # The post it answered turns up after all: too late, the reply is not linked.
    post(social_source, COMPLAINT, ext="c9", at=t0 - timedelta(minutes=5))
    later = route_all()
    assert (later.opened, later.linked_late) == (1, 0)
    assert Case.objects.get().first_response_at is None
    assert MentionMatch.objects.get(mention=reply).routed_at == now  # never routed again


def test_a_brand_post_that_answers_nothing_is_skipped_not_kept_waiting(acme, social_source, t0):
    post(social_source, "acme has a new blender out today", ext="ad", author=BRAND, at=t0)
    post(social_source, "acme: our store opens at 9", ext="ad2", thread="ad2", author=BRAND, at=t0)

    result = route_all()

    assert (result.skipped, result.waiting) == (2, 0)
    assert not WaitingBrandReply.objects.exists()


# --- First response -----------------------------------------------------------------------


@pytest.mark.parametrize("routed", ["together", "one by one"])
def test_a_brand_reply_before_the_need_is_not_the_first_response(acme, social_source, t0, routed):
    steps = [
        dict(text=PRAISE, ext="p", thread="p", at=t0),
        dict(
            text="acme: thank you, Carol!",
            ext="b0",
            thread="p",
            reply_to="p",
            author=BRAND,
            at=t0 + timedelta(minutes=10),
        ),
        dict(text=COMPLAINT, ext="c", thread="p", reply_to="b0", at=t0 + timedelta(minutes=20)),
    ]
    for step in steps:
        post(social_source, **step)
        if routed == "one by one":
            route_all()
            if step["ext"] == "b0":
                advocate = Case.objects.get()
                assert advocate.kind == Case.Kind.ADVOCATE
                assert advocate.first_response_at == t0 + timedelta(minutes=10)
    route_all()

    case = Case.objects.get()
    assert case.kind == Case.Kind.CARE
    assert case.answer_target.external_id == "c"
    assert case.needs_answer_at == t0 + timedelta(minutes=20)
    assert case.first_response_due == t0 + timedelta(minutes=80)
    assert case.first_response_at is None
    assert case.followup_until is None
    assert case.status == Case.Status.OPEN
    assert case.is_overdue

    post(
        social_source,
        ANSWER,
        ext="b1",
        thread="p",
        reply_to="c",
        author=BRAND,
        at=t0 + timedelta(minutes=50),
    )
    route_all()

    case.refresh_from_db()
    assert case.first_response_at == t0 + timedelta(minutes=50)
    assert case.followup_until == t0 + timedelta(minutes=50, days=14)
    assert case.status == Case.Status.WAITING


def test_an_older_post_that_needed_an_answer_arriving_late_becomes_the_target(
    acme, social_source, t0
):
    post(social_source, MILD, ext="c2", thread="t", at=t0 + timedelta(minutes=30))
    post(
        social_source,
        ANSWER,
        ext="b",
        thread="t",
        reply_to="c2",
        author=BRAND,
        at=t0 + timedelta(minutes=40),
    )
    route_all()
    post(social_source, COMPLAINT, ext="c1", thread="t", at=t0)

    route_all()

    case = Case.objects.get()
    assert case.answer_target.external_id == "c1"
    assert case.needs_answer_at == t0
    assert case.first_response_due == t0 + timedelta(minutes=60)
    assert case.first_response_at == t0 + timedelta(minutes=40)


# --- Care off -----------------------------------------------------------------------------


def test_a_brand_with_care_off_opens_no_case_but_its_standings_count(acme, social_source, t0):
    CareSettings.objects.create(brand=acme, care_enabled=False)
    post(social_source, COMPLAINT, ext="c1", thread="c1", at=t0)
    post(social_source, MILD, ext="c2", thread="c2", at=t0 + timedelta(minutes=1))
    post(
        social_source,
        ANSWER,
        ext="b1",
        thread="c1",
        reply_to="c1",
        author=BRAND,
        at=t0 + timedelta(minutes=5),
    )

    result = route_all()

    assert not Case.objects.exists()
    assert not WaitingBrandReply.objects.exists()
    assert (result.skipped, result.routed) == (3, 3)
    standing = AuthorStanding.objects.get(brand=acme, author__handle=CAROL)
    assert (standing.mention_count, standing.negative_count) == (2, 2)
    assert standing.standing == AuthorStanding.Standing.DETRACTOR


def test_care_off_for_the_competitor_only(acme, social_source, t0):
    globex = acme.competitors.get()
    CareSettings.objects.create(brand=globex, care_enabled=False)
    post(social_source, "globex and acme both lost my parcel, awful", ext="c1", at=t0)

    route_all()

    assert Case.objects.get().brand == acme
    assert AuthorStanding.objects.filter(brand=globex, author__handle=CAROL).exists()


# --- History ------------------------------------------------------------------------------


@pytest.fixture
def history(social_source):
    """An imported month-old export: Carol answered and thankful, Dan never answered."""
    t = (timezone.now() - timedelta(days=40)).replace(microsecond=0)
    post(social_source, COMPLAINT, ext="h1", thread="h1", at=t, history=True)
    post(
        social_source,
        ANSWER,
        ext="hb1",
        thread="h1",
        reply_to="h1",
        author=BRAND,
        at=t + timedelta(minutes=25),
        history=True,
    )
    post(
        social_source,
        AGAIN,
        ext="hb2",
        thread="h1",
        reply_to="h1",
        author=BRAND,
        at=t + timedelta(hours=3),
        history=True,
    )
    post(
        social_source,
        THANKS,
        ext="h2",
        thread="h1",
        reply_to="hb2",
        at=t + timedelta(days=1),
        history=True,
    )
    post(
        social_source,
        QUESTION,
        ext="d1",
        thread="d1",
        author=DAN,
        at=t + timedelta(hours=1),
        history=True,
    )
    return t


def test_history_files_conversations_into_cases_resolved_as_of_their_data(
    acme, social_source, history
):
    t = history
    route_all()

    carol = case_of(Mention.objects.get(external_id="h1"), acme)
    dan = case_of(Mention.objects.get(external_id="d1"), acme)
    assert Case.objects.count() == 2
    assert carol.is_history and dan.is_history
    assert set(linked(carol)) == {"h1", "hb1", "hb2", "h2"}
    # Answered: resolved at its last brand answer; SLA times from the data.
    assert carol.status == Case.Status.RESOLVED
    assert carol.first_response_at == t + timedelta(minutes=25)
    assert carol.resolved_at == t + timedelta(hours=3)
    assert carol.first_response_due == t + timedelta(minutes=60)
    assert carol.resolution_due == t + timedelta(days=1)
    assert (carol.priority, carol.priority_band, carol.priority_parts) == (0.0, "low", {})
    # Its follow-up runs from its data: the window has long passed, the author was thankful.
    assert carol.followup_until == t + timedelta(minutes=25, days=14)
    assert carol.outcome == Case.Outcome.CONVERTED
    # No answer, imported: resolved at its last customer post, no first response.
    assert dan.status == Case.Status.RESOLVED
    assert dan.first_response_at is None
    assert dan.resolved_at == t + timedelta(hours=1)
    assert not dan.is_overdue and not carol.is_overdue
    assert followups_evaluate() == 0  # nothing left to close


def test_history_is_closed_in_one_batch_or_many_alike(acme, social_source, history):
    route_all()
    together = snapshot(acme)
    Case.objects.all().delete()
    AuthorStanding.objects.all().delete()
    MentionMatch.objects.update(routed_at=None)

    route_all(limit=1)

    assert snapshot(acme) == together


def test_history_and_live_never_mix(acme, social_source, history):
    route_all()
    now = timezone.now()
    # Live: Carol comes back in the old thread, the brand answers her old post and Dan's.
    live = post(
        social_source,
        COMPLAINT,
        ext="l1",
        thread="h1",
        reply_to="h2",
        at=now - timedelta(minutes=5),
    )
    post(
        social_source,
        ANSWER,
        ext="lb",
        thread="d1",
        reply_to="d1",
        author=BRAND,
        at=now - timedelta(minutes=4),
    )
    post(social_source, MILD, ext="ld", thread="ld", author=DAN, at=now - timedelta(minutes=3))

    result = route_all(now=now)

    live_cases = Case.objects.filter(is_history=False)
    assert result.opened == 2 and result.waiting == 1
    assert {c.author.handle for c in live_cases} == {CAROL, DAN}
    assert case_of(live, acme).thread_id == "h1"
    assert all(c.status == Case.Status.NEW for c in live_cases)
    # The history cases kept their posts and times.
    assert Case.objects.filter(is_history=True, status=Case.Status.RESOLVED).count() == 2
    dan_history = case_of(Mention.objects.get(external_id="d1"), acme)
    assert dan_history.first_response_at is None
    assert set(linked(dan_history)) == {"d1"}

    # A history import of a thread the live queue holds does not join it either.
    post(
        social_source,
        MILD,
        ext="hx",
        thread="ld",
        author=DAN,
        at=now - timedelta(minutes=2),
        history=True,
    )
    route_all(now=now)
    assert case_of(Mention.objects.get(external_id="hx"), acme).is_history


def random_conversations(rng: random.Random, t0: datetime, *, threads: bool) -> list[dict]:
    """Four customers' conversations: each post needs an answer or is the brand's; each
    replies to a random earlier post of the conversation, sometimes by another customer."""
    texts = [COMPLAINT, MILD, QUESTION]
    rows = []
    for c in range(4):
        root, at = f"r{c}", t0 + timedelta(minutes=c * 500)
        posts = [(root, f"cust{c}@x", rng.choice(texts), "", at)]
        for k in range(rng.randint(1, 7)):
            at += timedelta(minutes=rng.randint(1, 30))
            parent = rng.choice(posts)[0]
            if rng.random() < 0.5:
                author, text = BRAND, ANSWER
            else:
                other = rng.random() < 0.3
                author, text = f"cust{rng.randint(0, 3) if other else c}@x", rng.choice(texts)
            posts.append((f"{root}-{k}", author, text, parent, at))
        rows.extend(posts)
    return [
        dict(ext=e, author=a, text=t, reply_to=p, thread=root_of(e) if threads else "", at=at)
        for e, a, t, p, at in rows
    ]


def root_of(ext: str) -> str:
    return ext.split("-")[0]


@pytest.mark.parametrize("seed", range(8))
def test_random_conversations_give_the_same_cases_in_any_order(acme, social_source, t0, seed):
    """All at once, one post per batch, and the brand's posts first: the same cases, links,
    first responses, statuses and standings. (Posts that need no answer are left out: one
    that arrives before its conversation has a case gets none, by the rules.)"""
    rng = random.Random(seed)
    for row in random_conversations(rng, t0, threads=seed % 2 == 0):
        post(social_source, row.pop("text"), **row)
    route_all()
    together = snapshot(acme)

    def again():
        Case.objects.all().delete()
        AuthorStanding.objects.all().delete()
        WaitingBrandReply.objects.all().delete()
        MentionMatch.objects.update(routed_at=None)

    again()
    route_all(limit=1)
    assert snapshot(acme) == together

    again()
    customers = MentionMatch.objects.exclude(mention__author__handle=BRAND)
    customers.update(routed_at=timezone.now())
    route_all(limit=3)
    customers.update(routed_at=None)
    route_all(limit=2)
    assert snapshot(acme) == together


@pytest.mark.parametrize("limit", [1, 2000])
def test_a_history_authors_posts_join_while_they_are_within_the_window(acme, social_source, limit):
    t = (timezone.now() - timedelta(days=60)).replace(microsecond=0)
    post(social_source, COMPLAINT, ext="a", thread="a", at=t, history=True)
    post(
        social_source,
        ANSWER,
        ext="ab",
        thread="a",
        reply_to="a",
        author=BRAND,
        at=t + timedelta(hours=70),
        history=True,
    )
    post(social_source, MILD, ext="b", thread="b", at=t + timedelta(hours=10), history=True)
    post(social_source, QUESTION, ext="c", thread="c", at=t + timedelta(hours=83), history=True)
    post(social_source, MILD, ext="d", thread="d", at=t + timedelta(days=9), history=True)

    route_all(limit=limit)

    cases = sorted(tuple(sorted(linked(c))) for c in Case.objects.all())
    # c is 73 hours after b, the case's last customer post: a case of its own.
    assert cases == [("a", "ab", "b"), ("c",), ("d",)]
    assert all(c.status == Case.Status.RESOLVED for c in Case.objects.all())


# --- Routing again ------------------------------------------------------------------------


def test_routing_the_same_rows_again_changes_nothing(acme, social_source, t0):
    store_chain(social_source, t0, ["c1", "b1", "b1b", "c2", "b2"])
    post(social_source, PRAISE, ext="p", thread="p", author=DAN, at=t0 + timedelta(minutes=1))
    post(social_source, "acme opened a store downtown", ext="n", thread="n", author=ERIN, at=t0)
    post(social_source, ANSWER, ext="orphan", reply_to="gone", author=BRAND, at=t0)
    post(
        social_source,
        MILD,
        ext="h",
        thread="h",
        author=ERIN,
        at=t0 - timedelta(days=9),
        history=True,
    )
    first = route_all()
    before = snapshot(acme)
    assert before["standings"][CAROL][1] == 2
    assert before["waiting"] == ["orphan"]

    MentionMatch.objects.update(routed_at=None)
    again = route_all()

    assert snapshot(acme) == before
    assert Case.objects.count() == 3  # Carol's, Dan's advocate case, Erin's history case
    assert again.routed == first.routed == 9
    assert (again.opened, again.reopened, again.linked_late) == (0, 0, 0)


# --- Query counts -------------------------------------------------------------------------


def conversations(source, t0, *, count: int, tag: str) -> None:
    """count conversations of five posts each: a complaint, a reply in the thread, the
    brand's answer, a brand reply to a post never stored, and a neutral post."""
    for n in range(count):
        root = f"{tag}{n}"
        at = t0 + timedelta(minutes=n)
        author = f"{root}@x"
        post(source, COMPLAINT, ext=root, thread=root, author=author, at=at)
        post(source, QUESTION, ext=f"{root}q", reply_to=root, author=author, at=at)
        post(source, ANSWER, ext=f"{root}b", reply_to=f"{root}q", author=BRAND, at=at)
        post(source, AGAIN, ext=f"{root}o", reply_to=f"{root}-gone", author=BRAND, at=at)
        post(source, "acme opened a store downtown", ext=f"{root}n", author=author, at=at)


def test_routing_takes_as_many_queries_for_200_rows_as_for_10(acme, social_source, t0):
    CareSettings.objects.create(brand=acme)  # else the first sweep creates them
    conversations(social_source, t0, count=2, tag="s")
    with CaptureQueriesContext(connection) as small:
        assert mentions_route().routed == 10
    conversations(social_source, t0, count=40, tag="l")
    with CaptureQueriesContext(connection) as large:
        result = mentions_route()

    assert result.routed == 200
    assert (result.opened, result.joined, result.brand_replies, result.waiting) == (40, 40, 40, 40)
    assert len(large) == len(small), [q["sql"][:80] for q in large]


def test_the_periodic_follow_up_task_drops_replies_that_waited_too_long(acme, social_source):
    from engagement.tasks import followups_evaluate_task

    now = timezone.now()
    post(
        social_source, ANSWER, ext="old", reply_to="gone", author=BRAND, at=now - timedelta(days=20)
    )
    mentions_route(now=now - timedelta(days=15))  # the old one was seen 15 days ago
    post(
        social_source, ANSWER, ext="new", reply_to="gone2", author=BRAND, at=now - timedelta(days=1)
    )
    mentions_route(now=now)

    followups_evaluate_task()

    assert list(WaitingBrandReply.objects.values_list("mention__external_id", flat=True)) == ["new"]


def test_a_reply_filed_as_waiting_by_a_concurrent_router_is_linked_later(acme, social_source, t0):
    """Two routers at once: one places Carol's post while the other, not seeing it yet,
    files the brand's answer as waiting (planted here as that router left it)."""
    from engagement.tasks import followups_evaluate_task

    post(social_source, COMPLAINT, ext="c1", at=t0)
    route_all()
    answer = post(
        social_source, ANSWER, ext="b1", reply_to="c1", author=BRAND, at=t0 + timedelta(minutes=9)
    )
    match = MentionMatch.objects.get(mention=answer)
    MentionMatch.objects.filter(pk=match.pk).update(routed_at=timezone.now())
    WaitingBrandReply.objects.create(
        match=match,
        brand=acme,
        mention=answer,
        in_reply_to="c1",
        waits_until=t0 + timedelta(days=14),
    )
    # One in another mode, and one whose parent never came, stay waiting.
    history = post(
        social_source, ANSWER, ext="hb", reply_to="c1", author=BRAND, at=t0, history=True
    )
    orphan = post(social_source, ANSWER, ext="ob", reply_to="gone", author=BRAND, at=t0)
    route_all()
    assert WaitingBrandReply.objects.count() == 3

    followups_evaluate_task()
    result = route_all()

    assert result.brand_replies == 1
    assert Case.objects.get().first_response_at == t0 + timedelta(minutes=9)
    assert sorted(WaitingBrandReply.objects.values_list("mention_id", flat=True)) == sorted(
        [history.pk, orphan.pk]
    )
    followups_evaluate_task()
    assert route_all().routed == 0
