"""rollups_labels_change: a batch of matches relabelled at once (a brand's scorer changed)
keeps the rollups equal to a direct count, across sources, authors, days and brands."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import pytest
from django.db import transaction

from listening.models import MentionMatch
from listening.rollups import rollups_labels_change
from tests.brands.conftest import acme
from tests.listening.test_rollups import direct_rows, feed, heard, social, stored_rows

pytestmark = pytest.mark.django_db

NEXT = {
    "positive": "negative",
    "negative": "neutral",
    "neutral": "unscored",
    "unscored": "positive",
}


def relabel(match_ids: list[int]) -> None:
    with transaction.atomic():
        rows = list(MentionMatch.objects.filter(pk__in=match_ids).values_list("pk", "label"))
        changes = [(pk, label, NEXT[label]) for pk, label in rows]
        for pk, _, after in changes:
            MentionMatch.objects.filter(pk=pk).update(label=after)
        rollups_labels_change(changes=changes)


def test_relabelling_every_match_at_once_keeps_rollups_equal_to_a_direct_count(heard):
    ids = list(MentionMatch.objects.values_list("pk", flat=True))
    original = stored_rows()

    relabel(ids)
    assert stored_rows() == direct_rows() != original

    for _ in range(3):
        relabel(ids)
    assert stored_rows() == direct_rows() == original


def test_relabelling_some_matches_of_an_author_recounts_only_what_it_must(heard):
    ids = list(MentionMatch.objects.order_by("pk").values_list("pk", flat=True))

    relabel(ids[::2])

    assert stored_rows() == direct_rows()
    relabel([])  # nothing to do, nothing written
    assert stored_rows() == direct_rows()
