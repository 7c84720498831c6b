"""Data migrations of the listening app, run forwards on real rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from tests.database import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("listening", "0005_mention_truncated_match_route_error")]
AFTER = [("listening", "0006_repair_dates_outside_the_window")]


@pytest.fixture(autouse=True)
def latest_schema_afterwards():
    yield
    migrate_to_latest()


def test_mentions_dated_outside_the_window_get_their_fetch_time_and_read_again():
    apps = migrate(BEFORE)
    brand = apps.get_model("listening", "Brand").objects.create(name="Acme", query="acme")
    source = apps.get_model("listening", "Source").objects.create(brand=brand, kind="webhook")
    mention_model = apps.get_model("listening", "Mention")
    match_model = apps.get_model("listening", "MentionMatch")
    fetched = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    fine = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

    def mention(external_id, published_at):
        m = mention_model.objects.create(
            source=source,
            external_id=external_id,
            text="acme",
            published_at=published_at,
            fetched_at=fetched,
            neg=0.0,
            neu=1.0,
            pos=0.0,
            compound=0.0,
        )
        match_model.objects.create(mention=m, brand=brand, published_at=published_at)
        return m.pk

    ids = {
        "fine": mention("fine", fine),
        "year one": mention("y1", datetime(1, 1, 1, tzinfo=UTC)),
        "far future": mention("y9999", datetime(9999, 12, 31, tzinfo=UTC)),
        "before year 1": mention("bc", fine),
    }
    if connection.vendor == "postgresql":
        # What COPY stored for 0001-01-01T00:00+05:00: the ORM could not even read it back.
        with connection.cursor() as cursor:
            for table, key in (
                ("listening_mention", "id"),
                ("listening_mentionmatch", "mention_id"),
            ):
                cursor.execute(
                    f"UPDATE {table} SET published_at = '0001-12-31 19:00:00+00 BC'"  # noqa: S608
                    f" WHERE {key} = %s",
                    [ids["before year 1"]],
                )

    apps = migrate(AFTER)

    mention_model = apps.get_model("listening", "Mention")
    match_model = apps.get_model("listening", "MentionMatch")
    dates = dict(mention_model.objects.values_list("pk", "published_at"))
    assert dates[ids["fine"]] == fine
    for name in ("year one", "far future", "before year 1"):
        assert dates[ids[name]] == fetched, name
        assert match_model.objects.get(mention_id=ids[name]).published_at == fetched
    assert match_model.objects.get(mention_id=ids["fine"]).published_at == fine


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_mentions_stored_before_the_search_table_get_their_documents_and_new_ones_are_queued():
    apps = migrate(
        [("dashboard", "0005_roi_settings"), ("listening", "0015_drop_plain_label_index")]
    )
    brand = apps.get_model("brands", "Brand").objects.create(name="Acme", query="acme")
    source = apps.get_model("listening", "Source").objects.create(brand=brand, kind="webhook")
    mention_model = apps.get_model("listening", "Mention")
    at = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    scores = {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
    old = mention_model.objects.create(
        source=source, external_id="old", text="Acme Lost my BAG", published_at=at, **scores
    )

    apps = migrate([("dashboard", "0006_drop_text_fts"), ("listening", "0016_mention_search")])

    with connection.cursor() as cursor:
        cursor.execute("SELECT mention_id, document::text FROM listening_mentionsearch")
        assert cursor.fetchall() == [(old.pk, "'acme':1 'bag':4 'lost':2 'my':3")]
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'listening_mention'")
        assert "explorer_mention_text_fts" not in {name for (name,) in cursor.fetchall()}
    new = apps.get_model("listening", "Mention").objects.create(
        source_id=source.pk, external_id="new", text="acme", published_at=at, **scores
    )
    pending = apps.get_model("listening", "MentionSearchPending").objects
    assert list(pending.values_list("mention_id", flat=True)) == [new.pk]
