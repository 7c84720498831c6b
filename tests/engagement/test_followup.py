"""Follow-up starts at the first response as routing computes it from what is linked (issue
11): a brand reply that arrives late moves the window and the before/after split."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from engagement.followup import followups_evaluate
from engagement.models import Case
from engagement.routing import mentions_route
from tests.engagement.conftest import store_mention

BRAND = "acme_help@social.example"


def compound(mention) -> float:
    mention.refresh_from_db()
    return mention.our_compound


def test_a_late_brand_reply_moves_the_before_after_split(acme, social_source):
    start = timezone.now() - timedelta(days=3)
    first = store_mention(
        social_source, "acme lost my parcel again, awful", external_id="c1", published_at=start
    )
    second = store_mention(
        social_source,
        "acme support is bad",
        thread_id="c1",
        in_reply_to="c1",
        published_at=start + timedelta(hours=2),
    )
    praise = store_mention(
        social_source, "acme works now, thanks", published_at=start + timedelta(days=1)
    )
    mentions_route()
    case = Case.objects.get(kind=Case.Kind.CARE)
    assert case.first_response_at is None and case.outcome == Case.Outcome.PENDING

    # The brand's answer three hours in arrives late: before = both complaints.
    store_mention(
        social_source,
        "acme here, sorry: fixed",
        author_handle=BRAND,
        thread_id="c1",
        in_reply_to="c1",
        published_at=start + timedelta(hours=3),
    )
    mentions_route()
    case.refresh_from_db()
    assert case.first_response_at == start + timedelta(hours=3)
    assert case.followup_until == start + timedelta(hours=3, days=14)
    assert case.compound_before == pytest.approx((compound(first) + compound(second)) / 2, abs=1e-4)
    assert case.compound_after == pytest.approx(compound(praise), abs=1e-4)
    assert case.outcome == Case.Outcome.CONVERTED

    # An earlier answer, an hour in, arrives later still: the split moves to it.
    store_mention(
        social_source,
        "acme here: looking into it",
        author_handle=BRAND,
        thread_id="c1",
        in_reply_to="c1",
        published_at=start + timedelta(hours=1),
    )
    mentions_route()
    case.refresh_from_db()
    assert case.first_response_at == start + timedelta(hours=1)
    assert case.followup_until == start + timedelta(hours=1, days=14)
    assert case.compound_before == pytest.approx(compound(first), abs=1e-4)
    assert case.compound_after == pytest.approx((compound(second) + compound(praise)) / 2, abs=1e-4)


def test_a_first_response_that_moves_past_the_later_word_watches_again(acme, social_source):
    """Before the brand's real answer arrives, an agent-less case has no window; once it has
    one with nothing said after it, it watches until the window passes."""
    start = timezone.now() - timedelta(days=1)
    store_mention(social_source, "acme support is bad", external_id="c1", published_at=start)
    store_mention(
        social_source,
        "acme here",
        author_handle=BRAND,
        thread_id="c1",
        in_reply_to="c1",
        published_at=start + timedelta(hours=1),
    )

    mentions_route()

    case = Case.objects.get()
    assert case.outcome == Case.Outcome.PENDING
    assert case.compound_after is None
    assert followups_evaluate(now=start + timedelta(hours=1, days=14, minutes=1)) == 1
    case.refresh_from_db()
    assert case.outcome == Case.Outcome.NO_FURTHER_WORD
