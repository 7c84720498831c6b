"""Dashboard rollups (issue 12): kept with every write, read by every chart.

Three tables (listening.models): MentionRollup (brand x cell x source x platform x effective
label x language: mentions, reach, engagement), AuthorRollup (brand x cell x source x author:
mentions, positive, negative, buying questions, largest follower count, latest mention) and
TermRollup (brand x cell x source x term: mentions).

A cell is a UTC quarter-hour, hour or day (``span`` 15, 60 or 1440 minutes); each mention is
counted once at every span its table keeps. Why three:

- Every UTC offset in use is a multiple of 15 minutes (India +5:30, Nepal +5:45) and every
  daylight-saving change happens on a quarter-hour, so a local midnight is always a
  quarter-hour boundary in UTC: any local day, week or month in any time zone is an exact
  range of quarter-hours.
- Reading quarter-hours alone would read as many rows as a busy brand has mentions. So a sum
  over [a, b) (sums only: counts, reach, engagement) is read as the UTC days between the UTC
  midnights nearest to a and b, minus or plus the cells between each end and its nearest
  midnight: at most 12 hours and 3 quarter-hours at each end (``_sum_plan``). A 90-day
  daily chart in Kolkata reads 90 day cells and about 7 small cells per day boundary,
  whatever the volume.
- Distinct authors, maxima and the latest mention cannot be subtracted: author figures read
  the whole UTC days inside [a, b) and the quarter-hours of its two partial days
  (``_author_cells``).

How they stay equal to the rows they count (tests/listening/test_rollups.py proves it):

- Ingest: listening.services._rows_insert calls ``rollups_add`` in the batch's transaction
  with the rows the insert returned as new, so a duplicate (already stored, or stored by a
  concurrent worker first) never counts twice. The batch is aggregated in Python first, then
  (PostgreSQL) copied into one staging table and added with one INSERT ... SELECT ... ON
  CONFLICT DO UPDATE SET n = n + EXCLUDED.n per table, in key order (two workers adding to
  the same rows lock them in the same order); SQLite takes INSERT ... VALUES ... ON CONFLICT.
- Corrections: engagement.services.sentiment_correct calls ``rollups_label_change``, which
  moves the mention's count, reach and engagement from the old effective label to the new,
  and recounts the author's cells that hold it (the latest label may have changed).
- Deletion: every rollup is keyed by source, and cascades with its brand, source and author,
  so deleting any of them is exact with no recount. A mention deleted on its own goes through
  ``mentions_delete``, which recounts the UTC days it was in.
- ``rebuild_rollups`` (``rollups_rebuild``) recounts a brand from MentionMatch and Mention, in
  one transaction that holds MentionMatch in SHARE mode (ingest, corrections and deletes of
  that moment wait, so nothing is counted twice or lost).
"""

from __future__ import annotations

import functools
import io
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Max, Q, Sum

from listening.bulk import _esc
from listening.models import (
    AuthorRollup,
    Mention,
    MentionMatch,
    MentionRollup,
    RollupGeneration,
    RollupSpan,
    TermRollup,
)

if TYPE_CHECKING:
    from listening.bulk import MentionRow

QUARTER_HOUR, HOUR, DAY = (int(span) for span in RollupSpan)
BUCKET = timedelta(minutes=15)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
# Top terms stay bounded: the first TERMS_PER_MENTION distinct terms of a mention (its matched
# terms in query order, then its hashtags in text order), each at most TERM_MAX_CHARS long.
TERMS_PER_MENTION = 20
TERM_MAX_CHARS = 100
# A hashtag: "#" not inside a word, then word characters, not all digits or underscores.
_HASHTAG_RE = re.compile(r"(?<![\w#&])#(\w{1,100})")

# Words of a customer asking about buying (Persuasion in the dashboard's funnel). English
# only, whole words, any case, any run of spaces inside a phrase: "price", "how much",
# "where can I get", ... Decided once per mention here, so the funnel counts it from rollups.
BUYING_WORDS = (
    "buy",
    "buying",
    "purchase",
    "price",
    "pricing",
    "how much",
    "cost",
    "discount",
    "coupon",
    "in stock",
    "order one",
    "where can i get",
    "sign up",
    "subscribe",
    "free trial",
)
_BUYING_PATTERN = r"\b(?:" + "|".join(w.replace(" ", r"\s+") for w in BUYING_WORDS) + r")\b"
_BUYING_RE = re.compile(_BUYING_PATTERN, re.IGNORECASE)
# The same on lower-cased ASCII text: three times faster than IGNORECASE (which folds case at
# every position it tries), and exactly equal on ASCII, where no character folds but A-Z.
_BUYING_LOWER_RE = re.compile(_BUYING_PATTERN)

_POSITIVE = str(Mention.Label.POSITIVE.value)
_NEGATIVE = str(Mention.Label.NEGATIVE.value)
# Label codes of latest_key: at the very same microsecond the more positive mention counts as
# the later one, and an unscored one later still (any fixed rule keeps incremental rollups
# equal to a rebuild).
_LABEL_CODE = {
    _NEGATIVE: 0,
    str(Mention.Label.NEUTRAL.value): 1,
    _POSITIVE: 2,
    str(Mention.EarshotLabel.UNSCORED.value): 3,
}
_CODE_LABEL = {code: label for label, code in _LABEL_CODE.items()}
LATEST_POSITIVE_CODE = _LABEL_CODE[_POSITIVE]
LATEST_NONE = -(2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Reach and engagement sums saturate at the bigint columns' bounds instead of failing the batch:
# one author with 2^63 - 1 followers (the bound outside.py keeps) twice in a quarter-hour would
# otherwise overflow, and the store would refuse every good row with it (issue 9's rule). For
# sums of non-negative values saturation is exact in any order (min(min(a, M) + b, M) equals
# min(a + b, M)), so incremental rollups still equal a rebuild.
BIGINT_MAX = 2**63 - 1


def _saturated(value: int) -> int:
    return max(-BIGINT_MAX, min(value, BIGINT_MAX))


_MENTION_KEY = ("brand_id", "span", "bucket_start", "source_id", "platform", "label", "language")
_AUTHOR_KEY = ("brand_id", "span", "bucket_start", "source_id", "author_id")
_TERM_KEY = ("brand_id", "span", "bucket_start", "source_id", "term")


def bucket_floor(moment: datetime) -> datetime:
    """The UTC quarter-hour that holds moment (aware)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def day_floor(moment: datetime) -> datetime:
    """The UTC midnight at or before moment (aware)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def day_ceil(moment: datetime) -> datetime:
    """The UTC midnight at or after moment (aware)."""
    floor = day_floor(moment)
    return floor if floor == moment else floor + _DAY


def asks_about_buying(text: str) -> bool:
    """Whether a mention's text asks about buying (BUYING_WORDS)."""
    if text.isascii():
        return _BUYING_LOWER_RE.search(text.lower()) is not None
    return _BUYING_RE.search(text) is not None


def latest_key(published_at: datetime, label: str) -> int:
    """The number AuthorRollup.latest_key keeps for a mention: later is larger."""
    return (published_at - _EPOCH) // _MICROSECOND * 4 + _LABEL_CODE.get(label, 1)


def latest_label(key: int | None) -> str:
    """The effective label a latest_key carries ("" for none)."""
    if key is None or key == LATEST_NONE:
        return ""
    return _CODE_LABEL[key % 4]


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


# A rebuild writes its author and term cells every this many keys, once a UTC day is past.
REBUILD_WRITE_KEYS = 20_000


# --- Aggregating in Python, then one upsert per table -----------------------------------------


@dataclass(slots=True)
class _Fact:
    """One brand's mention, as the rollups see it."""

    brand_id: int
    published_at: datetime
    source_id: int
    platform: str
    label: str
    language: str
    author_id: int | None
    followers: int | None
    engagement: int
    buying: bool
    terms: list[str] | None  # None: leave TermRollup alone


# The values each rollup keeps, after its key: sums, then maxima.
_MENTION_SUMS, _AUTHOR_SUMS, _TERM_SUMS = 3, 4, 1  # author: mentions, positive, negative, buying


class _Totals:
    """A batch's additions, by quarter-hour; ``write`` adds the hour and day cells (each a
    sum, or a max, of the quarter-hours in it) and upserts all of them."""

    def __init__(self, *, mentions: bool = True) -> None:
        # mentions=False: author and term cells only (a PostgreSQL rebuild counts the
        # mention cells in SQL).
        self.keep_mentions = mentions
        self.mentions: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.authors: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, LATEST_NONE])
        self.terms: dict[tuple, list[int]] = defaultdict(lambda: [0])

    def add(self, fact: _Fact, sign: int = 1, *, authors: bool = True) -> None:
        bucket = bucket_floor(fact.published_at)
        reach = fact.followers or 0
        if self.keep_mentions:
            row = self.mentions[
                (
                    fact.brand_id,
                    QUARTER_HOUR,
                    bucket,
                    fact.source_id,
                    fact.platform,
                    fact.label,
                    fact.language,
                )
            ]
            row[0] += sign
            row[1] += sign * reach
            row[2] += sign * fact.engagement
        if authors and fact.author_id is not None:
            author = self.authors[
                (fact.brand_id, QUARTER_HOUR, bucket, fact.source_id, fact.author_id)
            ]
            author[0] += sign
            author[1] += sign * (fact.label == _POSITIVE)
            author[2] += sign * (fact.label == _NEGATIVE)
            author[3] += sign * fact.buying
            author[4] = max(author[4], reach)
            author[5] = max(author[5], latest_key(fact.published_at, fact.label))
        if fact.terms:
            for term in fact.terms:
                self.terms[(fact.brand_id, QUARTER_HOUR, bucket, fact.source_id, term)][0] += sign

    def __len__(self) -> int:
        return len(self.mentions) + len(self.authors) + len(self.terms)

    def _with_coarser(self) -> tuple[dict, dict, dict]:
        """The quarter-hour cells plus the hour and day cells that hold them."""
        out = []
        for name, spans, sums in (
            ("mentions", (HOUR, DAY), _MENTION_SUMS),
            ("authors", (DAY,), _AUTHOR_SUMS),
            ("terms", (DAY,), _TERM_SUMS),
        ):
            cells: dict[tuple, list[int]] = dict(getattr(self, name))
            for key, values in getattr(self, name).items():
                brand_id, _, start, *rest = key
                for span in spans:
                    coarse = (
                        start.replace(minute=0) if span == HOUR else start.replace(hour=0, minute=0)
                    )
                    target = cells.get((brand_id, span, coarse, *rest))
                    if target is None:
                        cells[(brand_id, span, coarse, *rest)] = list(values)
                        continue
                    for i, value in enumerate(values):
                        target[i] = target[i] + value if i < sums else max(target[i], value)
            out.append(cells)
        return out[0], out[1], out[2]

    def write(self, *, many: bool = False) -> None:
        """Upsert the cells. ``many``: one of many writes in one transaction (a rebuild)."""
        tables = self._with_coarser()
        if connection.vendor == "postgresql":
            _write_copy(tables, truncate=many)
        else:
            for (_, model, key, sums, maxes), rows in zip(_TABLES, tables, strict=True):
                _upsert(model, key, sums, maxes, rows)
        self.mentions.clear()
        self.authors.clear()
        self.terms.clear()


_TABLES = (
    ("mentions", MentionRollup, _MENTION_KEY, ("mentions", "reach", "engagement"), ()),
    (
        "authors",
        AuthorRollup,
        _AUTHOR_KEY,
        ("mentions", "positive", "negative", "buying"),
        ("reach_max", "latest_key"),
    ),
    ("terms", TermRollup, _TERM_KEY, ("mentions",), ()),
)


def _is_empty(values: list[int], sums: int) -> bool:
    # A row of zero sums that carries no maximum is nothing a rebuild would write.
    return not any(values[:sums]) and not any(v not in (0, LATEST_NONE) for v in values[sums:])


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
    ordered = sorted((k, v) for k, v in rows.items() if not _is_empty(v, len(sums)))
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
                params.extend(_saturated(v) for v in values[: len(sums)])
                params.extend(values[len(sums) :])
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608 (fixed names)
                f" VALUES {', '.join([placeholder] * len(chunk))}{conflict}",
                params,
            )


# One staging table for the three rollups: a row's kind says which; its key columns are named
# as in the rollup, its numbers are n1.. in the rollup's order (sums, then maxes).
_STAGING = "earshot_rollup_load2"
_STAGING_COLUMNS = (
    "kind smallint, brand_id bigint, span smallint, bucket_start timestamptz, source_id bigint,"
    " platform text, label text, language text, author_id bigint, term text, n1 bigint,"
    " n2 bigint, n3 bigint, n4 bigint, n5 bigint, n6 bigint"
)
_STAGING_KEY_AT = {"platform": 5, "label": 6, "language": 7, "author_id": 8, "term": 9}
_STAGING_NUMBERS = 6


@functools.cache
def _staging_insert_sql(truncate: bool) -> str:
    statements = []
    for kind, (_, model, key, sums, maxes) in enumerate(_TABLES):
        table = model._meta.db_table
        numbers = [f"n{i + 1}" for i in range(len(sums) + len(maxes))]
        statements.append(
            f"INSERT INTO {table} ({', '.join([*key, *sums, *maxes])})"  # noqa: S608
            f" SELECT {', '.join([*key, *numbers])} FROM {_STAGING} WHERE kind = {kind}"
            f" ORDER BY {', '.join(key)}{_conflict(table, key, sums, maxes)}"
        )
    # A batch's commit empties the table (ON COMMIT DELETE ROWS) and DELETE is the cheaper
    # way for one write. Many writes in one transaction (a rebuild) TRUNCATE instead: a
    # temporary table is never vacuumed, so each DELETE would leave its rows dead in the
    # table until the commit and every later write would read them all again (a 10-million
    # mention rebuild had a 1 GB staging table and slowed down write after write).
    statements.append(f"{'TRUNCATE' if truncate else 'DELETE FROM'} {_STAGING}")
    return "; ".join(statements)


def _write_copy(tables: tuple[dict, dict, dict], *, truncate: bool = False) -> None:
    """The upserts on PostgreSQL: one COPY of every key into a per-connection staging table,
    then one INSERT ... SELECT ... ON CONFLICT DO UPDATE per rollup, sent together: three
    round trips a batch. Faster than VALUES rows (or unnest arrays) from 50 keys to 10,000.
    The INSERTs take keys in key order, so two workers lock rows in the same order."""
    stamps: dict[datetime, str] = {}
    lines = []
    for kind, ((_, _, key, sums, _), rows) in enumerate(zip(_TABLES, tables, strict=True)):
        slots = [_STAGING_KEY_AT[c] for c in key[4:]]
        for k, values in rows.items():
            if _is_empty(values, len(sums)):
                continue
            stamp = stamps.get(k[2]) or stamps.setdefault(k[2], k[2].isoformat())
            row = [str(kind), str(k[0]), str(k[1]), stamp, str(k[3])] + ["\\N"] * 5
            for slot, value in zip(slots, k[4:], strict=True):
                row[slot] = _esc(value) if isinstance(value, str) else str(value)
            row.extend(str(_saturated(v)) for v in values[: len(sums)])
            row.extend(str(v) for v in values[len(sums) :])
            row.extend(["\\N"] * (_STAGING_NUMBERS - len(values)))
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
        cursor.execute(_staging_insert_sql(truncate))


def _engagement(likes: int | None, replies: int | None, reposts: int | None) -> int:
    return (likes or 0) + (replies or 0) + (reposts or 0)


def generations_bump(brand_ids: Iterable[int]) -> None:
    """Count one more change of these brands' author cells (RollupGeneration), in the
    caller's transaction: figures cached under the old number are never served again. One
    statement; brands in id order (two writers lock the rows in the same order). Writers
    call it last, so the row is held only until their commit."""
    ids = sorted(set(brand_ids))
    if not ids:
        return
    table = RollupGeneration._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (brand_id, generation)"  # noqa: S608 (fixed names)
            f" VALUES {', '.join(['(%s, 1)'] * len(ids))}"
            f" ON CONFLICT (brand_id) DO UPDATE SET generation = {table}.generation + 1",
            ids,
        )


def rollups_generation(brand_id: int) -> int:
    """The brand's RollupGeneration (0 before its first change)."""
    value = (
        RollupGeneration.objects.filter(brand_id=brand_id)
        .values_list("generation", flat=True)
        .first()
    )
    return value or 0


# --- Keeping them ---------------------------------------------------------------------------


def rollups_add(*, rows: Sequence[MentionRow], inserted: dict[str, int]) -> None:
    """Count the brand matches of the mentions just inserted (``inserted``: external id ->
    id, as listening.bulk.mentions_insert returns). Call inside the insert's transaction.
    Not idempotent (it adds): the caller passes only rows inserted now.

    PostgreSQL: one COPY of a line per brand match into a per-connection staging table, then
    one INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE per rollup, which counts
    every span's cells in the server (``_FACTS_SQL``): Python's share is the two rules only
    it knows (buying words, hashtags) and one line per match, not one per cell (a mention
    touches about ten cells). SQLite aggregates in Python (``_Totals``)."""
    if connection.vendor == "postgresql":
        touched = _facts_copy(rows, inserted)
    else:
        totals = _Totals()
        for row in rows:
            if row.external_id not in inserted:
                continue
            for fact in _facts_of(row):
                totals.add(fact)
        touched = {key[0] for key in totals.authors}
        totals.write()
    generations_bump(touched)


def _facts_of(row: MentionRow) -> Iterator[_Fact]:
    engagement = _engagement(row.like_count, row.reply_count, row.repost_count)
    buying = asks_about_buying(row.text)
    for brand_id, matched in row.matches:
        yield _Fact(
            brand_id=brand_id,
            published_at=row.published_at,
            source_id=row.source_id,
            platform=row.platform,
            label=row.label_for(brand_id),
            language=row.language,
            author_id=row.author_id,
            followers=row.author_followers,
            engagement=engagement,
            buying=buying,
            terms=mention_terms(matched, row.text),
        )


def _array_literal(values: Sequence[str]) -> str:
    """A PostgreSQL text[] literal, each element quoted (any character may be in a term)."""
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


# One row per brand match of a batch (PostgreSQL): what the three rollups count of it.
_FACTS = "earshot_rollup_facts"
_FACTS_COLUMNS = (
    "brand_id bigint, published_at timestamptz, source_id bigint, platform text, label text,"
    " language text, author_id bigint, reach bigint, engagement bigint, buying smallint,"
    " latest_key bigint, terms text[]"
)
_SPANS_SQL = {
    "mentions": f"(VALUES ({QUARTER_HOUR}, interval '15 minutes'), ({HOUR}, interval '1 hour'),"
    f" ({DAY}, interval '1 day'))",
    "authors": f"(VALUES ({QUARTER_HOUR}, interval '15 minutes'), ({DAY}, interval '1 day'))",
}


@functools.cache
def _facts_sql() -> str:
    """The three upserts from the staging table, then emptying it. Keys in key order (two
    workers lock the same rows in the same order); sums bounded as _saturated bounds them."""
    (
        (_, mention_model, mention_key, mention_sums, _),
        (
            _,
            author_model,
            author_key,
            author_sums,
            author_maxes,
        ),
        (_, term_model, term_key, term_sums, _),
    ) = _TABLES
    bucket = f"date_bin(s.width, f.published_at, {_ORIGIN})"
    bound = f"least(sum({{}}), {BIGINT_MAX})"
    statements = []
    for model, key, sums, maxes, values, source, spans in (
        (
            mention_model,
            mention_key,
            mention_sums,
            (),
            ["count(*)", bound.format("f.reach"), bound.format("f.engagement")],
            f"{_FACTS} f",
            _SPANS_SQL["mentions"],
        ),
        (
            author_model,
            author_key,
            author_sums,
            author_maxes,
            [
                "count(*)",
                f"count(*) FILTER (WHERE f.label = '{_POSITIVE}')",
                f"count(*) FILTER (WHERE f.label = '{_NEGATIVE}')",
                "sum(f.buying)",
                "max(f.reach)",
                "max(f.latest_key)",
            ],
            f"{_FACTS} f",
            _SPANS_SQL["authors"],
        ),
        (
            term_model,
            term_key,
            term_sums,
            (),
            ["count(*)"],
            f"{_FACTS} f CROSS JOIN LATERAL unnest(f.terms) AS t(term)",
            _SPANS_SQL["authors"],
        ),
    ):
        columns = {
            "brand_id": "f.brand_id",
            "span": "s.span",
            "bucket_start": bucket,
            "source_id": "f.source_id",
            "platform": "f.platform",
            "label": "f.label",
            "language": "f.language",
            "author_id": "f.author_id",
            "term": "t.term",
        }
        selected = [columns[c] for c in key]
        where = " WHERE f.author_id IS NOT NULL" if "author_id" in key else ""
        positions = ", ".join(str(i + 1) for i in range(len(key)))
        statements.append(
            f"INSERT INTO {model._meta.db_table} ({', '.join([*key, *sums, *maxes])})"  # noqa: S608
            f" SELECT {', '.join([*selected, *values])}"
            f" FROM {source} CROSS JOIN {spans} AS s(span, width){where}"
            f" GROUP BY {positions} ORDER BY {positions}"
            + _conflict(model._meta.db_table, key, sums, maxes)
        )
    statements.append(f"DELETE FROM {_FACTS}")  # noqa: S608 (fixed names)
    return "; ".join(statements)


def _facts_copy(rows: Sequence[MentionRow], inserted: dict[str, int]) -> set[int]:
    """Copy the batch's brand matches into the staging table and add them to the rollups
    (PostgreSQL). Returns the brands whose author cells changed."""
    lines = []
    touched: set[int] = set()
    for row in rows:
        if row.external_id not in inserted:
            continue
        label = row.effective_label
        author = "\\N" if row.author_id is None else row.author_id
        # A mention's fields, once for all of its brand matches; the label between them.
        before = f"{row.published_at.isoformat()}\t{row.source_id}\t{_esc(row.platform)}"
        after = (
            f"\t{_esc(row.language)}\t{author}"
            f"\t{_saturated(row.author_followers or 0)}"
            f"\t{_saturated(_engagement(row.like_count, row.reply_count, row.repost_count))}"
            f"\t{int(asks_about_buying(row.text))}"
        )
        common = f"{before}\t{label}{after}\t{latest_key(row.published_at, label)}"
        for brand_id, matched in row.matches:
            terms = mention_terms(matched, row.text)
            own = row.brand_labels.get(brand_id, label) if row.brand_labels else label
            if own == label:
                line = common
            else:
                # This brand's own learned model labelled it (listening.brand_scoring).
                line = f"{before}\t{own}{after}\t{latest_key(row.published_at, own)}"
            lines.append(f"{brand_id}\t{line}\t{_esc(_array_literal(terms))}")
            if row.author_id is not None:
                touched.add(brand_id)
    if not lines:
        return touched
    with connection.cursor() as cursor:
        # ON COMMIT DELETE ROWS: nothing outlives the batch's transaction, even on a crash.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_FACTS} ({_FACTS_COLUMNS}) ON COMMIT DELETE ROWS"
        )
        cursor.cursor.copy_expert(f"COPY {_FACTS} FROM STDIN", io.StringIO("\n".join(lines) + "\n"))
        cursor.execute(_facts_sql())
    return touched


def rollups_label_change(*, match_id: int, before: str, after: str) -> None:
    """Move one brand match from effective label ``before`` to ``after``: its count, reach
    and engagement in MentionRollup (at every span), and recount its author's AuthorRollup
    cells (positive, negative and the latest label may all change). Call in the transaction
    that changes MentionMatch.label, once per change (not idempotent). Rows left at zero are
    deleted, as a rebuild would not have them."""
    rollups_labels_change(changes=[(match_id, before, after)])


def rollups_labels_change(*, changes: Sequence[tuple[int, str, str]]) -> None:
    """The batch form of rollups_label_change, for a brand's mentions relabelled in bulk
    (engagement.learning's rescoring): each (match id, before, after) moves that match's
    count, reach and engagement between labels in MentionRollup (every span), and the
    AuthorRollup cells of the authors, sources and UTC days of the batch are counted again
    from the stored rows. Call in the transaction that changes the labels, once per change
    (not idempotent). A fixed number of statements whatever the batch's size: one read of
    the matches, one upsert and one delete of mention cells per table, and per brand one
    delete, one read and one upsert of author cells."""
    moves = {match_id: (before, after) for match_id, before, after in changes if before != after}
    if not moves:
        return
    rows = MentionMatch.objects.filter(pk__in=list(moves)).values_list(
        "pk",
        "brand_id",
        "published_at",
        "mention__source_id",
        "mention__platform",
        "mention__language",
        "mention__author_id",
        "mention__author_followers",
        "mention__like_count",
        "mention__reply_count",
        "mention__repost_count",
    )
    totals = _Totals()
    starts: dict[int, set[datetime]] = defaultdict(set)
    # brand -> (sources, authors, UTC days) whose author cells are counted again
    authored: dict[int, tuple[set[int], set[int], set[datetime]]] = {}
    for pk, brand_id, published_at, source_id, platform, language, author_id, *rest in rows:
        followers, *counts = rest
        before, after = moves[pk]
        fact = _Fact(
            brand_id=brand_id,
            published_at=published_at,
            source_id=source_id,
            platform=platform,
            label=before,
            language=language,
            author_id=author_id,
            followers=followers,
            engagement=_engagement(*counts),
            buying=False,
            terms=None,
        )
        totals.add(fact, -1, authors=False)
        fact.label = after
        totals.add(fact, 1, authors=False)
        quarter = bucket_floor(published_at)
        starts[brand_id].update((quarter, quarter.replace(minute=0), day_floor(quarter)))
        if author_id is not None:
            sources, authors, days = authored.setdefault(brand_id, (set(), set(), set()))
            sources.add(source_id)
            authors.add(author_id)
            days.add(day_floor(published_at))
    totals.write()
    for brand_id, cell_starts in starts.items():
        # Rows left at zero, as a rebuild would not have them (a superset of the cells
        # touched: no other cell of the brand can be at zero).
        MentionRollup.objects.filter(
            brand_id=brand_id, bucket_start__in=sorted(cell_starts), mentions__lte=0
        ).delete()
    for brand_id, (sources, authors, days) in authored.items():
        _author_cells_recount_many(brand_id, sources, authors, days)
    generations_bump(authored)


def _day_ranges(days: Iterable[datetime], field: str) -> Q:
    """``field`` within any of the UTC days, consecutive days joined into one range."""
    q = Q()
    ordered = sorted(days)
    start = previous = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day == previous + _DAY:
            previous = day
            continue
        q |= Q(**{f"{field}__gte": start, f"{field}__lt": previous + _DAY})
        if day is not None:
            start = previous = day
    return q


def _author_cells_recount_many(
    brand_id: int, sources: set[int], authors: set[int], days: set[datetime]
) -> None:
    """Recount the brand's author cells (quarter-hours and days) of every source in
    ``sources`` x author in ``authors`` x UTC day in ``days``: the cells deleted and the rows
    counted are the same set, so the recount is exact even where it covers more than the
    batch changed."""
    AuthorRollup.objects.filter(
        _day_ranges(days, "bucket_start"),
        brand_id=brand_id,
        span__in=(QUARTER_HOUR, DAY),
        source_id__in=sorted(sources),
        author_id__in=sorted(authors),
    ).delete()
    rows = MentionMatch.objects.filter(
        _day_ranges(days, "published_at"),
        brand_id=brand_id,
        mention__source_id__in=sorted(sources),
        mention__author_id__in=sorted(authors),
    ).values_list(
        "published_at",
        "label",
        "mention__source_id",
        "mention__author_id",
        "mention__author_followers",
        "mention__text",
    )
    totals = _Totals()
    for moment, label, source_id, author_id, followers, text in rows:
        totals.add(
            _Fact(
                brand_id=brand_id,
                published_at=moment,
                source_id=source_id,
                platform="",
                label=label,
                language="",
                author_id=author_id,
                followers=followers,
                engagement=0,
                buying=asks_about_buying(text),
                terms=None,
            )
        )
    totals.mentions.clear()  # only the author cells are recounted here
    totals.write()


def mentions_delete(*, mention_ids: Sequence[int]) -> int:
    """Delete mentions (with their matches, cases' links and so on, by CASCADE) and recount
    the rollups of the UTC days they were in. Idempotent (a mention already gone is
    skipped). Returns how many mentions were deleted. Touches Mention and what cascades from
    it, and the three rollup tables for the affected brands and days."""
    with transaction.atomic():
        # As in a rebuild: a concurrent batch must not add to a day between its recount's
        # delete and insert.
        _lock_matches()
        affected = list(
            MentionMatch.objects.filter(mention_id__in=mention_ids).values_list(
                "brand_id", "published_at"
            )
        )
        deleted, _ = Mention.objects.filter(pk__in=mention_ids).delete()
        days: dict[int, set[datetime]] = defaultdict(set)
        for brand_id, published_at in affected:
            days[brand_id].add(day_floor(published_at))
        for brand_id, starts in days.items():
            for start in sorted(starts):
                _rebuild_range(brand_id, start, start + _DAY)
        generations_bump(days)
    return deleted


# --- Rebuilding from the source rows -----------------------------------------------------------


def rollups_rebuild(
    *,
    brand_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Recount one brand's rollups from MentionMatch and Mention, for the UTC days from
    ``since`` (floored to its UTC midnight) to ``until`` (raised to a UTC midnight,
    exclusive; both optional): a day cell is only ever recounted whole. One transaction;
    idempotent (the same rows every time). Returns how many brand matches were counted.
    ``on_progress(n)`` is called as each month's n matches are counted."""
    start = day_floor(since) if since else None
    end = day_ceil(until) if until else None
    with transaction.atomic():
        _lock_matches()
        first_last = MentionMatch.objects.filter(brand_id=brand_id)
        if start is not None:
            first_last = first_last.filter(published_at__gte=start)
        if end is not None:
            first_last = first_last.filter(published_at__lt=end)
        _delete_range(brand_id, start, end)
        generations_bump([brand_id])
        bounds = first_last.order_by("published_at").values_list("published_at", flat=True)
        first = bounds.first()
        if first is None:
            return 0
        last = bounds.last()
        counted = 0
        window = day_floor(first)
        while window <= last:
            window_end = min(window + timedelta(days=31), end or datetime.max.replace(tzinfo=UTC))
            n = _insert_range(brand_id, window, window_end)
            counted += n
            if on_progress is not None:
                on_progress(n)
            window = window_end
        return counted


def brands_missing_rollups() -> list[int]:
    """Brands with stored mentions and no rollups at all: after the upgrade that made the
    rollups (or restored mentions without them). One small query per brand."""
    from brands.models import Brand

    missing = []
    for brand_id in Brand.objects.order_by("pk").values_list("pk", flat=True):
        if (
            MentionMatch.objects.filter(brand_id=brand_id).exists()
            and not MentionRollup.objects.filter(brand_id=brand_id).exists()
        ):
            missing.append(brand_id)
    return missing


def _lock_matches() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Writers of MentionMatch (ingest, corrections, deletes) wait; readers do not.
            cursor.execute(f"LOCK TABLE {MentionMatch._meta.db_table} IN SHARE MODE")


def _rebuild_range(brand_id: int, start: datetime, end: datetime) -> None:
    _delete_range(brand_id, start, end)
    _insert_range(brand_id, start, end)


def _delete_range(brand_id: int, start: datetime | None, end: datetime | None) -> None:
    """Delete every cell of the brand that starts in [start, end) (UTC midnights)."""
    for model in (MentionRollup, AuthorRollup, TermRollup):
        qs = model.objects.filter(brand_id=brand_id)
        if start is not None:
            qs = qs.filter(bucket_start__gte=start)
        if end is not None:
            qs = qs.filter(bucket_start__lt=end)
        qs.delete()


def _insert_range(brand_id: int, start: datetime, end: datetime) -> int:
    """Count the brand's matches published in [start, end) (UTC midnights) into the
    rollups, which must hold nothing there yet. Returns how many matches were counted."""
    if connection.vendor == "postgresql":
        counted = _insert_range_sql(brand_id, start, end)
        _insert_range_python(brand_id, start, end, mentions=False)
        return counted
    return _insert_range_python(brand_id, start, end, mentions=True)


_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def _insert_range_sql(brand_id: int, start: datetime, end: datetime) -> int:
    """MentionRollup's cells of [start, end) in SQL: quarter-hours from the matches, then
    hours and days from those quarter-hours."""
    matches = MentionMatch._meta.db_table
    mentions = Mention._meta.db_table
    table = MentionRollup._meta.db_table
    params = [brand_id, start, end]
    columns = (
        "(brand_id, span, bucket_start, source_id, platform, label, language, mentions, reach,"
        " engagement)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} {columns}"  # noqa: S608 (fixed names)
            f" SELECT mm.brand_id, {QUARTER_HOUR},"
            f" date_bin('15 minutes', mm.published_at, {_ORIGIN}), m.source_id, m.platform,"
            " mm.label, m.language, count(*),"
            # sum(bigint) is numeric: bounded as the incremental path bounds it.
            f" least(coalesce(sum(m.author_followers), 0), {BIGINT_MAX}),"
            " least(coalesce(sum(coalesce(m.like_count, 0)::numeric"
            f" + coalesce(m.reply_count, 0) + coalesce(m.repost_count, 0)), 0), {BIGINT_MAX})"
            f" FROM {matches} mm JOIN {mentions} m ON m.id = mm.mention_id"
            " WHERE mm.brand_id = %s AND mm.published_at >= %s AND mm.published_at < %s"
            " GROUP BY 1, 2, 3, 4, 5, 6, 7",
            params,
        )
        for span, width in ((HOUR, "1 hour"), (DAY, "1 day")):
            cursor.execute(
                f"INSERT INTO {table} {columns}"  # noqa: S608 (fixed names)
                f" SELECT brand_id, {span}, date_bin('{width}', bucket_start, {_ORIGIN}),"
                " source_id, platform, label, language, sum(mentions),"
                f" least(sum(reach), {BIGINT_MAX}), least(sum(engagement), {BIGINT_MAX})"
                f" FROM {table} WHERE span = {QUARTER_HOUR} AND brand_id = %s"
                " AND bucket_start >= %s AND bucket_start < %s GROUP BY 1, 2, 3, 4, 5, 6, 7",
                params,
            )
        cursor.execute(
            f"SELECT coalesce(sum(mentions), 0) FROM {table}"  # noqa: S608
            f" WHERE span = {DAY} AND brand_id = %s AND bucket_start >= %s AND bucket_start < %s",
            params,
        )
        return int(cursor.fetchone()[0])


def _insert_range_python(brand_id: int, start: datetime, end: datetime, *, mentions: bool) -> int:
    """The author and term cells (they need Python's buying and hashtag rules), and on
    SQLite the mention cells too, streamed through _Totals: written every few thousand keys
    once a day is past (the upserts add, so where the writes fall does not change a row)."""
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
            "mention__language",
            "mention__author_id",
            "mention__author_followers",
            "mention__like_count",
            "mention__reply_count",
            "mention__repost_count",
            "mention__text",
        )
    )
    totals = _Totals(mentions=mentions)
    counted = 0
    current = None
    for (
        published_at,
        label,
        matched,
        source_id,
        platform,
        language,
        author_id,
        followers,
        *rest,
    ) in rows.iterator(chunk_size=2000):
        *counts, text = rest
        day = day_floor(published_at)
        if day != current and len(totals) >= REBUILD_WRITE_KEYS:
            totals.write(many=True)
        current = day
        totals.add(
            _Fact(
                brand_id=brand_id,
                published_at=published_at,
                source_id=source_id,
                platform=platform,
                label=label,
                language=language,
                author_id=author_id,
                followers=followers,
                engagement=_engagement(*counts),
                buying=asks_about_buying(text),
                terms=mention_terms(matched or [], text),
            )
        )
        counted += 1
    totals.write(many=True)
    return counted


# --- Reading them (the dashboard's selectors build on these) -----------------------------------

Range = tuple[datetime, datetime]


def _on_grid(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    if moment != bucket_floor(moment):
        raise ValueError(f"{moment.isoformat()} is not on a UTC quarter-hour")
    return moment


def _nearest_midnight(moment: datetime) -> datetime:
    floor = day_floor(moment)
    return floor if moment - floor <= timedelta(hours=12) else floor + _DAY


def _small_cells(lo: datetime, hi: datetime, *, hours: bool) -> list[tuple[int, datetime]]:
    """The hours and quarter-hours (or quarter-hours only) that tile [lo, hi) (quarter-hour
    bounds, under a day)."""
    cells = []
    first_hour = lo if lo.minute == 0 else lo.replace(minute=0) + _HOUR
    last_hour = hi.replace(minute=0)
    if not hours or first_hour >= last_hour:
        moment = lo
        while moment < hi:
            cells.append((QUARTER_HOUR, moment))
            moment += BUCKET
        return cells
    moment = lo
    while moment < first_hour:
        cells.append((QUARTER_HOUR, moment))
        moment += BUCKET
    while moment < last_hour:
        cells.append((HOUR, moment))
        moment += _HOUR
    while moment < hi:
        cells.append((QUARTER_HOUR, moment))
        moment += BUCKET
    return cells


@dataclass(slots=True)
class _SumPlan:
    """Which cells to read and how to add them up into each range's sum.

    For [a, b), with A and B the UTC midnights nearest to a and b:

        sum[a, b) = sum of days [A, B) + fragment(b) - fragment(a)

    where fragment(t) is sum[A, t) when t is after its midnight A and -sum[t, A) when
    before: 12 hours at most, tiled by hours and at most 3 quarter-hours at each end. Each
    day run and each fragment is a *part*, summed once in SQL; adjacent ranges (a chart's
    buckets) share their boundary's fragment. Exact for sums only."""

    cells: dict[tuple[int, datetime], list[tuple[int, int]]]  # (span, start) -> (part, sign)
    ranges: list[list[tuple[int, int]]]  # per range: (part, sign)
    _arrays: list[str] | None = None

    def arrays(self) -> list[str]:
        """The cells as four PostgreSQL array literals (span, quarter-hour number, part,
        sign), one element per (cell, part), made once per plan."""
        if self._arrays is None:
            spans, quarters, parts, signs = [], [], [], []
            for (span, start), uses in self.cells.items():
                quarter = (start - _EPOCH) // BUCKET  # integers parse far faster than dates
                for part, sign in uses:
                    spans.append(span)
                    quarters.append(quarter)
                    parts.append(part)
                    signs.append(sign)
            # Each array goes as one text literal ('{1,2,...}'): psycopg2 would spell a list
            # out as ARRAY[1, 2, ...], thousands of constants that took longer to parse than
            # to run.
            self._arrays = [
                "{" + ",".join(map(str, values)) + "}" for values in (spans, quarters, parts, signs)
            ]
        return self._arrays


def _sum_plan(ranges: Sequence[Range], *, hours: bool = True) -> _SumPlan:
    """The plan of ``ranges``; a pure function of them, kept for the last few dozen sets of
    ranges asked for (a page asks for the same buckets in several queries, and so does the
    next load of the page): a 90-day chart's plan is a few hundred cells and fragments."""
    return _sum_plan_of(tuple(ranges), hours)


@functools.lru_cache(maxsize=64)
def _sum_plan_of(ranges: tuple[Range, ...], hours: bool) -> _SumPlan:
    cells: dict[tuple[int, datetime], list[tuple[int, int]]] = defaultdict(list)
    fragments: dict[datetime, int] = {}
    plan = _SumPlan(cells=cells, ranges=[])
    part_count = 0

    def fragment(end: datetime) -> int:
        nonlocal part_count
        if end in fragments:
            return fragments[end]
        part = fragments[end] = part_count
        part_count += 1
        midnight = _nearest_midnight(end)
        if end >= midnight:
            pieces, sign = _small_cells(midnight, end, hours=hours), 1
        else:
            pieces, sign = _small_cells(end, midnight, hours=hours), -1
        for cell in pieces:
            cells[cell].append((part, sign))
        return part

    for lo, hi in ranges:
        lo, hi = _on_grid(lo), _on_grid(hi)
        if hi <= lo:
            plan.ranges.append([])
            continue
        days = part_count
        part_count += 1
        day, last = _nearest_midnight(lo), _nearest_midnight(hi)
        while day < last:
            cells[(DAY, day)].append((days, 1))
            day += _DAY
        plan.ranges.append([(days, 1), (fragment(hi), 1), (fragment(lo), -1)])
    plan.cells = dict(cells)  # shared by later callers: no more keys made by reading it
    return plan


def _combine(plan: _SumPlan, parts: dict[tuple, list[int]], width: int) -> dict[tuple, list[int]]:
    """Each range's sums from its parts' sums ({(part, *keys): sums})."""
    by_part: dict[int, list[tuple[tuple, list[int]]]] = defaultdict(list)
    for (part, *keys), sums in parts.items():
        by_part[part].append((tuple(keys), sums))
    out: dict[tuple, list[int]] = {}
    for index, uses in enumerate(plan.ranges):
        for part, sign in uses:
            for keys, sums in by_part.get(part, ()):
                target = out.setdefault((index, *keys), [0] * width)
                for i, value in enumerate(sums):
                    target[i] += sign * value
    return out


def _cells_q(cells: Iterable[tuple[int, datetime]]) -> Q:
    """A filter for exactly these cells: a range for the days (they come in runs), lists for
    the rest."""
    by_span: dict[int, list[datetime]] = defaultdict(list)
    for span, start in cells:
        by_span[span].append(start)
    conditions = [Q(span=span, bucket_start__in=sorted(starts)) for span, starts in by_span.items()]
    return functools.reduce(operator.or_, conditions)


def _signed_sums(
    model: Any,
    *,
    filters: Q,
    ranges: Sequence[Range],
    by: Sequence[str],
    values: Sequence[str],
) -> dict[tuple, list[int]]:
    """Per range index and ``by`` columns: the sums of ``values`` over each range, read
    from ``model``'s cells as _sum_plan says. PostgreSQL joins the signed cells (passed as
    arrays) to the rollup and sums each part in SQL: the rows returned grow with ranges x
    facets, not with mentions. SQLite sums the fetched cells in Python."""
    # TermRollup keeps no hours (terms are many, and read over a few ranges only).
    plan = _sum_plan(ranges, hours=model is not TermRollup)
    if not plan.cells:
        return {}
    if connection.vendor == "postgresql":
        parts = _part_sums_sql(model, filters=filters, plan=plan, by=by, values=values)
    else:
        parts = {}
        rows = (
            model.objects.filter(filters)
            .filter(_cells_q(plan.cells))
            .values_list("span", "bucket_start", *by, *values)
        )
        for span, start, *rest in rows.iterator():
            keys, numbers = rest[: len(by)], rest[len(by) :]
            for part, sign in plan.cells.get((span, start.astimezone(UTC)), ()):
                target = parts.setdefault((part, *keys), [0] * len(values))
                for i, number in enumerate(numbers):
                    target[i] += sign * (number or 0)
    return _combine(plan, parts, len(values))


def _part_sums_sql(
    model: Any, *, filters: Q, plan: _SumPlan, by: Sequence[str], values: Sequence[str]
) -> dict[tuple, list[int]]:
    # The rollup's own rows, filtered by the ORM (brand, source, ...), joined to the cells.
    inner = model.objects.filter(filters).values_list("span", "bucket_start", *by, *values)
    inner_sql, inner_params = inner.query.sql_with_params()
    names = [f"r{i}" for i in range(2 + len(by) + len(values))]
    keys = []
    for name, column in zip(names[2:], by, strict=False):
        field = model._meta.get_field(column.removesuffix("_id"))
        # Byte order groups text without the locale's collation (a sort ten times as slow).
        keys.append(
            f'r.{name} COLLATE "C"' if field.get_internal_type() == "CharField" else f"r.{name}"
        )
    sums = ", ".join(f"sum(c.sign * r.{n})" for n in names[2 + len(by) :])
    grouped = ", ".join(["c.part", *keys])
    sql = (
        f"SELECT {grouped}, {sums}"  # noqa: S608 (fixed names and the ORM's own SQL)
        " FROM (SELECT u.span, to_timestamp(u.quarter * 900) AS start, u.part, u.sign"
        " FROM unnest(%s::smallint[], %s::bigint[], %s::int[], %s::smallint[])"
        " AS u(span, quarter, part, sign)) AS c"
        f" CROSS JOIN LATERAL (SELECT * FROM ({inner_sql}) AS q ({', '.join(names)})"
        f" WHERE q.{names[0]} = c.span AND q.{names[1]} = c.start) AS r"
        f" GROUP BY {grouped}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*plan.arrays(), *inner_params])
        return {
            (row[0], *row[1 : 1 + len(by)]): [int(v or 0) for v in row[1 + len(by) :]]
            for row in cursor.fetchall()
        }


def mention_sums(
    *,
    brand_ids: Sequence[int],
    ranges: Sequence[Range],
    by: Sequence[str] = ("label",),
    source_ids: Sequence[int] | None = None,
    platforms: Sequence[str] | None = None,
    caught_by: int | None = None,
) -> dict[tuple, list[int]]:
    """Mentions, reach and engagement of each range (UTC instants on quarter-hours), split by
    ``by`` (MentionRollup columns: brand_id, label, platform, source_id, language):
    {(range index, *by values): [mentions, reach, engagement]}, absent when nothing counted.
    ``caught_by``: only what that brand's own sources fetched."""
    if not brand_ids:
        return {}
    filters = Q(brand_id__in=list(brand_ids))
    if source_ids is not None:
        filters &= Q(source_id__in=list(source_ids))
    if platforms is not None:
        filters &= Q(platform__in=list(platforms))
    if caught_by is not None:
        filters &= Q(source__brand_id=caught_by)
    sums = _signed_sums(
        MentionRollup,
        filters=filters,
        ranges=ranges,
        by=by,
        values=("mentions", "reach", "engagement"),
    )
    # A cell pair that cancels out (nothing counted) is no figure.
    return {key: value for key, value in sums.items() if any(value)}


def term_sums(
    *,
    brand_ids: Sequence[int],
    ranges: Sequence[Range],
    terms: Iterable[str] | None = None,
    hashtags_only: bool = False,
) -> dict[tuple[int, str], int]:
    """How many mentions carry each term in each range: {(range index, term): n > 0}."""
    filters = Q(brand_id__in=list(brand_ids))
    if terms is not None:
        filters &= Q(term__in=list(terms))
    if hashtags_only:
        filters &= Q(term__startswith="#")
    sums = _signed_sums(
        TermRollup, filters=filters, ranges=ranges, by=("term",), values=("mentions",)
    )
    return {key: value[0] for key, value in sums.items() if value[0] > 0}


def author_cells_q(lo: datetime, hi: datetime) -> Q:
    """AuthorRollup cells that cover [lo, hi) exactly once: the UTC days inside it, and the
    quarter-hours of the partial days at its ends."""
    lo, hi = _on_grid(lo), _on_grid(hi)
    first, last = day_ceil(lo), day_floor(hi)
    if first >= last:
        return Q(span=QUARTER_HOUR, bucket_start__gte=lo, bucket_start__lt=hi)
    condition = Q(span=DAY, bucket_start__gte=first, bucket_start__lt=last)
    if lo < first:
        condition |= Q(span=QUARTER_HOUR, bucket_start__gte=lo, bucket_start__lt=first)
    if last < hi:
        condition |= Q(span=QUARTER_HOUR, bucket_start__gte=last, bucket_start__lt=hi)
    return condition


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


def local_buckets(
    since: datetime, until: datetime, bucket: str, tz: ZoneInfo
) -> list[tuple[date, datetime, datetime]]:
    """The local day/week/month buckets of [since, until) (local midnights): (first local
    day of the bucket, UTC start, UTC end), the first and last cut to the range."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, not {bucket!r}")
    out = []
    day = since.astimezone(tz).date()
    last_day = (until.astimezone(tz) - timedelta(microseconds=1)).date()
    start = since
    while day <= last_day:
        label = bucket_label(day, bucket)
        if bucket == "day":
            following = day + timedelta(days=1)
        elif bucket == "week":
            following = label + timedelta(days=7)
        else:
            following = (label + timedelta(days=32)).replace(day=1)
        end = min(local_range(following, following, tz)[0], until)
        out.append((label, start, end))
        start, day = end, following
    return out


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
    split by label, platform, source or brand (or not: by=None), from MentionRollup only
    (mention_sums: day cells plus the short stretches to each local midnight). Weeks start
    on Monday (ISO). Sorted by bucket, then key. Empty buckets are absent: the caller fills
    its axis from ``local_range``."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, not {bucket!r}")
    if by is not None and by not in BY_COLUMNS:
        raise ValueError(f"by must be one of {tuple(BY_COLUMNS)} or None, not {by!r}")
    if not brand_ids:
        return []
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    lo, hi = local_range(start, end, zone)
    buckets = local_buckets(lo, hi, bucket, zone)
    sums = mention_sums(
        brand_ids=brand_ids,
        ranges=[(a, b) for _, a, b in buckets],
        by=[BY_COLUMNS[by]] if by else [],
        source_ids=source_ids,
        platforms=platforms,
    )
    points = [
        SeriesPoint(buckets[key[0]][0], key[1] if by else None, *values)
        for key, values in sums.items()
    ]
    points.sort(key=lambda p: (p.bucket, "" if p.key is None else str(p.key)))
    return points


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
    return authors_top_between(brand_ids=brand_ids, since=lo, until=hi, order=order, limit=limit)


def authors_top_between(
    *,
    brand_ids: Sequence[int],
    since: datetime,
    until: datetime,
    order: str = "mentions",
    limit: int = 20,
) -> list[AuthorTotal]:
    """authors_top for [since, until) (UTC instants on quarter-hours)."""
    rows = (
        AuthorRollup.objects.filter(author_cells_q(since, until), brand_id__in=list(brand_ids))
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
    counts = term_sums(brand_ids=brand_ids, ranges=[(lo, hi)], hashtags_only=hashtags_only)
    ranked = sorted(((term, n) for (_, term), n in counts.items()), key=lambda t: (-t[1], t[0]))
    return ranked[:limit]
