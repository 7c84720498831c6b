"""Reads of tracked links: the links page, and the referral figures the funnel's Conversion
step and the ROI report use.

Definitions (README, Tracked links):
- clicks: visits of /r/<code> in [start, end) by Click.at, bots left out;
- conversions and revenue: sales in [start, end) by Conversion.at (when the order was made),
  whatever the date of their click; revenue is summed per currency, never converted;
- verified_*: the same, signed postbacks only (pixel sales are unverified);
- per case: the link's case; per campaign: the link's campaign ("" for none); per agent:
  the user who made the link, for links written on a case (an agent's reply, or a saved
  reply they used on it; campaign links of marketers have no agent);
- the converted authors: the authors of the cases whose links sold in the range.
Every figure is one or two grouped queries, whatever the number of links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet, Sum

from brands.permissions import Action, require
from tracking.models import Click, Conversion, TrackedLink

# The ways referral_breakdown groups, and the Click/Conversion field each groups by.
GROUPS = {
    "case": ("case_id", "click__case_id"),
    "campaign": ("campaign", "click__campaign"),
    "agent": ("link__created_by_id", "click__link__created_by_id"),
    "link": ("link_id", "click__link_id"),
}


@dataclass(slots=True)
class Referrals:
    """Referral figures of one brand (or one case, campaign, agent, link) over a range."""

    clicks: int = 0
    conversions: int = 0
    verified_conversions: int = 0
    # currency -> amount, e.g. {"EUR": Decimal("120.50")}; no currency means no sales.
    revenue: dict[str, Decimal] = field(default_factory=dict)
    verified_revenue: dict[str, Decimal] = field(default_factory=dict)
    bot_clicks: int = 0

    def as_json(self) -> dict[str, object]:
        """For JSON reports: amounts as strings, so nothing is rounded through a float."""
        return {
            "clicks": self.clicks,
            "bot_clicks": self.bot_clicks,
            "conversions": self.conversions,
            "verified_conversions": self.verified_conversions,
            "revenue": {c: str(a) for c, a in sorted(self.revenue.items())},
            "verified_revenue": {c: str(a) for c, a in sorted(self.verified_revenue.items())},
        }


def _clicks(brand_id: int, start: datetime, end: datetime) -> QuerySet[Click]:
    return Click.objects.filter(brand_id=brand_id, at__gte=start, at__lt=end)


def _conversions(brand_id: int, start: datetime, end: datetime) -> QuerySet[Conversion]:
    return Conversion.objects.filter(brand_id=brand_id, at__gte=start, at__lt=end)


def _click_counts():
    return {
        "clicks": Count("pk", filter=Q(is_bot=False)),
        "bots": Count("pk", filter=Q(is_bot=True)),
    }


def _add_conversions(figures: Referrals, row: dict) -> None:
    figures.conversions += row["n"]
    figures.verified_conversions += row["verified"]
    currency = row["currency"]
    figures.revenue[currency] = figures.revenue.get(currency, Decimal(0)) + row["total"]
    if row["verified"]:
        figures.verified_revenue[currency] = (
            figures.verified_revenue.get(currency, Decimal(0)) + row["verified_total"]
        )


def _conversion_sums():
    return {
        "n": Count("pk"),
        "verified": Count("pk", filter=Q(is_verified=True)),
        "total": Sum("amount"),
        "verified_total": Sum("amount", filter=Q(is_verified=True)),
    }


def referral_totals(*, brand_id: int, start: datetime, end: datetime) -> Referrals:
    """The brand's clicks, conversions and revenue per currency in [start, end). Two queries."""
    counts = _clicks(brand_id, start, end).aggregate(**_click_counts())
    figures = Referrals(clicks=counts["clicks"], bot_clicks=counts["bots"])
    rows = _conversions(brand_id, start, end).values("currency").annotate(**_conversion_sums())
    for row in rows.order_by():
        _add_conversions(figures, row)
    return figures


def referral_breakdown(
    *, brand_id: int, start: datetime, end: datetime, by: str
) -> dict[object, Referrals]:
    """The figures of referral_totals per case id, campaign, agent (user id) or link id
    (by = "case", "campaign", "agent", "link"). Keys with neither a click nor a sale in the
    range are absent; links without a case (or agent) are under the key None, except for
    "campaign", where no campaign is "". Two grouped queries."""
    click_key, conversion_key = GROUPS[by]
    clicks = _clicks(brand_id, start, end)
    conversions = _conversions(brand_id, start, end)
    if by == "agent":
        # Only links written on a case have an agent; a marketer's campaign link has none.
        clicks = clicks.filter(case_id__isnull=False)
        conversions = conversions.filter(click__case_id__isnull=False)
    figures: dict[object, Referrals] = defaultdict(Referrals)
    for row in clicks.values(click_key).annotate(**_click_counts()).order_by():
        entry = figures[row[click_key]]
        entry.clicks, entry.bot_clicks = row["clicks"], row["bots"]
    rows = conversions.values(conversion_key, "currency").annotate(**_conversion_sums())
    for row in rows.order_by():
        _add_conversions(figures[row[conversion_key]], row)
    return dict(figures)


def agent_names(user_ids) -> dict[int, str]:
    """Usernames of the agents of referral_breakdown(by="agent"), in one query."""
    users = get_user_model().objects.filter(pk__in=[u for u in user_ids if u is not None])
    return {u.pk: u.get_username() for u in users}


def converted_author_ids(*, brand_id: int, start: datetime, end: datetime) -> set[int]:
    """Authors with a tracked-link sale in [start, end): the author of the clicked link (the
    case's author when it was written on a case). Verified and pixel sales alike. One query."""
    return set(
        _conversions(brand_id, start, end)
        .filter(click__author_id__isnull=False)
        .values_list("click__author_id", flat=True)
        .distinct()
    )


# --- the links page ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkRow:
    link: TrackedLink
    figures: Referrals


def brand_links_for_user(*, user, brand_id: int) -> QuerySet[TrackedLink]:
    """The brand's links, newest first, for a user who may see referrals (404 for a
    non-member, 403 for a role that may not). Template links' per-case copies are listed
    too: their clicks are theirs."""
    require(user, brand_id, Action.VIEW_REFERRALS)
    return (
        TrackedLink.objects.filter(brand_id=brand_id)
        .select_related("created_by", "case", "template")
        .order_by("-created_at", "-pk")
    )


def link_rows(
    *, links: Iterable[TrackedLink], brand_id: int, start: datetime, end: datetime
) -> Iterator[LinkRow]:
    """Each link with its figures in the range: the links' query and two grouped queries."""
    figures = referral_breakdown(brand_id=brand_id, start=start, end=end, by="link")
    for link in links:
        yield LinkRow(link, figures.get(link.pk, Referrals()))
