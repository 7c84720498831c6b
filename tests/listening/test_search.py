"""listening.search: mentions stored by the real ingest path are found by the explorer's
search at once, before their search documents are written and after; rewritten and deleted
mentions; two indexers never take the same ids (PostgreSQL: SQLite searches by substring)."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from dashboard.explorer.selectors import ExplorerFilters, explorer_matches, search_candidates
from listening.connectors.base import RawItem
from listening.models import Mention, MentionSearch, MentionSearchPending, Source
from listening.search import search_index_catch_up, search_queue_length
from listening.services import BrandMatcher, items_store, source_brands
from listening.tasks import search_index_task
from tests.brands.conftest import acme

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="full-text search is PostgreSQL's"
    ),
]

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def social(acme) -> Source:
    return Source.objects.create(brand=acme, kind="mastodon", url="https://social.example")


def store(source: Source, *bodies: str) -> None:
    items = [
        RawItem(external_id=f"id-{i}-{body}", body=body, author_handle="carol", published_at=NOON)
        for i, body in enumerate(bodies)
    ]
    matcher = BrandMatcher.for_brands(source_brands(source))
    result = items_store(source=source, items=items, matcher=matcher, platform="mastodon")
    assert result.new == len(bodies)


def found(brand, q: str) -> list[str]:
    """What the explorer lists for q, through both of its paths: the candidate ids (a rare
    word) and the walk over the brand's newest matches (a common one)."""
    filters = ExplorerFilters(brand=brand, matched=brand, q=q)
    candidates = search_candidates(filters=filters)
    walked = sorted(m.mention.text for m in explorer_matches(filters=filters))
    listed = sorted(
        m.mention.text for m in explorer_matches(filters=filters, mention_ids=candidates)
    )
    assert walked == listed
    return walked


def test_a_stored_mention_is_found_before_and_after_its_document_is_written(acme, social):
    store(social, "Acme lost my luggage", "Acme refund please", "Acme is fine")
    # Queued by the database trigger, whoever inserted the rows.
    assert search_queue_length() == 3
    assert not MentionSearch.objects.exists()
    assert found(acme, "luggage") == ["Acme lost my luggage"]
    assert found(acme, "refund OR luggage") == ["Acme lost my luggage", "Acme refund please"]

    assert search_index_task() == 3
    assert search_queue_length() == 0
    assert MentionSearch.objects.count() == 3
    assert found(acme, "luggage") == ["Acme lost my luggage"]
    assert found(acme, "refund OR luggage") == ["Acme lost my luggage", "Acme refund please"]
    assert found(acme, "-refund acme") == ["Acme is fine", "Acme lost my luggage"]
    assert found(acme, "parrot") == []
    # Nothing left: a second run writes nothing.
    assert search_index_catch_up() == 0


def test_half_indexed_the_search_reads_both_and_batches_take_the_oldest_first(acme, social):
    store(social, *[f"Acme order {n} arrived late" for n in range(7)])
    assert search_index_catch_up(batch_size=3) == 7
    store(social, "Acme late again")
    assert search_queue_length() == 1
    assert len(found(acme, "late")) == 8


def test_a_rewritten_text_is_searched_as_it_now_reads(acme, social):
    store(social, "Acme parcel never came")
    search_index_catch_up()
    mention = Mention.objects.get()
    mention.text = "Acme parcel came today"
    mention.save(update_fields=["text"])
    # The trigger took the old document away and queued the mention again.
    assert found(acme, "never") == []
    assert found(acme, "today") == ["Acme parcel came today"]
    search_index_catch_up()
    assert found(acme, "never") == []
    assert found(acme, "today") == ["Acme parcel came today"]


def test_deleted_mentions_leave_no_document_and_their_queued_ids_are_dropped(acme, social):
    store(social, "Acme one", "Acme two")
    search_index_catch_up()
    store(social, "Acme three")
    Mention.objects.all().delete()
    assert not MentionSearch.objects.exists()
    assert search_index_catch_up() == 0
    assert search_queue_length() == 0


@pytest.mark.django_db(transaction=True)
def test_two_indexers_never_take_the_same_ids(acme, social):
    store(social, *[f"Acme item {n}" for n in range(6)])
    held = sorted(MentionSearchPending.objects.values_list("mention_id", flat=True))[:2]
    locked, release = threading.Event(), threading.Event()

    def other_indexer_holding_two() -> None:
        # Another worker's batch, still running: it holds its rows until it commits.
        try:
            with transaction.atomic():
                list(MentionSearchPending.objects.select_for_update().filter(mention_id__in=held))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    other = threading.Thread(target=other_indexer_holding_two)
    other.start()
    try:
        assert locked.wait(10)
        assert search_index_catch_up() == 4
        assert sorted(MentionSearchPending.objects.values_list("mention_id", flat=True)) == held
    finally:
        release.set()
        other.join(10)
    assert search_index_catch_up() == 2
    assert MentionSearch.objects.count() == 6


def test_beat_writes_the_documents_every_few_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["listening-index-search"]
    assert entry["task"] == "listening.tasks.search_index_task"
    assert entry["schedule"] == float(settings.EARSHOT_SEARCH_INDEX_INTERVAL) == 5.0
