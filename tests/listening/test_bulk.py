"""listening.bulk through the real ingest path: authors and the stored-id lookup, on PostgreSQL
as one array parameter per column (SQLite: bulk_create and IN lists), store the same rows."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from listening.bulk import (
    AuthorRow,
    MentionRow,
    authors_upsert,
    mention_external_ids_stored,
    mentions_insert,
)
from listening.connectors.base import RawItem
from listening.models import Author, Mention, MentionMatch, Source
from listening.services import BrandMatcher, items_store, source_brands
from tests.brands.conftest import acme

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
# Characters that array literals and COPY quote or escape, in handles, names and ids.
ODD = ["a,b", 'q"uote', "{brace}", "back\\slash", "sp ace", "NULL", "ünï", "it's", ""]


def item(external_id: str, *, author: str = "carol", **fields) -> RawItem:
    fields.setdefault("author_name", author.title())
    return RawItem(
        external_id=external_id,
        body=f"Acme item {external_id}",
        author_handle=author,
        published_at=NOON,
        **fields,
    )


def store(source: Source, *items: RawItem, platform: str = "mastodon"):
    matcher = BrandMatcher.for_brands(source_brands(source))
    return items_store(source=source, items=list(items), matcher=matcher, platform=platform)


@pytest.fixture
def social(acme) -> Source:
    return Source.objects.create(brand=acme, kind="mastodon", url="https://social.example")


def test_a_follower_count_refreshes_the_author_and_an_unknown_one_leaves_it(social) -> None:
    store(social, item("1", author="jo", author_followers=10, author_url="https://s.example/jo"))
    store(social, item("2", author="jo", author_name="Jo Renamed", author_url=""))

    jo = Author.objects.get(handle="jo")
    assert (jo.followers, jo.display_name, jo.profile_url) == (10, "Jo Renamed", "")

    store(social, item("3", author="jo", author_followers=12))

    assert Author.objects.get(handle="jo").followers == 12
    assert Author.objects.count() == 1


def test_within_a_batch_the_item_that_gives_a_follower_count_wins(social) -> None:
    store(
        social,
        item("1", author="jo", author_name="First"),
        item("2", author="jo", author_name="Counted", author_followers=7),
        item("3", author="jo", author_name="Last"),
    )

    jo = Author.objects.get(handle="jo")
    assert (jo.followers, jo.display_name) == (7, "Counted")
    assert set(Mention.objects.values_list("author_id", flat=True)) == {jo.pk}


def test_each_mention_links_to_its_own_author_new_or_known(social) -> None:
    store(social, item("old", author="known"))
    handles = [f"h{n}{odd}" for n, odd in enumerate(ODD)]

    store(social, *(item(f"m{n}", author=h, author_name=h) for n, h in enumerate(handles)))
    store(social, item("k", author="known", author_followers=3))

    by_external_id = dict(Mention.objects.values_list("external_id", "author__handle"))
    assert by_external_id == {
        "old": "known",
        "k": "known",
        **{f"m{n}": h for n, h in enumerate(handles)},
    }
    assert sorted(Author.objects.values_list("display_name", flat=True)) == sorted(
        ["Known", *handles]
    )


def test_the_same_handle_on_two_platforms_is_two_authors(social) -> None:
    store(
        social,
        item("1", author="jo", platform="mastodon"),
        item("2", author="jo", platform="bluesky"),
    )

    assert sorted(Author.objects.values_list("platform", "handle")) == [
        ("bluesky", "jo"),
        ("mastodon", "jo"),
    ]
    assert dict(Mention.objects.values_list("external_id", "author__platform")) == {
        "1": "mastodon",
        "2": "bluesky",
    }


def test_authors_upsert_returns_an_id_for_every_row_inserted_or_refreshed(social) -> None:
    known = Author.objects.create(platform="web", handle="known", followers=5)

    ids = authors_upsert(
        [
            AuthorRow("web", "known", "Known", "", None),
            AuthorRow("web", "new", "New", "https://n.example/", 9),
        ],
        updated_at=NOON,
    )

    assert ids == {("web", "known"): known.pk, ("web", "new"): Author.objects.get(handle="new").pk}
    known.refresh_from_db()
    assert (known.followers, known.display_name, known.updated_at) == (5, "Known", NOON)


def test_stored_ids_with_odd_characters_are_recognised_as_duplicates(social) -> None:
    ids = [f"id-{odd}" for odd in [*ODD, "tab\there", "new\nline"]]

    first = store(social, *(item(external_id) for external_id in ids))
    again = store(social, *(item(external_id) for external_id in ids))

    assert (first.new, first.duplicate) == (len(ids), 0)
    assert (again.new, again.duplicate) == (0, len(ids))
    assert mention_external_ids_stored(social.pk, [*ids, "id-never"]) == set(ids)
    assert mention_external_ids_stored(social.pk, []) == set()


def _row(source: Source, external_id: str) -> MentionRow:
    return MentionRow(
        source_id=source.pk,
        external_id=external_id,
        url="",
        author_id=None,
        platform="mastodon",
        in_reply_to="",
        thread_id="",
        author_followers=None,
        like_count=None,
        reply_count=None,
        repost_count=None,
        title="",
        text=f"Acme item {external_id}",
        is_text_truncated=False,
        language="en",
        published_at=NOON,
        fetched_at=NOON,
        neg=0.0,
        neu=1.0,
        pos=0.0,
        compound=0.0,
        label="neutral",
        earshot_compound=0.0,
        earshot_label="neutral",
        scorer_name="vader",
        scorer_version="test",
        matches=[(source.brand_id, ["acme"])],
    )


def test_a_batch_partly_stored_by_another_worker_stores_only_the_rest_once(social) -> None:
    """items_store looks up stored ids first, but another worker may store some of the batch
    between that lookup and the insert: mentions_insert then keeps what is there, stores the
    rest, and says exactly which rows it stored."""
    with transaction.atomic():
        first = mentions_insert([_row(social, "a"), _row(social, "b")])
    stored = dict(Mention.objects.values_list("external_id", "id"))
    assert first == stored and set(stored) == {"a", "b"}

    with transaction.atomic():
        second = mentions_insert([_row(social, "b"), _row(social, "c")])
    after = dict(Mention.objects.values_list("external_id", "id"))
    assert set(second) == {"c"} and second["c"] == after["c"]
    assert after["b"] == stored["b"]
    # One brand match per mention: "b" got none a second time.
    assert sorted(MentionMatch.objects.values_list("mention__external_id", flat=True)) == [
        "a",
        "b",
        "c",
    ]
