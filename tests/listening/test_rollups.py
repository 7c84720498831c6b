"""The dashboard's rollups equal a direct count of the stored mentions, whatever happened.

Mentions go in through the real ingest path (items_store: matching, VADER, the COPY insert);
the expected numbers are counted here straight from MentionMatch and Mention.
"""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.services import sentiment_correct
from listening.connectors.base import RawItem
from listening.models import (
    AuthorRollup,
    Mention,
    MentionMatch,
    MentionRollup,
    Source,
    TermRollup,
)
from listening.rollups import (
    BUYING_WORDS,
    asks_about_buying,
    authors_top,
    bucket_floor,
    latest_key,
    latest_label,
    mention_series,
    mention_terms,
    mentions_delete,
    rollups_rebuild,
    terms_top,
)
from listening.services import BrandMatcher, items_store, source_brands
from tests.brands.conftest import acme, agent, make_user

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)
NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def item(text: str, *, at: datetime = NOON, author: str = "carol", **fields) -> RawItem:
    external_id = fields.pop("external_id", None) or f"r{next(_ids)}"
    return RawItem(
        external_id=external_id,
        body=text,
        author_handle=author,
        author_name=author.title(),
        published_at=at,
        language="en",
        **fields,
    )


def store(source: Source, *items: RawItem, platform: str = "mastodon"):
    matcher = BrandMatcher.for_brands(source_brands(source))
    return items_store(source=source, items=list(items), matcher=matcher, platform=platform)


@pytest.fixture
def social(acme) -> Source:
    return Source.objects.create(brand=acme, kind="mastodon", url="https://social.example")


@pytest.fixture
def feed(acme) -> Source:
    return Source.objects.create(brand=acme, kind="rss", url="https://news.example/feed")


def stored_rows() -> dict[str, set[tuple]]:
    """Every rollup row, without ids."""
    return {
        "mentions": set(
            MentionRollup.objects.values_list(
                "brand_id",
                "span",
                "bucket_start",
                "source_id",
                "platform",
                "label",
                "language",
                "mentions",
                "reach",
                "engagement",
            )
        ),
        "authors": set(
            AuthorRollup.objects.values_list(
                "brand_id",
                "span",
                "bucket_start",
                "source_id",
                "author_id",
                "mentions",
                "positive",
                "negative",
                "buying",
                "reach_max",
                "latest_key",
            )
        ),
        "terms": set(
            TermRollup.objects.values_list(
                "brand_id", "span", "bucket_start", "source_id", "term", "mentions"
            )
        ),
    }


def _cells(moment: datetime, spans: tuple[int, ...]) -> list[tuple[int, datetime]]:
    """The UTC cells (span in minutes, start) that hold a moment, counted independently of
    listening.rollups: floor the minutes since midnight to the span."""
    moment = moment.astimezone(UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = (moment - midnight) // timedelta(minutes=1)
    return [(span, midnight + timedelta(minutes=minutes // span * span)) for span in spans]


def direct_rows() -> dict[str, set[tuple]]:
    """The same rows counted straight from MentionMatch and Mention."""
    mentions: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    authors: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, -(2**63)])
    terms: Counter = Counter()
    for match in MentionMatch.objects.select_related("mention"):
        m = match.mention
        for span, start in _cells(match.published_at, (15, 60, 1440)):
            row = mentions[
                (match.brand_id, span, start, m.source_id, m.platform, match.label, m.language)
            ]
            row[0] += 1
            row[1] += m.author_followers or 0
            row[2] += (m.like_count or 0) + (m.reply_count or 0) + (m.repost_count or 0)
            for term in mention_terms(match.matched_terms, m.text) if span != 60 else ():
                terms[(match.brand_id, span, start, m.source_id, term)] += 1
        if m.author_id is not None:
            for span, start in _cells(match.published_at, (15, 1440)):
                a = authors[(match.brand_id, span, start, m.source_id, m.author_id)]
                a[0] += 1
                a[1] += match.label == "positive"
                a[2] += match.label == "negative"
                a[3] += asks_about_buying(m.text)
                a[4] = max(a[4], m.author_followers or 0)
                a[5] = max(a[5], latest_key(match.published_at, match.label))
    return {
        "mentions": {(*k, *v) for k, v in mentions.items()},
        "authors": {(*k, *v) for k, v in authors.items()},
        "terms": {(*k, n) for k, n in terms.items()},
    }


@pytest.fixture
def heard(acme, social, feed):
    """Acme and its competitor Globex heard on two sources, with reach and engagement."""
    store(
        social,
        item("I love Acme, #Acme #happy", author="ann", author_followers=100, like_count=3),
        item("Acme is awful and broken #fail", author="bob", author_followers=50, reply_count=2),
        item("Acme beats Globex, great phone", author="ann", author_followers=120, repost_count=1),
        item("Globex support was terrible", author="cid", author_followers=None),
        item("Acme at 23:30 UTC", at=datetime(2026, 11, 2, 23, 30, tzinfo=UTC), author="dee"),
    )
    store(
        feed,
        item("Acme news of the day", author="", like_count=None),
        platform="web",
    )
    return acme


def test_ingest_keeps_rollups_equal_to_a_direct_count(heard):
    rows = stored_rows()

    assert rows == direct_rows()
    acme_day = {
        (label, n, reach, engagement)
        for brand, span, bucket, _, platform, label, _, n, reach, engagement in rows["mentions"]
        if brand == heard.pk and span == 15 and bucket == NOON and platform == "mastodon"
    }
    # ann's two mentions: 100 + 120 followers, 3 likes + 1 repost; bob's: 50, 2 replies.
    assert acme_day == {("positive", 2, 220, 4), ("negative", 1, 50, 2)}
    assert {r[4] for r in rows["terms"] if r[0] == heard.pk} >= {"acme", "#acme", "#happy"}
    # The hour and the day hold the same figures (the day also holds dee's 23:30 mention).
    hour = [r for r in rows["mentions"] if r[0] == heard.pk and r[1] == 60 and r[2] == NOON]
    assert {(r[4], r[5], *r[7:]) for r in hour if r[4] == "mastodon"} == {
        ("mastodon", "positive", 2, 220, 4),
        ("mastodon", "negative", 1, 50, 2),
    }


def test_reach_and_engagement_saturate_instead_of_refusing_the_batch(acme, social, agent):
    # Found by hypothesis (tests/listening/test_hostile_input.py): two mentions of an author
    # with 2^63 - 1 followers in one quarter-hour overflowed the bigint sum, and the store
    # refused every good row of the batch with them.
    most = 2**63 - 1
    huge = {"author_followers": most, "like_count": most, "reply_count": most}
    result = store(
        social,
        item("Acme is great", author="big", **huge),
        item("Acme is lovely", author="big", **huge),
        item("Acme shop on Main Street", author="small", author_followers=10),
    )
    assert result.new == 3 and result.failed == 0

    rows = stored_rows()
    positive = [r for r in rows["mentions"] if r[5] == "positive" and r[1] == 15]
    assert [(n, reach, engagement) for *_, n, reach, engagement in positive] == [(2, most, most)]
    # A later mention in the same quarter-hour stays saturated, and a rebuild from the stored
    # mentions gives the very same rows as the incremental path.
    store(social, item("Acme again, great", author="big", author_followers=5))
    kept = stored_rows()
    assert [r[7:] for r in kept["mentions"] if r[5] == "positive" and r[1] == 1440] == [
        (3, most, most)
    ]
    call_command("rebuild_rollups")
    assert stored_rows() == kept


def test_storing_the_same_items_again_counts_nothing_twice(heard, social):
    before = stored_rows()

    again = [
        item(m.text, at=m.published_at, external_id=m.external_id, like_count=9)
        for m in Mention.objects.filter(source=social)
    ]

    result = store(social, *again, item("Acme once more", at=NOON))

    assert (result.new, result.duplicate) == (1, 5)
    after = stored_rows()
    assert after == direct_rows()

    # The one new mention is one new (neutral) quarter-hour row; every quarter-hour row
    # before is as it was (the hour and day that hold the new one grew by it).
    def quarter_hours(rows: set[tuple]) -> set[tuple]:
        return {r for r in rows if r[1] == 15}

    assert quarter_hours(before["mentions"]) < quarter_hours(after["mentions"])
    assert len(quarter_hours(after["mentions"])) == len(quarter_hours(before["mentions"])) + 1
    assert quarter_hours(before["authors"]) <= quarter_hours(after["authors"])


def test_a_correction_moves_the_count_reach_and_engagement_to_the_new_label(heard, agent):
    bob = Mention.objects.get(text__startswith="Acme is awful")

    sentiment_correct(mention=bob, brand=heard, user=agent, label="positive", reason="irony")

    rows = stored_rows()
    assert rows == direct_rows()
    assert not any(
        r[5] == "negative" and r[0] == heard.pk and r[2] == NOON for r in rows["mentions"]
    )
    for span in (15, 60):
        positive = [
            r
            for r in rows["mentions"]
            if r[0] == heard.pk and r[1] == span and r[2] == NOON and r[5] == "positive"
        ]
        assert [r[7:] for r in positive if r[4] == "mastodon"] == [(3, 270, 6)]
    # bob's author cells were recounted: his latest (only) mention is now positive.
    bob_cells = [r for r in rows["authors"] if r[4] == bob.author_id and r[0] == heard.pk]
    assert {(r[1], r[5], r[6], r[7], latest_label(r[10])) for r in bob_cells} == {
        (15, 1, 1, 0, "positive"),
        (1440, 1, 1, 0, "positive"),
    }


def test_deleting_mentions_a_source_or_a_brand_keeps_rollups_exact(heard, social, feed, agent):
    ann = Mention.objects.filter(author__handle="ann").order_by("pk")
    sentiment_correct(mention=ann[0], brand=heard, user=agent, label="neutral", reason="sarcasm")

    assert mentions_delete(mention_ids=[ann[1].pk]) >= 1
    assert stored_rows() == direct_rows()

    feed.delete()
    assert stored_rows() == direct_rows()

    globex = heard.competitors.get()
    globex.delete()
    assert stored_rows() == direct_rows()
    assert MentionRollup.objects.exists()


def test_rebuild_rollups_produces_exactly_the_same_rows(heard, agent, capsys):
    bob = Mention.objects.get(text__startswith="Acme is awful")
    sentiment_correct(mention=bob, brand=heard, user=agent, label="neutral", reason="a fact")
    kept = stored_rows()
    MentionRollup.objects.all().delete()
    AuthorRollup.objects.all().delete()
    TermRollup.objects.all().delete()

    call_command("rebuild_rollups")

    assert stored_rows() == kept == direct_rows()
    assert "Rebuilt the rollups of 2 brand(s) from 7 brand mention(s)." in capsys.readouterr().out

    # Again, for one brand since a date: the same rows, nothing doubled.
    call_command("rebuild_rollups", "--brand", "acme", "--since", "2026-11-02")
    assert stored_rows() == kept


def test_a_rebuild_written_in_many_pieces_in_one_transaction_gives_the_same_rows(
    heard, monkeypatch
):
    from django.db import connection

    from brands.models import Brand
    from listening import rollups

    kept = stored_rows()
    # A write after every day with anything in it: the path of a large rebuild, where the
    # staging table is emptied many times within one transaction.
    monkeypatch.setattr(rollups, "REBUILD_WRITE_KEYS", 1)
    for brand in Brand.objects.all():
        rollups.rollups_rebuild(brand_id=brand.pk)
    assert stored_rows() == kept == direct_rows()
    if connection.vendor == "postgresql":  # SQLite writes with VALUES, no staging table
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM earshot_rollup_load2")
            assert cursor.fetchone()[0] == 0


def test_unscored_mentions_and_their_correction_keep_rollups_equal_to_a_rebuild(
    heard, social, agent
):
    # Spanish, with no language from the source (written for this test): detected, and left
    # unscored by Earshot (issue 13), counted under its own label.
    store(
        social,
        RawItem(
            external_id="es1",
            body="Acme, mi teléfono no funciona desde ayer y nadie me responde.",
            author_handle="eva",
            author_name="Eva",
            author_followers=40,
            published_at=NOON,
        ),
    )
    assert stored_rows() == direct_rows()
    spanish = [r for r in stored_rows()["mentions"] if r[0] == heard.pk and r[6] == "es"]
    assert {(r[1], r[5], r[7], r[8]) for r in spanish} == {
        (15, "unscored", 1, 40),
        (60, "unscored", 1, 40),
        (1440, "unscored", 1, 40),
    }
    eva = Mention.objects.get(external_id="es1")
    eva_cells = [r for r in stored_rows()["authors"] if r[4] == eva.author_id]
    assert {(r[1], r[5], r[6], r[7], latest_label(r[10])) for r in eva_cells} == {
        (15, 1, 0, 0, "unscored"),
        (1440, 1, 0, 0, "unscored"),
    }
    before = stored_rows()
    call_command("rebuild_rollups")
    assert stored_rows() == before

    # An agent labels it: the correction is the effective label, and the rollups follow.
    sentiment_correct(mention=eva, brand=heard, user=agent, label="negative", reason="queja")

    assert MentionMatch.objects.get(mention=eva, brand=heard).label == "negative"
    rows = stored_rows()
    assert rows == direct_rows()
    assert not any(r[5] == "unscored" for r in rows["mentions"])
    kept = rows
    MentionRollup.objects.all().delete()
    AuthorRollup.objects.all().delete()
    TermRollup.objects.all().delete()
    call_command("rebuild_rollups")
    assert stored_rows() == kept


def test_rebuild_since_a_moment_recounts_from_its_utc_day_and_leaves_earlier_days_alone(
    heard, social
):
    store(social, item("Acme the day before", at=NOON - timedelta(days=1), author="eve"))
    next_day = datetime(2026, 11, 2, tzinfo=UTC)
    MentionRollup.objects.filter(brand=heard, bucket_start__gte=next_day).delete()
    # A row planted in the earlier day shows that the rebuild does not touch it.
    MentionRollup.objects.filter(brand=heard, bucket_start__lt=next_day, span=1440).update(
        mentions=99
    )

    counted = rollups_rebuild(brand_id=heard.pk, since=datetime(2026, 11, 2, 18, tzinfo=UTC))

    # Every Acme match of 2026-11-02 (UTC), not only those after 18:00: a day cell is only
    # ever recounted whole.
    assert (
        counted
        == MentionMatch.objects.filter(
            brand=heard, published_at__gte=next_day, published_at__lt=next_day + timedelta(days=1)
        ).count()
    )
    rows = stored_rows()
    assert {r for r in rows["mentions"] if r[0] == heard.pk and r[2] >= next_day} == {
        r for r in direct_rows()["mentions"] if r[0] == heard.pk and r[2] >= next_day
    }
    earlier = [r for r in rows["mentions"] if r[0] == heard.pk and r[2] < next_day]
    assert [r[7] for r in earlier if r[1] == 1440] == [99]


def test_rebuild_rollups_says_which_brand_is_unknown():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match='No brand named "Nope".'):
        call_command("rebuild_rollups", "--brand", "Nope")


def test_a_mention_at_2330_utc_lands_on_the_right_local_day(acme, social):
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    store(social, item("Acme late", at=late), item("Acme early", at=late - timedelta(hours=23)))

    def days(tz: str) -> dict[date, int]:
        points = mention_series(
            brand_ids=[acme.pk], start=date(2026, 2, 28), end=date(2026, 3, 3), tz=tz, by=None
        )
        return {p.bucket: p.mentions for p in points}

    assert days("UTC") == {date(2026, 3, 1): 2}
    # 05:00 / 04:00+1 day in India (+5:30), 05:15 in Nepal (+5:45).
    assert days("Asia/Kolkata") == {date(2026, 3, 1): 1, date(2026, 3, 2): 1}
    assert days("Asia/Kathmandu") == {date(2026, 3, 1): 1, date(2026, 3, 2): 1}
    # 18:30 and 19:30 the day before in New York.
    assert days("America/New_York") == {date(2026, 3, 1): 1, date(2026, 2, 28): 1}


def test_new_york_days_are_exact_across_the_daylight_saving_change(acme, social):
    # 2026-03-08 02:00 EST -> 03:00 EDT. Local midnight of the 8th is 05:00 UTC, of the 9th
    # 04:00 UTC.
    store(
        social,
        item("Acme a", at=datetime(2026, 3, 8, 4, 50, tzinfo=UTC)),  # 23:50 on the 7th
        item("Acme b", at=datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),  # 00:00 on the 8th
        item("Acme c", at=datetime(2026, 3, 9, 3, 59, tzinfo=UTC)),  # 23:59 on the 8th
        item("Acme d", at=datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),  # 00:00 on the 9th
    )

    points = mention_series(
        brand_ids=[acme.pk], start=date(2026, 3, 1), end=date(2026, 3, 31),
        tz="America/New_York", by=None,
    )  # fmt: skip
    weeks = mention_series(
        brand_ids=[acme.pk], start=date(2026, 3, 1), end=date(2026, 3, 31),
        tz="America/New_York", bucket="week", by=None,
    )  # fmt: skip

    assert [(p.bucket, p.mentions) for p in points] == [
        (date(2026, 3, 7), 1),
        (date(2026, 3, 8), 2),
        (date(2026, 3, 9), 1),
    ]
    # Monday weeks: the 7th and 8th are in the week of 2 March, the 9th starts a new one.
    assert [(p.bucket, p.mentions) for p in weeks] == [(date(2026, 3, 2), 3), (date(2026, 3, 9), 1)]


def test_series_split_by_label_platform_source_and_brand(heard, social, feed):
    def series(by, bucket="month"):
        points = mention_series(
            brand_ids=[heard.pk, heard.competitors.get().pk],
            start=date(2026, 11, 1), end=date(2026, 11, 30), tz="UTC", bucket=bucket, by=by,
        )  # fmt: skip
        return {p.key: p.mentions for p in points}

    assert series("label") == {"positive": 3, "negative": 2, "neutral": 2}
    assert series("platform") == {"mastodon": 6, "web": 1}
    assert series("source") == {social.pk: 6, feed.pk: 1}
    assert series("brand") == {heard.pk: 5, heard.competitors.get().pk: 2}
    assert [(p.bucket, p.mentions, p.reach) for p in mention_series(
        brand_ids=[heard.pk], start=date(2026, 11, 1), end=date(2026, 11, 30), tz="UTC",
        bucket="month", by=None,
    )] == [(date(2026, 11, 1), 5, 270)]  # fmt: skip


def test_top_authors_and_terms_read_from_their_rollups(heard):
    top = authors_top(
        brand_ids=[heard.pk], start=date(2026, 11, 2), end=date(2026, 11, 2), tz="UTC"
    )
    by_reach = authors_top(
        brand_ids=[heard.pk], start=date(2026, 11, 2), end=date(2026, 11, 2), tz="UTC",
        order="reach",
    )  # fmt: skip
    tags = terms_top(
        brand_ids=[heard.pk], start=date(2026, 11, 2), end=date(2026, 11, 2), tz="UTC",
        hashtags_only=True,
    )  # fmt: skip

    ann = Mention.objects.filter(author__handle="ann").first().author_id
    bob = Mention.objects.filter(author__handle="bob").first().author_id
    assert (top[0].author_id, top[0].mentions, top[0].positive, top[0].reach_max) == (
        ann, 2, 2, 120,
    )  # fmt: skip
    assert [a.author_id for a in by_reach[:2]] == [ann, bob]
    assert tags == [("#acme", 1), ("#fail", 1), ("#happy", 1)]


def test_terms_are_lowercased_deduplicated_and_bounded():
    text = "#Acme #ACME #2024 " + " ".join(f"#tag{n}" for n in range(50))

    terms = mention_terms(["Acme", "acme"], text)

    assert terms[:2] == ["acme", "#acme"]
    assert "#2024" not in terms
    assert len(terms) == 20


def test_a_batch_writes_each_rollup_table_with_one_upsert(acme, social):
    items = [
        item(f"Acme #n{n} post", author=f"a{n}", author_followers=n, at=NOON + timedelta(minutes=n))
        for n in range(151)
    ]
    store(social, *items[:1])  # warm: the authors' and the staging table's first use

    with CaptureQueriesContext(connection) as ctx:
        store(social, *items[1:])

    rollup_sql = [q["sql"] for q in ctx.captured_queries if "rollup" in q["sql"]]
    upserts = [one for sql in rollup_sql for one in sql.split("; ") if "ON CONFLICT" in one]
    assert sorted({one.split(" (")[0] for one in upserts}) == [
        "INSERT INTO listening_authorrollup",
        "INSERT INTO listening_mentionrollup",
        "INSERT INTO listening_rollupgeneration",
        "INSERT INTO listening_termrollup",
    ]
    # PostgreSQL: the staging table's CREATE IF NOT EXISTS, one COPY (not captured here), then
    # the three INSERT ... SELECT sent in one round trip, and the generation's bump; SQLite:
    # VALUES statements.
    if connection.vendor == "postgresql":
        assert len(rollup_sql) == 3
    assert stored_rows() == direct_rows()
    assert TermRollup.objects.filter(term="acme", span=15).aggregate(n=Sum("mentions"))["n"] == 151


ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "UTC"]
# 2026-02-20 .. 2026-11-10 takes in both of New York's daylight-saving changes.
START = datetime(2026, 2, 20, tzinfo=UTC)
SPAN_MINUTES = int((datetime(2026, 11, 10, tzinfo=UTC) - START).total_seconds() // 60)
# Instants around local midnights and DST changes are where a wrong bucket shows.
EDGES = [
    datetime(2026, 3, 8, 4, 45, tzinfo=UTC),
    datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 3, 59, tzinfo=UTC),
    datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
    datetime(2026, 6, 1, 18, 29, tzinfo=UTC),  # 23:59 in India
    datetime(2026, 6, 1, 18, 30, tzinfo=UTC),  # 00:00 in India
    datetime(2026, 6, 1, 18, 14, 59, tzinfo=UTC),  # 23:59:59 in Nepal
    datetime(2026, 6, 1, 18, 15, tzinfo=UTC),  # 00:00 in Nepal
    datetime(2026, 6, 1, 23, 30, tzinfo=UTC),
]
instants = st.one_of(
    st.sampled_from(EDGES),
    st.integers(0, SPAN_MINUTES * 60).map(lambda s: START + timedelta(seconds=s)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    moments=st.lists(instants, min_size=1, max_size=12),
    tz=st.sampled_from(ZONES),
    bucket=st.sampled_from(["day", "week", "month"]),
)
def test_local_buckets_from_rollups_equal_a_direct_count_of_mentions(
    acme, social, moments, tz, bucket
):
    Mention.objects.all().delete()
    MentionRollup.objects.all().delete()
    store(social, *(item(f"Acme {n}", at=at) for n, at in enumerate(moments)))
    zone = ZoneInfo(tz)

    def start_of(day: date) -> date:
        if bucket == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1) if bucket == "month" else day

    expected = Counter(
        start_of(m.published_at.astimezone(zone).date())
        for m in Mention.objects.filter(source=social)
    )
    points = mention_series(
        brand_ids=[acme.pk], start=date(2026, 2, 1), end=date(2026, 11, 30), tz=tz,
        bucket=bucket, by=None,
    )  # fmt: skip

    assert {p.bucket: p.mentions for p in points} == dict(expected)


def test_deleting_mentions_in_the_admin_recounts_their_quarter_hours(heard, admin_client):
    ann, bob = (Mention.objects.get(text__startswith=t) for t in ("I love", "Acme is awful"))

    one = admin_client.post(
        reverse("admin:listening_mention_delete", args=[ann.pk]), {"post": "yes"}
    )
    assert one.status_code == 302
    assert stored_rows() == direct_rows()

    changelist = reverse("admin:listening_mention_changelist")
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [bob.pk], "post": "yes"}
    )

    assert not Mention.objects.filter(pk__in=[ann.pk, bob.pk]).exists()
    assert stored_rows() == direct_rows()
    assert not any(
        r[4] == "negative" and r[0] == heard.pk and r[1] == NOON for r in stored_rows()["mentions"]
    )


def test_migrate_counts_the_rollups_of_brands_that_have_none(heard):
    # An install upgraded from before the rollups (or past listening 0011, which remade
    # them) has mentions and no rollups: the next ``migrate`` counts them.
    kept = stored_rows()
    MentionRollup.objects.all().delete()
    AuthorRollup.objects.all().delete()
    TermRollup.objects.all().delete()

    call_command("migrate", verbosity=0)

    assert stored_rows() == kept == direct_rows()


# Terms that need quoting in a PostgreSQL array or escaping in COPY, and hashtags in scripts
# other than Latin: the server-side count must take each of them as one term.
ODD_TERMS = ['a"b', "c\\d", "e,f", "{g}", "h i", "NULL", "ünï", "日本"]
odd_texts = st.lists(
    st.tuples(
        st.sampled_from([*ODD_TERMS, "acme"]),
        st.lists(
            st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=6), max_size=3
        ),
        st.sampled_from(
            [
                datetime(1, 1, 1, 0, 7, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                NOON,
                datetime(2026, 6, 1, 18, 14, 59, tzinfo=UTC),
            ]
        ),
        st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(posts=odd_texts)
def test_odd_terms_extreme_dates_and_huge_reach_keep_rollups_equal_to_a_direct_count(
    acme, social, posts
):
    Mention.objects.all().delete()
    MentionRollup.objects.all().delete()
    AuthorRollup.objects.all().delete()
    TermRollup.objects.all().delete()
    acme.query = " OR ".join(f'"{t}"' if t != 'a"b' else "acme" for t in ODD_TERMS) + " OR acme"
    acme.save(update_fields=["query"])
    store(
        social,
        *(
            item(
                f"{term} news " + " ".join(f"#{tag}" for tag in tags),
                at=at,
                author=f"u{n % 3}",
                author_followers=followers,
                like_count=followers,
            )
            for n, (term, tags, at, followers) in enumerate(posts)
        ),
    )

    assert stored_rows() == direct_rows()
    rollups_rebuild(brand_id=acme.pk)
    assert stored_rows() == direct_rows()


def test_terms_with_quotes_backslashes_and_commas_are_counted_whole(acme, social):
    acme.query = 'acme OR "c\\\\d" OR "e,f" OR "{g}"'
    acme.save(update_fields=["query"])
    store(social, item("c\\d and e,f and {g} #日本 #a_b"))

    terms = set(TermRollup.objects.filter(span=15).values_list("term", flat=True))
    match = MentionMatch.objects.get(brand=acme)
    assert terms == set(mention_terms(match.matched_terms, match.mention.text))
    assert {"e,f", "#日本", "#a_b"} <= terms
    assert stored_rows() == direct_rows()


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(["BUY", "Price?", "how  MUCH", "in\tstock", "Sign Up", "priced", "x"]),
            st.text(st.characters(max_codepoint=127), max_size=8),
        ),
        max_size=12,
    )
)
def test_buying_words_are_found_in_any_case_as_the_case_blind_pattern_finds_them(words):
    text = " ".join(words)
    expected = re.search(
        r"\b(?:" + "|".join(w.replace(" ", r"\s+") for w in BUYING_WORDS) + r")\b",
        text,
        re.IGNORECASE,
    )

    assert asks_about_buying(text) is (expected is not None)


def test_buying_words_in_any_case():
    assert asks_about_buying("How MUCH is it?")
    assert asks_about_buying("Wo kann ich das kaufen? PRICE pls ünd")
    assert not asks_about_buying("priceless and costly")
