"""Reads for the dashboard. Access is decided in brands/permissions.py; these only fetch."""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Func,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models import Case as SqlCase
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from brands.models import Brand, handle_normalise
from dashboard.conversions import conversion_counts
from engagement.models import AuthorStanding, CareSettings, Case, SentimentCorrection
from engagement.selectors.care_report import (
    CareFigures,
    care_cases_in_period,
    care_figures,
    care_figures_by_bucket,
)
from listening.models import (
    Author,
    AuthorRollup,
    MentionMatch,
    Source,
)
from listening.rollups import (
    LATEST_POSITIVE_CODE,
    author_cells_q,
    authors_top_between,
    latest_label,
    local_buckets,
    mention_sums,
    rollups_generation,
    term_sums,
)


def brand_get(*, brand_id: int) -> Brand:
    return Brand.objects.get(pk=brand_id)


def brand_with_competitors(*, brand_id: int) -> tuple[Brand, list[Brand]]:
    """The brand and the competitors it watches (their matches come from its own sources)."""
    brand = Brand.objects.get(pk=brand_id)
    return brand, list(brand.competitors.order_by("name"))


def brand_matches_filtered(
    *,
    brand: Brand,
    matched_brand: Brand | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    label: str = "",
    kind: str = "",
    platform: str = "",
    text: str = "",
) -> QuerySet[MentionMatch]:
    """A brand's mentions, newest first, as MentionMatch rows with mention, source, author.

    matched_brand None or brand itself: everything that matched the brand's query, wherever
    it was fetched (match_brand_pub_idx, match_brand_label_idx with a label). A competitor:
    only what the brand's own sources caught of it, never the competitor's own workspace.
    """
    qs = MentionMatch.objects.filter(brand=matched_brand or brand)
    if matched_brand is not None and matched_brand.pk != brand.pk:
        qs = qs.filter(mention__source__brand=brand)
    if since is not None:
        qs = qs.filter(published_at__gte=since)
    if until is not None:
        qs = qs.filter(published_at__lt=until)
    if label:
        qs = qs.filter(label=label)
    if kind:
        qs = qs.filter(mention__source__kind=kind)
    if platform:
        qs = qs.filter(mention__platform__iexact=platform)
    if text:
        # A sequential scan within the brand's rows; fine at our sizes, a trigram index if not.
        qs = qs.filter(mention__text__icontains=text)
    return qs.select_related("brand", "mention__source", "mention__author").order_by(
        "-published_at", "-id"
    )


def brand_corrections_for_export(*, brand: Brand) -> QuerySet[SentimentCorrection]:
    """A brand's sentiment corrections, newest first (correction_brand_idx)."""
    return (
        SentimentCorrection.objects.filter(brand=brand)
        .select_related("mention", "user")
        .order_by("-created_at", "-id")
    )


def brand_summaries(*, brand_ids: list[int], since: datetime) -> list[dict]:
    """Per brand: mention counts by label since a moment, and the number of corrections.

    Three queries whatever the number of brands (match_brand_label_idx for the counts).
    """
    brands = list(Brand.objects.filter(pk__in=brand_ids).order_by("name"))
    by_label: dict[int, dict[str, int]] = {}
    rows = (
        MentionMatch.objects.filter(brand_id__in=brand_ids, published_at__gte=since)
        .values_list("brand_id", "label")
        .annotate(n=Count("id"))
        .order_by()
    )
    for brand_id, label, n in rows:
        by_label.setdefault(brand_id, {})[label] = n
    corrections = dict(
        SentimentCorrection.objects.filter(brand_id__in=brand_ids)
        .values_list("brand_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    summaries = []
    for brand in brands:
        labels = by_label.get(brand.pk, {})
        summaries.append(
            {
                "brand": brand,
                "positive": labels.get("positive", 0),
                "neutral": labels.get("neutral", 0),
                "negative": labels.get("negative", 0),
                "total": sum(labels.values()),
                "corrections": corrections.get(brand.pk, 0),
            }
        )
    return summaries


# --- the charted pages (issue 12) ---------------------------------------------------------------
#
# Every chart figure comes from the rollups (listening.models.MentionRollup, AuthorRollup,
# TermRollup, kept by listening/rollups.py on ingest, corrections and deletes), never from a
# scan of mentions. A local midnight in any zone is a quarter-hour boundary in UTC, so
# [since, until) at local midnights is an exact sum of UTC cells (listening.rollups explains
# which), and the rows read grow with the buckets, not with the mentions.


@dataclass(frozen=True, slots=True)
class MentionFact:
    """Mentions of one brand in one local bucket, with one label, platform, source and
    language: how many, their reach (author followers at the time of each mention, unknown
    = 0) and engagement (likes + replies + reposts, unknown = 0)."""

    brand_id: int
    bucket: date
    label: str
    platform: str
    source_id: int
    mentions: int
    reach: int
    engagement: int
    language: str = ""


_FACT_COLUMNS = ("brand_id", "label", "platform", "source_id", "language")


def mention_facts(
    *,
    brand_ids: list[int],
    since: datetime,
    until: datetime,
    bucket: str,
    tz: tzinfo,
    caught_by: int | None = None,
) -> list[MentionFact]:
    """The brands' mentions published in [since, until) (local midnights), grouped by local
    ``bucket`` (day, week starting Monday, month in ``tz``), label (the effective one: a
    correction moves it), platform, source and language. ``caught_by``: only mentions
    fetched by that brand's own sources (share of voice compares a brand and its competitors
    on the same sources).

    One query over the rollups; its rows grow with buckets x facets, not with mentions.
    """
    buckets = local_buckets(since, until, bucket, tz)
    sums = mention_sums(
        brand_ids=brand_ids,
        ranges=[(start, end) for _, start, end in buckets],
        by=_FACT_COLUMNS,
        caught_by=caught_by,
    )
    return [
        MentionFact(
            brand_id=brand_id,
            bucket=buckets[index][0],
            label=label,
            platform=platform or "",
            source_id=source_id,
            mentions=n,
            reach=reach,
            engagement=engagement,
            language=language or "",
        )
        for (index, brand_id, label, platform, source_id, language), (
            n,
            reach,
            engagement,
        ) in sums.items()
    ]


@dataclass(frozen=True, slots=True)
class MentionTotals:
    mentions: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    reach: int = 0
    engagement: int = 0
    # Mentions Earshot did not score (their language): in ``mentions`` and ``reach``, never
    # in a sentiment share.
    unscored: int = 0

    @property
    def net_sentiment(self) -> float | None:
        """(positive - negative) / scored, as a percentage; None when nothing was scored.
        Scored = positive + neutral + negative: unscored mentions are left out."""
        scored = self.positive + self.neutral + self.negative
        if not scored:
            return None
        return round(100 * (self.positive - self.negative) / scored, 1)


def daily_mentions(
    *, brand_id: int, since: datetime, until: datetime, tz: tzinfo
) -> dict[date, tuple[int, int]]:
    """Per local day of [since, until) (local midnights): (mentions, negative mentions), the
    spike rule's input. One query over the rollups, by label only."""
    buckets = local_buckets(since, until, "day", tz)
    sums = mention_sums(
        brand_ids=[brand_id], ranges=[(start, end) for _, start, end in buckets], by=("label",)
    )
    daily: dict[date, tuple[int, int]] = {}
    for (index, label), (n, _, _) in sums.items():
        mentions, negative = daily.get(buckets[index][0], (0, 0))
        daily[buckets[index][0]] = (mentions + n, negative + (n if label == "negative" else 0))
    return daily


MENTION_TOTAL_FIELDS = (
    "mentions",
    "positive",
    "neutral",
    "negative",
    "reach",
    "engagement",
    "unscored",
)


def facts_totals(facts: Iterable[MentionFact]) -> MentionTotals:
    """The totals of facts (of one brand) summed: the period's when the facts cover it."""
    sums = dict.fromkeys(MENTION_TOTAL_FIELDS, 0)
    for fact in facts:
        sums["mentions"] += fact.mentions
        sums[fact.label] = sums.get(fact.label, 0) + fact.mentions
        sums["reach"] += fact.reach
        sums["engagement"] += fact.engagement
    return MentionTotals(**{key: sums[key] for key in MENTION_TOTAL_FIELDS})


def mention_totals(
    *, brand_ids: list[int], since: datetime, until: datetime, caught_by: int | None = None
) -> dict[int, MentionTotals]:
    """Per brand: mentions by label, reach and engagement in [since, until) (local
    midnights). One query over the rollups."""
    rows = mention_sums(
        brand_ids=brand_ids,
        ranges=[(since, until)],
        by=("brand_id", "label"),
        caught_by=caught_by,
    )
    sums: dict[int, dict[str, int]] = {}
    for (_, brand_id, label), (n, reach, engagement) in rows.items():
        brand_sums = sums.setdefault(brand_id, {})
        brand_sums[label] = brand_sums.get(label, 0) + n
        brand_sums["mentions"] = brand_sums.get("mentions", 0) + n
        brand_sums["reach"] = brand_sums.get("reach", 0) + reach
        brand_sums["engagement"] = brand_sums.get("engagement", 0) + engagement
    return {
        brand_id: MentionTotals(
            **{key: sums.get(brand_id, {}).get(key, 0) for key in MENTION_TOTAL_FIELDS}
        )
        for brand_id in brand_ids
    }


def brand_has_mentions(*, brand_id: int) -> bool:
    """Whether the brand has any match at all (an empty chart says why it is empty)."""
    return MentionMatch.objects.filter(brand_id=brand_id).exists()


def source_names(*, source_ids: Iterable[int]) -> dict[int, str]:
    """Display names of sources: their name, else kind and address."""
    names = {}
    for pk, name, kind, url in Source.objects.filter(pk__in=set(source_ids)).values_list(
        "pk", "name", "kind", "url"
    ):
        names[pk] = name or (f"{kind} {url}".strip() if url else kind)
    return names


# Open cases by age (the backlog), youngest first: (label, lower bound, upper bound or None).
BACKLOG_AGES: tuple[tuple[str, timedelta, timedelta | None], ...] = (
    ("under 1 hour", timedelta(0), timedelta(hours=1)),
    ("1 to 4 hours", timedelta(hours=1), timedelta(hours=4)),
    ("4 to 24 hours", timedelta(hours=4), timedelta(days=1)),
    ("1 to 3 days", timedelta(days=1), timedelta(days=3)),
    ("3 to 7 days", timedelta(days=3), timedelta(days=7)),
    ("over 7 days", timedelta(days=7), None),
)


def care_backlog(*, brand_id: int, now: datetime) -> list[tuple[str, int]]:
    """The brand's care cases still being worked (not resolved, not history), by age since
    they opened. One query (case_age_idx)."""
    counts = {}
    for i, (_, younger, older) in enumerate(BACKLOG_AGES):
        condition = Q(opened_at__lte=now - younger)
        if older is not None:
            condition &= Q(opened_at__gt=now - older)
        counts[f"age{i}"] = Count("id", filter=condition)
    row = (
        Case.objects.filter(
            brand_id=brand_id,
            kind=Case.Kind.CARE,
            status__in=Case.OPEN_STATUSES,
            is_history=False,
        )
        .order_by()
        .aggregate(**counts)
    )
    return [(label, row[f"age{i}"] or 0) for i, (label, _, _) in enumerate(BACKLOG_AGES)]


# The care figures are exact medians and percentiles over every case of a period, computed
# in Python (engagement.selectors.care_report, which ``care_report`` prints too): O(cases).
# The dashboard computes them once per period and state of its cases: the key holds a
# fingerprint of the period's case rows as last written, taken in SQL, and how many due times
# have passed.


# A row version's identity: the transaction that wrote it and where it lies. Every UPDATE
# writes a new version, so this changes with any write, even two in one transaction (one
# xmin, two places); a 64-bit hash, summed over the period's cases.
_CASE_VERSION = (
    f"hashtextextended({Case._meta.db_table}.xmin::text || {Case._meta.db_table}.ctid::text, 0)"
)


def _cases_fingerprint(*, brand: Brand, since: datetime, until: datetime, now: datetime) -> str:
    """What changes whenever a care figure of the period may: which cases are in it, any
    write to one of them (_CASE_VERSION), their agents' names, and how many due times have
    passed. Before, an md5 over every field the figures read, cast to text and concatenated,
    cost 3-4 times as much (most of it Django compiling the expression) and grew with the
    cases (2,000 a quarter at a million mentions). A VACUUM FULL or FREEZE may change it
    once: one recomputation, never a stale figure."""
    cases = care_cases_in_period(brand=brand, since=since, until=until).order_by()
    row = cases.aggregate(
        n=Count("id"),
        overdue=Count("id", filter=Q(first_response_at__isnull=True, first_response_due__lt=now)),
        # Fixed names only: the table's own name and a system column.
        versions=Sum(RawSQL(_CASE_VERSION, [], BigIntegerField())),  # noqa: S611
        agents=Sum(
            Func(
                Coalesce("assignee__username", Value("")),
                function="hashtext",
                output_field=BigIntegerField(),
            )
        ),
    )
    return f"{row['n']}:{row['overdue']}:{row['versions']}:{row['agents']}"


def care_figures_of_period(
    *, brand: Brand, since: datetime, until: datetime, now: datetime
) -> CareFigures:
    """care_figures for [since, until), computed once per state of the period's cases
    (PostgreSQL; SQLite, the one-machine set-up, computes them each time)."""
    if connection.vendor != "postgresql":
        return care_figures(brand=brand, since=since, until=until, now=now)
    key = (
        f"earshot:dashboard:care:{brand.pk}:{since.timestamp():.0f}:{until.timestamp():.0f}:"
        + _cases_fingerprint(brand=brand, since=since, until=until, now=now)
    )
    figures = cache.get(key)
    if figures is None:
        figures = care_figures(brand=brand, since=since, until=until, now=now)
        cache.set(key, figures, AUTHOR_FIGURES_SECONDS)
    return figures


def care_figures_over_time(
    *, brand: Brand, bounds: list[datetime], now: datetime
) -> list[dict[str, object]]:
    """care_figures_by_bucket, computed once per state of the buckets' cases (PostgreSQL)."""
    if len(bounds) < 2 or connection.vendor != "postgresql":
        return care_figures_by_bucket(brand=brand, bounds=bounds, now=now)
    stamps = repr([b.timestamp() for b in bounds]).encode()
    key = (
        f"earshot:dashboard:care-buckets:{brand.pk}:"
        + hashlib.blake2b(stamps, digest_size=12).hexdigest()
        + ":"
        + _cases_fingerprint(brand=brand, since=bounds[0], until=bounds[-1], now=now)
    )
    figures = cache.get(key)
    if figures is None:
        figures = care_figures_by_bucket(brand=brand, bounds=bounds, now=now)
        cache.set(key, figures, AUTHOR_FIGURES_SECONDS)
    return figures


def care_enabled(*, brand_id: int) -> bool:
    """Whether the brand's customers are answered here (CareSettings; on by default)."""
    settings = CareSettings.objects.filter(brand_id=brand_id)
    value = settings.values_list("care_enabled", flat=True).first()
    return True if value is None else value


@dataclass(frozen=True, slots=True)
class AuthorRow:
    """An author as the authors page lists them: the period's figures from the rollups, the
    previous period's mention count (the trend) and the standing the queue keeps."""

    author: Author
    mentions: int
    positive: int
    negative: int
    reach: int
    previous_mentions: int
    standing: str
    last_mention_at: datetime | None


def _author_sums(
    *, brand_id: int, author_ids: Iterable[int], since: datetime, until: datetime
) -> dict[int, tuple[int, int, int, int]]:
    """(mentions, positive, negative, largest follower count) per author in [since, until),
    from AuthorRollup's days inside it and quarter-hours at its ends. One query."""
    rows = (
        AuthorRollup.objects.filter(
            author_cells_q(since, until), brand_id=brand_id, author_id__in=list(author_ids)
        )
        .values_list("author_id")
        .annotate(
            n=Sum("mentions"), pos=Sum("positive"), neg=Sum("negative"), reach=Max("reach_max")
        )
        .order_by()
    )
    return {
        author_id: (n or 0, pos or 0, neg or 0, reach or 0)
        for author_id, n, pos, neg, reach in rows
    }


def author_rows(
    *,
    brand_id: int,
    author_ids: list[int],
    since: datetime,
    until: datetime,
    previous_since: datetime,
    previous_until: datetime,
) -> list[AuthorRow]:
    """The given authors (in the given order) with their figures. Four queries whatever the
    number of authors: the period, the previous period, the authors, their standings."""
    if not author_ids:
        return []
    now = _author_sums(brand_id=brand_id, author_ids=author_ids, since=since, until=until)
    before = _author_sums(
        brand_id=brand_id, author_ids=author_ids, since=previous_since, until=previous_until
    )
    authors = Author.objects.in_bulk(author_ids)
    standings = {
        author_id: (standing, last)
        for author_id, standing, last in AuthorStanding.objects.filter(
            brand_id=brand_id, author_id__in=author_ids
        ).values_list("author_id", "standing", "last_mention_at")
    }
    rows = []
    for author_id in author_ids:
        if author_id not in authors:
            continue
        n, pos, neg, reach = now.get(author_id, (0, 0, 0, 0))
        # No standing row: the queue has not weighed the author yet ("" shows as a dash).
        standing, last = standings.get(author_id, ("", None))
        rows.append(
            AuthorRow(
                author=authors[author_id],
                mentions=n,
                positive=pos,
                negative=neg,
                reach=reach,
                previous_mentions=before.get(author_id, (0, 0, 0, 0))[0],
                standing=standing,
                last_mention_at=last,
            )
        )
    return rows


def standing_author_ids(*, brand_id: int, standing: str, limit: int) -> list[int]:
    """The brand's advocates or detractors as the queue keeps them (standing_brand_idx), the
    most outspoken first: by positive (advocates) or negative (detractors) mentions ever."""
    order = "-positive_count" if standing == AuthorStanding.Standing.ADVOCATE else "-negative_count"
    return list(
        AuthorStanding.objects.filter(brand_id=brand_id, standing=standing)
        .order_by(order, "-last_mention_at", "author_id")
        .values_list("author_id", flat=True)[:limit]
    )


@dataclass(frozen=True, slots=True)
class Funnel:
    """Unique authors at each phase over a period (the funnel's definitions are on its page
    and in the README)."""

    awareness: int
    engagement: int
    persuasion: int
    # Conversion and retention (dashboard.conversions) need customer records or tracked
    # links: None while the brand has neither, shown as "not connected", never 0.
    conversion: int | None = None
    retention: int | None = None


# Figures that read every author of a range (O(authors who spoke in it), unlike the rest of
# the dashboard) are computed once per range and per change of the brand's author rollups
# (listening.models.RollupGeneration) and kept in Django's cache; a change bumps the
# generation, so a stale figure is never served. A day covers a dashboard's working session.
AUTHOR_FIGURES_SECONDS = 24 * 3600


def _author_figures(kind: str, brand_id: int, since: datetime, until: datetime, compute):
    generation = rollups_generation(brand_id)
    key = (
        f"earshot:dashboard:{kind}:{brand_id}:{generation}:"
        f"{since.timestamp():.0f}:{until.timestamp():.0f}"
    )
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, AUTHOR_FIGURES_SECONDS)
    return value


def top_author_ids(
    *, brand_id: int, since: datetime, until: datetime, limit: int
) -> tuple[list[int], list[int]]:
    """The brand's authors with the most mentions, and with the largest follower count, in
    [since, until) (AuthorRollup; ties: author id), leaving out the brand's own accounts
    (Brand.handles: its care account answers a lot but is no voice of the market). Cached
    per rollup generation."""

    own = Brand.objects.get(pk=brand_id).own_handle_keys

    def compute() -> tuple[list[int], list[int]]:
        spare = 10 if own else 0  # own accounts are few: a few more rows cover them
        tops = [
            [
                row.author_id
                for row in authors_top_between(
                    brand_ids=[brand_id],
                    since=since,
                    until=until,
                    order=order,
                    limit=limit + spare,
                )
            ]
            for order in ("mentions", "reach")
        ]
        if own:
            handles = dict(
                Author.objects.filter(pk__in={a for top in tops for a in top}).values_list(
                    "pk", "handle"
                )
            )
            tops = [
                [a for a in top if handle_normalise(handles.get(a, "")) not in own] for top in tops
            ]
        return tops[0][:limit], tops[1][:limit]

    # The brand's handles are part of the key: editing them takes effect at once.
    own_key = hashlib.blake2b(repr(sorted(own)).encode(), digest_size=8).hexdigest()
    return _author_figures(f"top{limit}:{own_key}", brand_id, since, until, compute)


def _funnel_authors(*, brand_id: int, since: datetime, until: datetime) -> tuple[int, int, int]:
    """(authors, repeat authors, repeat authors persuaded) of the brand in [since, until),
    from AuthorRollup. Per author over the range: mentions (repeat: two or more), the latest
    effective label (the largest latest_key; persuaded: positive) and mentions that asked
    about buying (persuaded: one or more). One query over the range's author cells."""
    per_author = (
        AuthorRollup.objects.filter(author_cells_q(since, until), brand_id=brand_id)
        .values("author_id")
        .annotate(n=Sum("mentions"), buying=Sum("buying"), latest=Max("latest_key"))
        .order_by()
    )
    if connection.vendor != "postgresql":
        authors = repeat = persuaded = 0
        for row in per_author:
            authors += 1
            if row["n"] >= 2:
                repeat += 1
                persuaded += row["buying"] > 0 or latest_label(row["latest"]) == "positive"
        return authors, repeat, persuaded
    sql, params = per_author.query.sql_with_params()
    with connection.cursor() as cursor:
        # The latest label is latest_key's last two bits (listening.rollups.latest_key).
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE n >= 2),"  # noqa: S608 (the ORM's SQL)
            " count(*) FILTER (WHERE n >= 2 AND (buying > 0 OR latest & 3 = %s))"
            f" FROM ({sql}) AS q",
            [LATEST_POSITIVE_CODE, *params],
        )
        authors, repeat, persuaded = cursor.fetchone()
    return authors, repeat, persuaded


def brand_funnel(*, brand_id: int, since: datetime, until: datetime) -> Funnel:
    """The brand's funnel over [since, until).

    Engagement: authors with two mentions or more in the range, or whose care case was
    answered in it; persuasion: those of them whose latest effective label in the range is
    positive or who asked about buying (listening.rollups.BUYING_WORDS); conversion and
    retention: dashboard.conversions. The counts over
    every author of the range are cached (_author_figures); the answered authors, which
    change as agents reply, are read each time with their own figures."""
    awareness, repeat, persuaded = _author_figures(
        "funnel",
        brand_id,
        since,
        until,
        lambda: _funnel_authors(brand_id=brand_id, since=since, until=until),
    )
    answered = sorted(
        set(
            Case.objects.filter(
                brand_id=brand_id,
                kind=Case.Kind.CARE,
                first_response_at__gte=since,
                first_response_at__lt=until,
                author_id__isnull=False,
            ).values_list("author_id", flat=True)
        )
    )

    def once_figures() -> list[tuple[int, int]]:
        # Answered authors who spoke in the range but only once: engaged by the conversation.
        return list(
            AuthorRollup.objects.filter(
                author_cells_q(since, until), brand_id=brand_id, author_id__in=answered
            )
            .values("author_id")
            .annotate(n=Sum("mentions"), buying=Sum("buying"), latest=Max("latest_key"))
            .filter(n__lt=2)
            .values_list("buying", "latest")
        )

    # Keyed by the answered authors too: a new answer is a new set.
    digest = hashlib.blake2b(repr(answered).encode(), digest_size=12).hexdigest()
    once = (
        _author_figures(f"answered:{digest}", brand_id, since, until, once_figures)
        if answered
        else []
    )
    engaged, persuasion = repeat, persuaded
    for buying, latest in once:
        engaged += 1
        persuasion += buying > 0 or latest_label(latest) == "positive"
    conversion, retention = conversion_counts(
        brand_id=brand_id,
        since=since,
        until=until,
        cached=lambda kind, compute: _author_figures(kind, brand_id, since, until, compute),
    )
    return Funnel(
        awareness=awareness,
        engagement=engaged,
        persuasion=persuasion,
        conversion=conversion,
        retention=retention,
    )


SPIKE_DRIVERS_LISTED = 3


def spike_drivers(
    *,
    brand_id: int,
    days: list[date],
    tz: tzinfo,
    daily: dict[date, tuple[int, int]],
    since: datetime,
    until: datetime,
) -> dict[date, tuple[list[tuple[str, int]], list[tuple[Author, int]]]]:
    """For each spike day: the terms and hashtags over-represented on it (at least twice, and
    at least twice as frequent per mention as over the other days of [since, until)), and
    the authors with two mentions or more that day; the most frequent first, three of each.

    Four queries whatever the number of days (TermRollup twice, AuthorRollup, Author)."""
    if not days:
        return {}
    day_ranges = [
        (
            datetime.combine(day, datetime.min.time(), tzinfo=tz),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz),
        )
        for day in days
    ]
    by_day: dict[date, dict[str, int]] = {}
    for (index, term), n in term_sums(brand_ids=[brand_id], ranges=day_ranges).items():
        by_day.setdefault(days[index], {})[term] = n
    every_term = {term for terms in by_day.values() for term in terms}
    totals = (
        {
            term: n
            for (_, term), n in term_sums(
                brand_ids=[brand_id], ranges=[(since, until)], terms=every_term
            ).items()
        }
        if every_term
        else {}
    )
    all_mentions = sum(mentions for mentions, _ in daily.values())
    which_day = SqlCase(
        *[When(author_cells_q(lo, hi), then=Value(i)) for i, (lo, hi) in enumerate(day_ranges)],
        default=Value(-1),
    )
    on_days = functools.reduce(operator.or_, (author_cells_q(lo, hi) for lo, hi in day_ranges))
    author_rows = (
        AuthorRollup.objects.filter(on_days, brand_id=brand_id)
        .annotate(day_index=which_day)
        .values_list("day_index", "author_id")
        .annotate(n=Sum("mentions"))
        .filter(n__gte=2)
        .order_by()
    )
    authors_by_day: dict[date, list[tuple[int, int]]] = {}
    for index, author_id, n in author_rows:
        if index >= 0:
            authors_by_day.setdefault(days[index], []).append((author_id, n))
    author_ids = {a for rows in authors_by_day.values() for a, _ in rows}
    authors = Author.objects.in_bulk(author_ids) if author_ids else {}
    out = {}
    for day in days:
        mentions = daily.get(day, (0, 0))[0] or 1
        rest = max(all_mentions - mentions, 1)
        terms = []
        for term, n in by_day.get(day, {}).items():
            rest_share = max(totals.get(term, n) - n, 0) / rest
            if n >= 2 and n / mentions >= 2 * max(rest_share, 1 / rest):
                terms.append((term, n))
        terms.sort(key=lambda item: (-item[1], item[0]))
        loud = sorted(authors_by_day.get(day, []), key=lambda item: (-item[1], item[0]))
        out[day] = (
            terms[:SPIKE_DRIVERS_LISTED],
            [(authors[a], n) for a, n in loud[:SPIKE_DRIVERS_LISTED] if a in authors],
        )
    return out
