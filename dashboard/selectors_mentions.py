"""Reads of single mentions for the dashboard's panels (issue 12): the period's most engaged
mentions on the overview. Access is decided in brands/permissions.py (the view asks before it
calls these); these only fetch.

Kept apart from dashboard/selectors.py, which reads the rollups: these read mention rows, so
each must stay bounded whatever the period's size (engaged_mentions_top says how).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import DecimalField, ExpressionWrapper, F, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Substr

from listening.models import Author, MentionMatch, label_text
from listening.outside import web_url

ENGAGED_LISTED = 10
# From this many mentions of the brand in the period, the top ten come from walking the
# engagement index (a few hundred entries for ten hits, typically); below it, from reading
# the period's mentions and sorting them, which costs at most this many rows. A walk costs
# about ENGAGED_LISTED x (all mentions / the period's) entries, so near a million mentions
# the two meet around 3,000; 5,000 leaves the walk to periods where it cannot go far.
WALK_FROM_MENTIONS = 5000
# The excerpt is cut in SQL first, so a mention stored at the full text cap (outside.py)
# does not travel whole for ten lines of a panel.
EXCERPT_CHARS = 200

# likes + replies + reposts, written EXACTLY as the expression of explorer_mention_engagement_idx
# (dashboard/migrations/0002_explorer_sort_indexes.py): COALESCE each count to 0, the first
# cast to numeric(30, 0) (three counts near 2^63 would overflow bigint), then added. Any other
# spelling (a Sum, a bigint cast, another order) is a different expression to PostgreSQL, which
# would then sort every mention of the period instead of walking the index from the top.
# tests/dashboard/test_engaged_mentions.py checks the plan names the index.
_ENGAGEMENT_SUM = DecimalField(max_digits=30, decimal_places=0)


def _engagement():
    return ExpressionWrapper(
        Cast(Coalesce(F("mention__like_count"), Value(0)), output_field=_ENGAGEMENT_SUM)
        + Coalesce(F("mention__reply_count"), Value(0))
        + Coalesce(F("mention__repost_count"), Value(0)),
        output_field=_ENGAGEMENT_SUM,
    )


@dataclass(frozen=True)
class EngagedMention:
    """One line of the panel. ``link`` is the post's address only when listening.outside's
    web_url allows it (http(s) with a host), else ""; ``reach`` is the author's followers at
    the time of the mention, None when unknown; ``label`` is the brand's effective label."""

    mention_id: int
    published_at: datetime
    platform: str
    author_id: int | None
    author_handle: str
    author_name: str
    label: str
    engagement: int
    likes: int | None
    replies: int | None
    reposts: int | None
    reach: int | None
    excerpt: str
    link: str

    @property
    def label_text(self) -> str:
        return label_text(self.label)


def _excerpt(text: str) -> str:
    flat = " ".join((text or "").split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    return flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def engaged_matches(*, brand_id: int, since: datetime, until: datetime, walk: bool) -> QuerySet:
    """The brand's matches published in [since, until) with engagement > 0, most engagement
    first, ties by mention id descending, as value tuples (engaged_mentions_top's columns, in
    its order). Read-only; slice it.

    walk=True: ordered by the engagement index's own expression, so PostgreSQL can walk
    explorer_mention_engagement_idx from the top and stop after the slice; the period is
    tested on the mention, the row the walk has just read, before its match is probed.
    walk=False: ordered by the same values spelled differently (+ 0), which no index gives,
    so PostgreSQL reads the period's matches (match_brand_pub_idx) and keeps the top: the
    bounded plan for a period with few mentions, where a walk could read far down the index
    before finding ten of them (1.8 s for a week at a million mentions, once).
    """
    engagement = _engagement()
    qs = MentionMatch.objects.filter(brand_id=brand_id)
    if walk:
        qs = qs.filter(mention__published_at__gte=since, mention__published_at__lt=until)
        order = engagement
    else:
        qs = qs.filter(published_at__gte=since, published_at__lt=until)
        order = ExpressionWrapper(engagement + Value(0), output_field=_ENGAGEMENT_SUM)
    return (
        qs.annotate(
            engagement=engagement,
            sort_key=order,
            excerpt=Substr("mention__text", 1, EXCERPT_CHARS + 1),
        )
        .filter(engagement__gt=0)
        .order_by("-sort_key", "-mention_id")
        .values_list(
            "mention_id",
            "published_at",
            "label",
            "engagement",
            "excerpt",
            "mention__platform",
            "mention__url",
            "mention__author_id",
            "mention__author_followers",
            "mention__like_count",
            "mention__reply_count",
            "mention__repost_count",
        )
    )


def engaged_mentions_top(
    *,
    brand_id: int,
    since: datetime,
    until: datetime,
    mentions: int | None = None,
    limit: int = ENGAGED_LISTED,
) -> list[EngagedMention]:
    """The brand's mentions published in [since, until) with the most engagement (likes +
    replies + reposts, unknown counts as 0), most first, ties by the newer mention id; only
    mentions with some engagement (a panel of zeros says nothing). Read-only; two queries
    (the second, for the rows' authors, only when there are rows), three when ``mentions``
    (the brand's mentions in the period, as the rollups count them) is not given.

    From WALK_FROM_MENTIONS mentions in the period the index is walked (engaged_matches,
    walk=True): the period's mentions are never all read. EXPLAIN ANALYZE at a million
    mentions (bench/dashboard.py's data; 90 days hold 40,769 of the brand's): 0.5 ms and 299
    index entries with engagement spread like real posts' (long-tailed, at random), 10-15 ms
    and 8,884 entries with the bench's own counts (a few dozen values, the top ones repeated
    thousands of times outside the period); reading the period and sorting it: 220-950 ms.
    A week (2,870 mentions) is read and sorted: 14-23 ms.
    """
    if mentions is None:
        mentions = MentionMatch.objects.filter(
            brand_id=brand_id, published_at__gte=since, published_at__lt=until
        ).count()
    walk = mentions >= WALK_FROM_MENTIONS
    rows = list(engaged_matches(brand_id=brand_id, since=since, until=until, walk=walk)[:limit])
    # Authors in a second query for the ten rows: joined in the first, a sorted plan would
    # look up the author of every mention of the period before keeping ten.
    author_ids = {row[7] for row in rows if row[7] is not None}
    if not author_ids:
        authors: dict[int, tuple[str, str]] = {}
    else:
        authors = {
            pk: (handle, name)
            for pk, handle, name in Author.objects.filter(pk__in=author_ids).values_list(
                "pk", "handle", "display_name"
            )
        }
    return [
        EngagedMention(
            mention_id=mention_id,
            published_at=published_at,
            platform=platform or "",
            author_id=author_id,
            author_handle=authors.get(author_id, ("", ""))[0],
            author_name=authors.get(author_id, ("", ""))[1],
            label=label,
            engagement=int(engagement),
            likes=likes,
            replies=replies,
            reposts=reposts,
            reach=followers,
            excerpt=_excerpt(excerpt),
            link=web_url(url),
        )
        for (
            mention_id,
            published_at,
            label,
            engagement,
            excerpt,
            platform,
            url,
            author_id,
            followers,
            likes,
            replies,
            reposts,
        ) in rows
    ]
