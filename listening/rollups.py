"""Dashboard rollups (issue 12): kept with every write, read by every chart.

Three tables (listening.models): MentionRollup (brand x quarter-hour x source x platform x
effective label: mentions, reach, engagement), AuthorRollup (brand x quarter-hour x source x
author: mentions, positive, negative, largest follower count) and TermRollup (brand x
quarter-hour x source x term: mentions).

Buckets are UTC quarter-hours. Every UTC offset in use is a multiple of 15 minutes (India
+5:30, Nepal +5:45) and every daylight-saving change happens on a quarter-hour, so a local
midnight is always a quarter-hour boundary in UTC: all of a bucket lies in one local day, and
a local day, week or month in any time zone is an exact range of buckets.

How they stay equal to the rows they count (tests/listening/test_rollups.py proves it):

- Ingest: listening.services._rows_insert calls ``rollups_add`` in the batch's transaction
  with the rows the insert returned as new, so a duplicate (already stored, or stored by a
  concurrent worker first) never counts twice. The batch is aggregated in Python first, then
  (PostgreSQL) copied into one staging table and added with one INSERT ... SELECT ... ON
  CONFLICT DO UPDATE SET n = n + EXCLUDED.n per table, in key order (two workers adding to
  the same rows lock them in the same order); SQLite takes INSERT ... VALUES ... ON CONFLICT.
- Corrections: engagement.services.sentiment_correct calls ``rollups_label_change``, which
  moves the mention's count, reach and engagement from the old effective label to the new.
- Deletion: every rollup is keyed by source, and cascades with its brand, source and author,
  so deleting any of them is exact with no recount. A mention deleted on its own goes through
  ``mentions_delete``, which recounts the quarter-hours it was in.
- ``rebuild_rollups`` (``rollups_rebuild``) recounts a brand from MentionMatch and Mention, in
  one transaction that holds MentionMatch in SHARE mode (ingest, corrections and deletes of
  that moment wait, so nothing is counted twice or lost).
"""

from __future__ import annotations

import functools
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import DateField, Max, Sum
from django.db.models.functions import Trunc

from listening.bulk import _esc
from listening.models import AuthorRollup, Mention, MentionMatch, MentionRollup, TermRollup

if TYPE_CHECKING:
    from listening.bulk import MentionRow

BUCKET = timedelta(minutes=15)
# Top terms stay bounded: the first TERMS_PER_MENTION distinct terms of a mention (its matched
# terms in query order, then its hashtags in text order), each at most TERM_MAX_CHARS long.
TERMS_PER_MENTION = 20
TERM_MAX_CHARS = 100
# A hashtag: "#" not inside a word, then word characters, not all digits or underscores.
_HASHTAG_RE = re.compile(r"(?<![\w#&])#(\w{1,100})")

_POSITIVE = str(Mention.Label.POSITIVE.value)
# Reach and engagement sums saturate at the bigint columns' bounds instead of failing the batch:
# one author with 2^63 - 1 followers (the bound outside.py keeps) twice in a quarter-hour would
# otherwise overflow, and the store would refuse every good row with it (issue 9's rule). For
# sums of non-negative values saturation is exact in any order (min(min(a, M) + b, M) equals
# min(a + b, M)), so incremental rollups still equal a rebuild.
BIGINT_MAX = 2**63 - 1


def _saturated(value: int) -> int:
    return max(-BIGINT_MAX, min(value, BIGINT_MAX))


_NEGATIVE = str(Mention.Label.NEGATIVE.value)
_MENTION_KEY = ("brand_id", "bucket_start", "source_id", "platform", "label")
_AUTHOR_KEY = ("brand_id", "bucket_start", "source_id", "author_id")
_TERM_KEY = ("brand_id", "bucket_start", "source_id", "term")


def bucket_floor(moment: datetime) -> datetime:
    """The UTC quarter-hour that holds moment (aware)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def mention_terms(matched_terms: Iterable[str], text: str) -> list[str]:
    """The terms a mention counts for in TermRollup: matched terms, then "#hashtags"."""
    out: dict[str, None] = {}
    for term in matched_terms:
        key = str(term).strip().lower()[:TERM_MAX_CHARS]
        if key:
            out.setdefault(key)
            if len(out) >= TERMS_PER_MENTION:
                return list(out)
    if "#" in text:
        for tag in _HASHTAG_RE.findall(text):
            if tag.isdigit() or tag.strip("_") == "":
                continue
            out.setdefault(f"#{tag.lower()}"[:TERM_MAX_CHARS])
            if len(out) >= TERMS_PER_MENTION:
                break
    return list(out)


# --- Aggregating in Python, then one upsert per table -----------------------------------------


@dataclass(slots=True)
class _Fact:
    """One brand's mention, as the rollups see it."""

    brand_id: int
    published_at: datetime
    source_id: int
    platform: str
    label: str
    author_id: int | None
    followers: int | None
    engagement: int
    terms: list[str] | None  # None: leave TermRollup alone


class _Totals:
    def __init__(self) -> None:
        self.mentions: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.authors: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.terms: dict[tuple, list[int]] = defaultdict(lambda: [0])

    def add(self, fact: _Fact, sign: int = 1, *, counts_mention: bool = True) -> None:
        bucket = bucket_floor(fact.published_at)
        reach = fact.followers or 0
        row = self.mentions[(fact.brand_id, bucket, fact.source_id, fact.platform, fact.label)]
        row[0] += sign
        row[1] += sign * reach
        row[2] += sign * fact.engagement
        if fact.author_id is not None:
            author = self.authors[(fact.brand_id, bucket, fact.source_id, fact.author_id)]
            if counts_mention:
                author[0] += sign
                author[3] = max(author[3], reach)
            author[1] += sign * (fact.label == _POSITIVE)
            author[2] += sign * (fact.label == _NEGATIVE)
        if fact.terms:
            for term in fact.terms:
                self.terms[(fact.brand_id, bucket, fact.source_id, term)][0] += sign

    def __len__(self) -> int:
        return len(self.mentions) + len(self.authors) + len(self.terms)

    def write(self) -> None:
        if connection.vendor == "postgresql":
            _write_copy(self)
        else:
            for kind, model, key, sums, maxes in _TABLES:
                _upsert(model, key, sums, maxes, getattr(self, kind))
        self.mentions.clear()
        self.authors.clear()
        self.terms.clear()


_TABLES = (
    ("mentions", MentionRollup, _MENTION_KEY, ("mentions", "reach", "engagement"), ()),
    ("authors", AuthorRollup, _AUTHOR_KEY, ("mentions", "positive", "negative"), ("reach_max",)),
    ("terms", TermRollup, _TERM_KEY, ("mentions",), ()),
)


def _conflict(table: str, key: Sequence[str], sums: Sequence[str], maxes: Sequence[str]) -> str:
    if connection.vendor == "postgresql":
        greatest, least, wide = "GREATEST", "LEAST", "::numeric"
    else:  # SQLite turns an overflowing integer sum into a REAL, which MIN bounds.
        greatest, least, wide = "MAX", "MIN", ""
    added = [f"{table}.{c}{wide} + EXCLUDED.{c}" for c in sums]
    sets = [
        f"{c} = {least}({greatest}({a}, {-BIGINT_MAX}), {BIGINT_MAX})"
        + ("::bigint" if wide else "")
        for c, a in zip(sums, added, strict=True)
    ] + [f"{c} = {greatest}({table}.{c}, EXCLUDED.{c})" for c in maxes]
    return f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"


def _upsert(
    model: Any,
    key: Sequence[str],
    sums: Sequence[str],
    maxes: Sequence[str],
    rows: dict[tuple, list[int]],
) -> None:
    """INSERT ... VALUES ... ON CONFLICT (key) DO UPDATE SET sum = sum + EXCLUDED.sum, in key
    order (SQLite; PostgreSQL takes _write_copy)."""
    ordered = sorted((k, v) for k, v in rows.items() if any(v))
    if not ordered:
        return
    table = model._meta.db_table
    columns = [*key, *sums, *maxes]
    conflict = _conflict(table, key, sums, maxes)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    at = key.index("bucket_start")
    adapt = connection.ops.adapt_datetimefield_value
    # SQLite allows 32,766 parameters a statement.
    per_statement = 3_000 // len(columns)
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), per_statement):
            chunk = ordered[start : start + per_statement]
            params: list[Any] = []
            for k, values in chunk:
                params.extend(k[:at])
                params.append(adapt(k[at]))
                params.extend(k[at + 1 :])
                params.extend(_saturated(v) for v in values)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608 (fixed names)
                f" VALUES {', '.join([placeholder] * len(chunk))}{conflict}",
                params,
            )


# One staging table for the three rollups: a row's kind says which; its key columns are named
# as in the rollup, its numbers are n1.. in the rollup's order (sums, then maxes).
_STAGING = "earshot_rollup_load"
_STAGING_COLUMNS = (
    "kind smallint, brand_id bigint, bucket_start timestamptz, source_id bigint, platform text,"
    " label text, author_id bigint, term text, n1 bigint, n2 bigint, n3 bigint, n4 bigint"
)
_STAGING_KEY_AT = {"platform": 4, "label": 5, "author_id": 6, "term": 7}


@functools.cache
def _staging_insert_sql() -> str:
    statements = []
    for kind, (_, model, key, sums, maxes) in enumerate(_TABLES):
        table = model._meta.db_table
        numbers = [f"n{i + 1}" for i in range(len(sums) + len(maxes))]
        statements.append(
            f"INSERT INTO {table} ({', '.join([*key, *sums, *maxes])})"  # noqa: S608
            f" SELECT {', '.join([*key, *numbers])} FROM {_STAGING} WHERE kind = {kind}"
            f" ORDER BY {', '.join(key)}{_conflict(table, key, sums, maxes)}"
        )
    statements.append(f"DELETE FROM {_STAGING}")  # noqa: S608 (fixed name)
    return "; ".join(statements)


def _write_copy(totals: _Totals) -> None:
    """The upserts on PostgreSQL: one COPY of every key into a per-connection staging table,
    then one INSERT ... SELECT ... ON CONFLICT DO UPDATE per rollup, sent together: three
    round trips a batch. Faster than VALUES rows (or unnest arrays) from 50 keys to 10,000.
    The INSERTs take keys in key order, so two workers lock rows in the same order."""
    stamps: dict[datetime, str] = {}
    lines = []
    for kind, (name, _, key, _, _) in enumerate(_TABLES):
        slots = [_STAGING_KEY_AT[c] for c in key[3:]]
        for k, values in getattr(totals, name).items():
            if not any(values):
                continue
            stamp = stamps.get(k[1]) or stamps.setdefault(k[1], k[1].isoformat())
            row = [str(kind), str(k[0]), stamp, str(k[2]), "\\N", "\\N", "\\N", "\\N"]
            for slot, value in zip(slots, k[3:], strict=True):
                row[slot] = _esc(value) if isinstance(value, str) else str(value)
            row.extend(str(_saturated(v)) for v in values)
            row.extend(["\\N"] * (4 - len(values)))
            lines.append("\t".join(row))
    if not lines:
        return
    with connection.cursor() as cursor:
        # ON COMMIT DELETE ROWS: nothing outlives the batch's transaction, even on a crash.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ({_STAGING_COLUMNS}) ON COMMIT DELETE ROWS"
        )
        cursor.cursor.copy_expert(
            f"COPY {_STAGING} FROM STDIN", io.StringIO("\n".join(lines) + "\n")
        )
        cursor.execute(_staging_insert_sql())


def _engagement(likes: int | None, replies: int | None, reposts: int | None) -> int:
    return (likes or 0) + (replies or 0) + (reposts or 0)


# --- Keeping them ---------------------------------------------------------------------------


def rollups_add(*, rows: Sequence[MentionRow], inserted: dict[str, int]) -> None:
    """Count the brand matches of the mentions just inserted (``inserted``: external id ->
    id, as listening.bulk.mentions_insert returns). Call inside the insert's transaction.
    Not idempotent (it adds): the caller passes only rows inserted now. Touches the three
    rollup tables (three statements at most, whatever the batch size)."""
    totals = _Totals()
    for row in rows:
        if row.external_id not in inserted:
            continue
        engagement = _engagement(row.like_count, row.reply_count, row.repost_count)
        for brand_id, matched in row.matches:
            totals.add(
                _Fact(
                    brand_id=brand_id,
                    published_at=row.published_at,
                    source_id=row.source_id,
                    platform=row.platform,
                    label=row.label,
                    author_id=row.author_id,
                    followers=row.author_followers,
                    engagement=engagement,
                    terms=mention_terms(matched, row.text),
                )
            )
    totals.write()


def rollups_label_change(*, match_id: int, before: str, after: str) -> None:
    """Move one brand match from effective label ``before`` to ``after``: its count, reach
    and engagement in MentionRollup, its positive/negative in AuthorRollup. Call in the
    transaction that changes MentionMatch.label, once per change (not idempotent). Rows left
    at zero are deleted, as a rebuild would not have them."""
    if before == after:
        return
    row = (
        MentionMatch.objects.filter(pk=match_id)
        .values_list(
            "brand_id",
            "published_at",
            "mention__source_id",
            "mention__platform",
            "mention__author_id",
            "mention__author_followers",
            "mention__like_count",
            "mention__reply_count",
            "mention__repost_count",
        )
        .first()
    )
    if row is None:
        return
    brand_id, published_at, source_id, platform, author_id, followers, *counts = row
    fact = _Fact(
        brand_id=brand_id,
        published_at=published_at,
        source_id=source_id,
        platform=platform,
        label=before,
        author_id=author_id,
        followers=followers,
        engagement=_engagement(*counts),
        terms=None,
    )
    totals = _Totals()
    totals.add(fact, -1, counts_mention=False)
    fact.label = after
    totals.add(fact, 1, counts_mention=False)
    totals.write()
    MentionRollup.objects.filter(
        brand_id=brand_id,
        bucket_start=bucket_floor(published_at),
        source_id=source_id,
        platform=platform,
        label=before,
        mentions__lte=0,
    ).delete()


def mentions_delete(*, mention_ids: Sequence[int]) -> int:
    """Delete mentions (with their matches, cases' links and so on, by CASCADE) and recount
    the rollups of the quarter-hours they were in. Idempotent (a mention already gone is
    skipped). Returns how many mentions were deleted. Touches Mention and what cascades from
    it, and the three rollup tables for the affected brands and quarter-hours."""
    with transaction.atomic():
        # As in a rebuild: a concurrent batch must not add to a quarter-hour between its
        # recount's delete and insert.
        _lock_matches()
        affected = list(
            MentionMatch.objects.filter(mention_id__in=mention_ids).values_list(
                "brand_id", "published_at"
            )
        )
        deleted, _ = Mention.objects.filter(pk__in=mention_ids).delete()
        buckets: dict[int, set[datetime]] = defaultdict(set)
        for brand_id, published_at in affected:
            buckets[brand_id].add(bucket_floor(published_at))
        for brand_id, starts in buckets.items():
            for start in sorted(starts):
                _rebuild_range(brand_id, start, start + BUCKET)
    return deleted


# --- Rebuilding from the source rows -----------------------------------------------------------


def rollups_rebuild(
    *,
    brand_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Recount one brand's rollups from MentionMatch and Mention, for the quarter-hours from
    ``since`` (floored) to ``until`` (exclusive; both optional). One transaction; idempotent
    (the same rows every time). Returns how many brand matches were counted.
    ``on_progress(n)`` is called as each month's n matches are counted."""
    start = bucket_floor(since) if since else None
    with transaction.atomic():
        _lock_matches()
        first_last = MentionMatch.objects.filter(brand_id=brand_id)
        if start is not None:
            first_last = first_last.filter(published_at__gte=start)
        if until is not None:
            first_last = first_last.filter(published_at__lt=until)
        _delete_range(brand_id, start, until)
        bounds = first_last.order_by("published_at").values_list("published_at", flat=True)
        first = bounds.first()
        if first is None:
            return 0
        last = bounds.last()
        counted = 0
        window = bucket_floor(first)
        while window <= last:
            window_end = min(window + timedelta(days=31), until or datetime.max.replace(tzinfo=UTC))
            n = _insert_range(brand_id, window, window_end)
            counted += n
            if on_progress is not None:
                on_progress(n)
            window = window_end
        return counted


def _lock_matches() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Writers of MentionMatch (ingest, corrections, deletes) wait; readers do not.
            cursor.execute(f"LOCK TABLE {MentionMatch._meta.db_table} IN SHARE MODE")


def _rebuild_range(brand_id: int, start: datetime, end: datetime) -> None:
    _delete_range(brand_id, start, end)
    _insert_range(brand_id, start, end)


def _delete_range(brand_id: int, start: datetime | None, end: datetime | None) -> None:
    for model in (MentionRollup, AuthorRollup, TermRollup):
        qs = model.objects.filter(brand_id=brand_id)
        if start is not None:
            qs = qs.filter(bucket_start__gte=start)
        if end is not None:
            qs = qs.filter(bucket_start__lt=end)
        qs.delete()


def _insert_range(brand_id: int, start: datetime, end: datetime) -> int:
    """Count the brand's matches published in [start, end) (quarter-hour bounds) into the
    rollups, which must hold nothing there yet. Returns how many matches were counted."""
    if connection.vendor == "postgresql":
        counted = _insert_range_sql(brand_id, start, end)
        _insert_range_python(brand_id, start, end, terms_only=True)
        return counted
    return _insert_range_python(brand_id, start, end, terms_only=False)


_BUCKET_SQL = "date_bin('15 minutes', mm.published_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def _insert_range_sql(brand_id: int, start: datetime, end: datetime) -> int:
    matches = MentionMatch._meta.db_table
    mentions = Mention._meta.db_table
    where = "mm.brand_id = %s AND mm.published_at >= %s AND mm.published_at < %s"
    params = [brand_id, start, end]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MentionRollup._meta.db_table}"  # noqa: S608 (fixed names)
            " (brand_id, bucket_start, source_id, platform, label, mentions, reach, engagement)"
            f" SELECT mm.brand_id, {_BUCKET_SQL}, m.source_id, m.platform, mm.label, count(*),"
            # sum(bigint) is numeric: bounded as the incremental path bounds it.
            f" least(coalesce(sum(m.author_followers), 0), {BIGINT_MAX}),"
            " least(coalesce(sum(coalesce(m.like_count, 0)::numeric"
            f" + coalesce(m.reply_count, 0) + coalesce(m.repost_count, 0)), 0), {BIGINT_MAX})"
            f" FROM {matches} mm JOIN {mentions} m ON m.id = mm.mention_id"
            f" WHERE {where} GROUP BY 1, 2, 3, 4, 5",
            params,
        )
        cursor.execute(
            f"INSERT INTO {AuthorRollup._meta.db_table}"  # noqa: S608 (fixed names)
            " (brand_id, bucket_start, source_id, author_id, mentions, positive, negative,"
            " reach_max)"
            f" SELECT mm.brand_id, {_BUCKET_SQL}, m.source_id, m.author_id, count(*),"
            " count(*) FILTER (WHERE mm.label = 'positive'),"
            " count(*) FILTER (WHERE mm.label = 'negative'),"
            " coalesce(max(m.author_followers), 0)"
            f" FROM {matches} mm JOIN {mentions} m ON m.id = mm.mention_id"
            f" WHERE {where} AND m.author_id IS NOT NULL GROUP BY 1, 2, 3, 4",
            params,
        )
        cursor.execute(
            f"SELECT coalesce(sum(mentions), 0) FROM {MentionRollup._meta.db_table}"  # noqa: S608
            " WHERE brand_id = %s AND bucket_start >= %s AND bucket_start < %s",
            params,
        )
        return int(cursor.fetchone()[0])


def _insert_range_python(brand_id: int, start: datetime, end: datetime, *, terms_only: bool) -> int:
    """The same counts, streamed through _Totals (terms need Python's hashtag rule; SQLite
    needs all of it). Written every few thousand keys, once their quarter-hour is past."""
    rows = (
        MentionMatch.objects.filter(
            brand_id=brand_id, published_at__gte=start, published_at__lt=end
        )
        .order_by("published_at", "pk")
        .values_list(
            "published_at",
            "label",
            "matched_terms",
            "mention__source_id",
            "mention__platform",
            "mention__author_id",
            "mention__author_followers",
            "mention__like_count",
            "mention__reply_count",
            "mention__repost_count",
            "mention__text",
        )
    )
    totals = _Totals()
    counted = 0
    current = None
    for (
        published_at,
        label,
        matched,
        source_id,
        platform,
        author_id,
        followers,
        *rest,
    ) in rows.iterator(chunk_size=2000):
        *counts, text = rest
        bucket = bucket_floor(published_at)
        if bucket != current and len(totals) >= 5000:
            totals.write()
        current = bucket
        fact = _Fact(
            brand_id=brand_id,
            published_at=published_at,
            source_id=source_id,
            platform=platform,
            label=label,
            author_id=author_id,
            followers=followers,
            engagement=_engagement(*counts),
            terms=mention_terms(matched or [], text),
        )
        if terms_only:
            for term in fact.terms or []:
                totals.terms[(brand_id, bucket, source_id, term)][0] += 1
        else:
            totals.add(fact)
        counted += 1
    totals.write()
    return counted


# --- Reading them (the dashboard's selectors build on these) -----------------------------------

BUCKETS = ("day", "week", "month")
BY_COLUMNS = {"label": "label", "platform": "platform", "source": "source_id", "brand": "brand_id"}


def local_range(start: date, end: date, tz: ZoneInfo | str) -> tuple[datetime, datetime]:
    """The UTC instants [from, to) of local days start..end (inclusive) in tz."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    lo = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return lo, hi


def bucket_label(day: date, bucket: str) -> date:
    """The first local day of the day/week (ISO, Monday)/month bucket that holds day."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket: date  # the bucket's first local day
    key: Any  # the label, platform, source id or brand id (None when by is None)
    mentions: int
    reach: int
    engagement: int


def mention_series(
    *,
    brand_ids: Sequence[int],
    start: date,
    end: date,
    tz: ZoneInfo | str,
    bucket: str = "day",
    by: str | None = "label",
    source_ids: Sequence[int] | None = None,
    platforms: Sequence[str] | None = None,
) -> list[SeriesPoint]:
    """Mentions, reach and engagement per local day/week/month of local days start..end,
    split by label, platform, source or brand (or not: by=None), from MentionRollup only.

    The quarter-hours become local days in SQL (Django's Trunc with tzinfo: ``date_trunc(...,
    bucket_start AT TIME ZONE tz)`` on PostgreSQL; exact, as a quarter-hour never straddles
    a local midnight) and are grouped there, so a year reads a few hundred rows. Weeks start
    on Monday (ISO). Sorted by bucket, then key. Uses mention_rollup_key (brand,
    bucket_start). Empty buckets are absent: the caller fills its axis from ``local_range``.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, not {bucket!r}")
    if by is not None and by not in BY_COLUMNS:
        raise ValueError(f"by must be one of {tuple(BY_COLUMNS)} or None, not {by!r}")
    if not brand_ids:
        return []
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    lo, hi = local_range(start, end, zone)
    qs = MentionRollup.objects.filter(
        brand_id__in=brand_ids, bucket_start__gte=lo, bucket_start__lt=hi
    )
    if source_ids is not None:
        qs = qs.filter(source_id__in=source_ids)
    if platforms is not None:
        qs = qs.filter(platform__in=platforms)
    columns = ["b"] + ([BY_COLUMNS[by]] if by else [])
    rows = (
        qs.annotate(b=Trunc("bucket_start", bucket, output_field=DateField(), tzinfo=zone))
        .values(*columns)
        .annotate(n=Sum("mentions"), r=Sum("reach"), e=Sum("engagement"))
        .order_by(*columns)
    )
    key = BY_COLUMNS[by] if by else None
    return [
        SeriesPoint(row["b"], row[key] if key else None, row["n"], row["r"], row["e"])
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class AuthorTotal:
    author_id: int
    mentions: int
    positive: int
    negative: int
    reach_max: int


def authors_top(
    *,
    brand_ids: Sequence[int],
    start: date,
    end: date,
    tz: ZoneInfo | str,
    order: str = "mentions",
    limit: int = 20,
) -> list[AuthorTotal]:
    """The authors with the most mentions (order="mentions") or the largest follower count
    (order="reach") over local days start..end, from AuthorRollup (ties: author id)."""
    lo, hi = local_range(start, end, tz)
    rows = (
        AuthorRollup.objects.filter(
            brand_id__in=brand_ids, bucket_start__gte=lo, bucket_start__lt=hi
        )
        .values("author_id")
        .annotate(
            n=Sum("mentions"), pos=Sum("positive"), neg=Sum("negative"), reach=Max("reach_max")
        )
        .order_by("-reach" if order == "reach" else "-n", "author_id")[:limit]
    )
    return [AuthorTotal(r["author_id"], r["n"], r["pos"], r["neg"], r["reach"]) for r in rows]


def terms_top(
    *,
    brand_ids: Sequence[int],
    start: date,
    end: date,
    tz: ZoneInfo | str,
    hashtags_only: bool = False,
    limit: int = 20,
) -> list[tuple[str, int]]:
    """The most frequent terms (or only "#hashtags") over local days start..end, from
    TermRollup: (term, mentions) by count, then term."""
    lo, hi = local_range(start, end, tz)
    qs = TermRollup.objects.filter(
        brand_id__in=brand_ids, bucket_start__gte=lo, bucket_start__lt=hi
    )
    if hashtags_only:
        qs = qs.filter(term__startswith="#")
    rows = qs.values("term").annotate(n=Sum("mentions")).order_by("-n", "term")[:limit]
    return [(r["term"], r["n"]) for r in rows]
