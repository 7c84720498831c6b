"""Figures over every author or every case of a range (top authors, the funnel, the care
figures) are cached: served again while nothing changed, counted again as soon as anything
did."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from engagement.models import Case
from engagement.services import sentiment_correct
from listening.models import Author, Mention
from tests.engagement.conftest import acme, agent, marketer, social_source, store_mention

pytestmark = pytest.mark.django_db

FUNNEL = reverse("dashboard:funnel")
AUTHORS = reverse("dashboard:authors")
CARE = reverse("dashboard:care")


@pytest.fixture
def spoken(social_source):
    now = timezone.now()

    def say(handle: str, text: str, days_ago: float) -> Mention:
        return store_mention(
            social_source,
            text,
            author_handle=f"{handle}@social.example",
            followers={"carol": 10, "dave": 500}.get(handle, 50),
            published_at=now - timedelta(days=days_ago),
        )

    say("carol", "acme is fine", 3)
    latest = say("carol", "I love acme, great service", 1)  # twice, latest positive
    say("dave", "acme is awful and broken", 2)  # once
    return {"say": say, "carol_latest": latest, "now": now}


def funnel(client, acme) -> tuple[list[int], int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(FUNNEL, {"brand": acme.pk, "range": "7d"})
    steps = {step["key"]: step["count"] for step in response.context["steps"]}
    return [steps[k] for k in ("awareness", "engagement", "persuasion")], len(queries)


def test_the_funnel_is_counted_once_and_again_after_every_change(
    client, marketer, agent, acme, social_source, spoken
):
    client.force_login(marketer)
    first, cold = funnel(client, acme)
    assert first == [2, 1, 1]

    again, warm = funnel(client, acme)
    # Served from the cache: the same figures without the pass over the range's authors
    # (this period's and the previous one's).
    assert again == first and warm == cold - 2

    # An answer to dave is read each time (agents answer all day): engaged now.
    Case.objects.create(
        brand=acme,
        author=Author.objects.get(handle="dave@social.example"),
        opened_at=spoken["now"] - timedelta(days=2),
        first_response_at=spoken["now"] - timedelta(hours=5),
        status=Case.Status.OPEN,
        priority=1.0,
        priority_band="low",
    )
    assert funnel(client, acme)[0] == [2, 2, 1]

    # A new author, stored through ingest: counted at once.
    spoken["say"]("erin", "how much does acme cost", 1)
    assert funnel(client, acme)[0] == [3, 2, 1]

    # A correction of carol's latest mention: no longer persuaded.
    sentiment_correct(
        mention=spoken["carol_latest"], brand=acme, user=agent, label="negative", reason="irony"
    )
    assert funnel(client, acme)[0] == [3, 2, 0]

    # The source deleted takes its rollups with it.
    social_source.delete()
    assert funnel(client, acme)[0] == [0, 0, 0]


def test_top_authors_follow_new_mentions(client, marketer, acme, spoken):
    client.force_login(marketer)

    def tops() -> tuple[list[str], list[str]]:
        tables = {
            table[0]: table[3]
            for table in client.get(AUTHORS, {"brand": acme.pk, "range": "7d"}).context["tables"]
        }
        return (
            [row.author.handle for row, _ in tables["volume"]],
            [row.author.handle for row, _ in tables["reach"]],
        )

    assert tops() == (
        ["carol@social.example", "dave@social.example"],
        ["dave@social.example", "carol@social.example"],
    )
    for _ in range(3):
        spoken["say"]("erin", "acme again", 0.5)
    assert tops()[0] == ["erin@social.example", "carol@social.example", "dave@social.example"]

    # erin turns out to be the brand's own account: no voice of the market.
    acme.handles = "@Erin"
    acme.save()
    assert tops() == (
        ["carol@social.example", "dave@social.example"],
        ["dave@social.example", "carol@social.example"],
    )


def test_care_figures_follow_every_change_of_the_cases(client, marketer, acme, social_source):
    now = timezone.now()
    mention = store_mention(social_source, "acme where is my parcel", published_at=now)
    case = Case.objects.create(
        brand=acme,
        author=mention.author,
        opened_at=now - timedelta(hours=3),
        first_response_due=now + timedelta(hours=1),
        status=Case.Status.OPEN,
        priority=1.0,
        priority_band="low",
    )
    client.force_login(marketer)

    def figures() -> tuple:
        with CaptureQueriesContext(connection) as queries:
            f = client.get(CARE, {"brand": acme.pk, "range": "7d"}).context["figures"]
        return (
            f["cases"],
            f["answered"],
            f["first_response_median_s"],
            f["sla_first_response_met_pct"],
        ), len(queries)

    first, cold = figures()
    assert first == (1, 0, None, None)
    again, warm = figures()
    assert again == first
    if connection.vendor == "postgresql":  # SQLite (one machine) computes them each time
        assert warm < cold

    # The due time passes unanswered (no write at all): missed.
    Case.objects.filter(pk=case.pk).update(first_response_due=now - timedelta(minutes=1))
    assert figures()[0] == (1, 0, None, 0.0)

    # An answer, written behind the ORM's back as a bulk update would be.
    Case.objects.filter(pk=case.pk).update(
        first_response_due=now + timedelta(hours=1), first_response_at=now - timedelta(hours=2)
    )
    assert figures()[0] == (1, 1, 3600.0, 100.0)
