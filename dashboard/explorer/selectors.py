"""Reads of the mention explorer. Access is decided in brands/permissions.py (the view asks
before it calls these); these only fetch, with every join the page and the export need.

Indexes (dashboard/migrations/0001_explorer_indexes.py adds the ones listening lacked), by the
filter that needs them:

- brand, newest/oldest, since/until: ``match_brand_pub_idx`` (brand, -published_at);
- label: ``match_brand_label_idx`` (brand, label, -published_at);
- term: ``explorer_match_terms_gin`` (GIN over matched_terms, jsonb_path_ops: ``@>``);
- q: ``mentionsearch_document_gin`` (GIN over each mention's stored document, kept behind
  ingest; mentions not indexed yet are parsed on the fly: listening/search.py);
- platform, lang: ``explorer_mention_platform_idx`` / ``explorer_mention_lang_idx``;
- source: ``mention_source_pub_idx``; author: ``explorer_author_handle_idx`` for the handle,
  then the author foreign key's index;
- sort by reach / engagement: ``explorer_mention_reach_idx`` /
  ``explorer_mention_engagement_idx`` (walked from the top, probing match_unique_brand);
- has_case: ``casemention_unique`` (mention, brand) answers each EXISTS with one probe.

Measured at a million mentions (3 brands, 1.4 per minute each over 8 months; page through
Django's test client): default page 25 ms, a rare or absent word 9-12 ms, a common word 43 ms,
two common words 67 ms, a phrase of two common words 144 ms, reach / engagement sorts 30-45
ms. The slowest case is a combination of filters that matches nothing although each filter
alone matches much (PostgreSQL walks the brand's rows testing each): 170 ms there. Since the
search documents live in MentionSearch (a walk probes each row's stored document instead of
parsing its text), bench/dashboard.py at a million: common word p95 75 ms, rare word 30 ms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import (
    BooleanField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from brands.models import Brand
from dashboard.explorer.forms import Cursor
from engagement.models import CaseMention
from listening.models import MentionMatch, Source
from listening.search import search_ids_sql, text_search_sql

PAGE_SIZE = 50
# A search matching at most this many mentions (all brands) is answered from their ids.
SEARCH_CANDIDATES_MAX = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What the page and listening/exports.py's record read, and nothing else: sources carry
# configuration and cursors, and 50 wide rows cost more to build than to fetch.
_COLUMNS = (
    "mention_id",
    "brand_id",
    "matched_terms",
    "published_at",
    "label",
    "brand__name",
    "mention__source_id",
    "mention__author_id",
    "mention__external_id",
    "mention__url",
    "mention__title",
    "mention__text",
    "mention__language",
    "mention__published_at",
    "mention__platform",
    "mention__author_followers",
    "mention__like_count",
    "mention__reply_count",
    "mention__repost_count",
    "mention__neg",
    "mention__neu",
    "mention__pos",
    "mention__compound",
    "mention__label",
    "mention__earshot_compound",
    "mention__earshot_label",
    "mention__scorer_name",
    "mention__source__name",
    "mention__source__url",
    "mention__source__kind",
    "mention__author__handle",
    "mention__author__display_name",
)


class TextSearch(Func):
    """The mention's text matches the query (websearch syntax), as listening.search spells
    it: its stored document through the GIN index, or its text parsed while it waits to be
    indexed. Arguments: the mention's id, its text, the query."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        compiled = [compiler.compile(expression) for expression in self.source_expressions]
        (id_sql, id_params), (text_sql, text_params), (query_sql, query_params) = compiled
        sql = text_search_sql(id_sql, text_sql, query_sql)
        # In text_search_sql's order: id, query, id, text, query.
        params = (*query_params, *id_params, *id_params, *text_params, *query_params)
        return sql, params


@dataclass(frozen=True)
class ExplorerFilters:
    """What the explorer shows; every field optional but the brands."""

    brand: Brand
    matched: Brand
    label: str = ""
    platform: str = ""
    source_id: int | None = None
    language: str = ""
    author: str = ""
    term: str = ""
    since: datetime | None = None
    until: datetime | None = None
    has_case: bool | None = None
    q: str = ""
    sort: str = "newest"

    @property
    def is_narrowed(self) -> bool:
        """Whether anything beyond the brands narrows the rows (for the empty state)."""
        return any(
            (
                self.label,
                self.platform,
                self.source_id,
                self.language,
                self.author,
                self.term,
                self.since,
                self.until,
                self.has_case is not None,
                self.q,
            )
        )


# Engagement is summed as numeric: three counts near 2^63 (outside.py's bound) would overflow
# bigint, and as this is also an index expression (dashboard/migrations/0002) PostgreSQL would
# refuse to store such a mention at all. The cast is written exactly as the index's.
_ENGAGEMENT_SUM = DecimalField(max_digits=30, decimal_places=0)


def _engagement():
    return ExpressionWrapper(
        Cast(Coalesce(F("mention__like_count"), Value(0)), output_field=_ENGAGEMENT_SUM)
        + Coalesce(F("mention__reply_count"), Value(0))
        + Coalesce(F("mention__repost_count"), Value(0)),
        output_field=_ENGAGEMENT_SUM,
    )


def _sort_key(sort: str):
    """(expression, descending) of a sort; the key of a time sort is published_at itself."""
    if sort == "reach":
        return Coalesce(F("mention__author_followers"), Value(0)), True
    if sort == "engagement":
        return _engagement(), True
    return F("published_at"), sort != "oldest"


def _brand_matches(f: ExplorerFilters) -> QuerySet[MentionMatch]:
    qs = MentionMatch.objects.filter(brand=f.matched)
    if f.matched.pk != f.brand.pk:
        # A competitor: only what the brand's own sources caught, never the competitor's own
        # workspace (which the user may not be a member of).
        qs = qs.filter(mention__source__brand=f.brand)
    return qs


def _text_condition(q: str):
    if connection.vendor == "postgresql":
        return TextSearch(F("mention_id"), F("mention__text"), Value(q))
    return Q(mention__text__icontains=q)


def search_candidates(*, filters: ExplorerFilters) -> list[int] | None:
    """The ids of every stored mention the search q matches, when there are at most
    SEARCH_CANDIDATES_MAX of them in all brands; None when there are more (or no q).

    Why: for "newest first, 51 rows", PostgreSQL likes to walk the brand's date index and test
    each row's text, which finds a common word at once but reads every row of the brand for
    a rare or absent one (0.7 s at a million mentions). Asked alone, the text condition goes
    through the GIN index (a few ms for a rare word); a short list then pins the page query
    to those rows (match_unique_brand probes). A common word overflows the list and keeps the
    walk, which finds 51 rows of it quickly. Mentions of every brand count towards the cap,
    as the mention table has no brand column (a word common elsewhere takes the walk).
    """
    if not filters.q or connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(search_ids_sql(SEARCH_CANDIDATES_MAX + 1), [filters.q, filters.q])
        ids = list(dict.fromkeys(mention_id for (mention_id,) in cursor.fetchall()))
    return ids if len(ids) <= SEARCH_CANDIDATES_MAX else None


def cursor_key(match: MentionMatch, sort: str) -> int:
    """The row's sort key as the integer a Cursor carries (microseconds for a time)."""
    if sort in ("reach", "engagement"):
        return int(match.sort_key)
    return (match.published_at - _EPOCH) // timedelta(microseconds=1)


def _key_value(cursor: Cursor, sort: str):
    if sort in ("reach", "engagement"):
        return cursor.key
    try:
        return _EPOCH + timedelta(microseconds=cursor.key)
    except OverflowError:
        return _EPOCH


def explorer_matches(
    *, filters: ExplorerFilters, mention_ids: list[int] | None = None
) -> QuerySet[MentionMatch]:
    """The matches the filters select, in the sort's order (ties by mention id), annotated with
    ``sort_key``, ``engagement`` and ``has_case``, with brand, mention, source and author
    joined (a page or a stream costs no query per row). Pure read.

    mention_ids, when given, are the only mentions the search q can match (search_candidates
    found them): the text condition is then that list instead.
    """
    f = filters
    qs = _brand_matches(f)
    if f.since is not None:
        qs = qs.filter(published_at__gte=f.since)
    if f.until is not None:
        qs = qs.filter(published_at__lt=f.until)
    if f.label:
        qs = qs.filter(label=f.label)
    if f.platform:
        qs = qs.filter(mention__platform=f.platform)
    if f.source_id is not None:
        qs = qs.filter(mention__source_id=f.source_id)
    if f.language:
        qs = qs.filter(mention__language=f.language)
    if f.author:
        qs = qs.filter(mention__author__handle=f.author)
    if f.term:
        if connection.vendor == "postgresql":
            qs = qs.filter(matched_terms__contains=[f.term])
        else:  # SQLite has no JSON containment: the quoted term inside the JSON text.
            qs = qs.filter(matched_terms__icontains=f'"{f.term}"')
    if f.q:
        if mention_ids is not None:
            qs = qs.filter(mention_id__in=mention_ids)
        else:
            qs = qs.filter(_text_condition(f.q))
    if f.matched.pk == f.brand.pk:
        in_case = CaseMention.objects.filter(mention_id=OuterRef("mention_id"), brand_id=f.brand.pk)
        qs = qs.annotate(has_case=Exists(in_case))
    else:
        # Cases are the workspace's own care. A competitor's cases, if it has a workspace
        # here, are its own business: never shown, never filtered on.
        qs = qs.annotate(has_case=Value(False, output_field=BooleanField()))
    if f.has_case is not None:
        qs = qs.filter(has_case=f.has_case)
    key, descending = _sort_key(f.sort)
    qs = qs.annotate(sort_key=key, engagement=_engagement())
    # Ties by mention id: unique among one brand's matches, and the mention table's own key,
    # so the reach and engagement indexes (mention columns, then id) give the whole order.
    order = ("-sort_key", "-mention_id") if descending else ("sort_key", "mention_id")
    return (
        qs.select_related("brand", "mention__source", "mention__author")
        .only(*_COLUMNS)
        .order_by(*order)
    )


def explorer_page(
    *, filters: ExplorerFilters, after: Cursor | None = None
) -> tuple[list[MentionMatch], Cursor | None]:
    """One page of explorer_matches after the cursor, and the cursor of the next page (None on
    the last page). Reads PAGE_SIZE + 1 rows to know whether there is a next page: no COUNT."""
    qs = explorer_matches(filters=filters, mention_ids=search_candidates(filters=filters))
    if after is not None:
        value = _key_value(after, filters.sort)
        _, descending = _sort_key(filters.sort)
        if descending:
            # The bound alone lets the index start at the cursor; the OR breaks the tie.
            qs = qs.filter(sort_key__lte=value).filter(
                Q(sort_key__lt=value) | Q(mention_id__lt=after.mention_id)
            )
        else:
            qs = qs.filter(sort_key__gte=value).filter(
                Q(sort_key__gt=value) | Q(mention_id__gt=after.mention_id)
            )
    rows = list(qs[: PAGE_SIZE + 1])
    if len(rows) <= PAGE_SIZE:
        return rows, None
    rows = rows[:PAGE_SIZE]
    last = rows[-1]
    return rows, Cursor(key=cursor_key(last, filters.sort), mention_id=last.mention_id)


def explorer_case_ids(*, matches: Iterable[MentionMatch], brand_id: int) -> dict[int, int]:
    """mention id -> case id of the brand, for the rows of one page (one query)."""
    mention_ids = [m.mention_id for m in matches]
    if not mention_ids:
        return {}
    return dict(
        CaseMention.objects.filter(brand_id=brand_id, mention_id__in=mention_ids).values_list(
            "mention_id", "case_id"
        )
    )


def brand_has_matches(*, brand: Brand, matched: Brand) -> bool:
    """Whether the brand has any mention of matched at all (the empty state's question)."""
    qs = MentionMatch.objects.filter(brand=matched)
    if matched.pk != brand.pk:
        qs = qs.filter(mention__source__brand=brand)
    return qs.exists()


def brand_sources(*, brand: Brand) -> QuerySet[Source]:
    """The brand's sources, for the source filter."""
    return Source.objects.filter(brand=brand).order_by("name", "id")


def brand_competitors(*, brand: Brand) -> list[Brand]:
    return list(brand.competitors.order_by("name"))
