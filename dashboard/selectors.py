"""Reads for the dashboard. Access is decided in brands/permissions.py; these only fetch."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, QuerySet

from brands.models import Brand
from engagement.models import SentimentCorrection
from listening.models import MentionMatch


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
