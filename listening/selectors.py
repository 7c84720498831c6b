"""Reads for listening: querysets with their joins already applied."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from brands.models import Brand
from listening.models import FetchLog, Mention, MentionMatch, SentimentModel


def brand_get_by_name(*, name: str) -> Brand | None:
    return Brand.objects.filter(name__iexact=name.strip()).first()


def brand_matches_for_export(*, brand: Brand, since: datetime | None = None) -> QuerySet:
    """A brand's mentions, oldest first, for streaming exports (uses match_brand_pub_idx)."""
    qs = MentionMatch.objects.filter(brand=brand)
    if since is not None:
        qs = qs.filter(published_at__gte=since)
    return qs.select_related("mention__source", "mention__author").order_by("published_at", "id")


def mentions_recent(*, limit: int = 500) -> QuerySet:
    """The newest stored mentions (uses mention_pub_idx), for testing a query against them."""
    return Mention.objects.select_related("author", "source").order_by("-published_at", "-id")[
        :limit
    ]


def fetch_logs_recent(*, source_id: int, limit: int = 20) -> QuerySet:
    return FetchLog.objects.filter(source_id=source_id).order_by("-started_at")[:limit]


def iterate(qs: QuerySet, chunk_size: int = 2000) -> Iterator:
    """Stream a queryset in chunks (server-side cursor on PostgreSQL): constant memory."""
    return qs.iterator(chunk_size=chunk_size)


def sentiment_model_active(*, brand_id: int) -> SentimentModel | None:
    """The brand's active learned model (issue 13 section 3): version, activation time and
    validation figures only, never the model's bytes; None when the brand uses the default
    scorer."""
    return (
        SentimentModel.objects.filter(brand_id=brand_id, status=SentimentModel.Status.ACTIVE)
        .only("brand_id", "version", "activated_at", "model_macro_f1", "care_macro_f1")
        .first()
    )
