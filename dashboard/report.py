"""Figures that more than one reader of the dashboard builds: the overview page, the printable
report (dashboard/views_report.py) and the weekly e-mail (dashboard/services.py) each show a
brand's headline figures and spikes, so they are built here once (issue 12).

This module imports no view: views.py imports it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from brands.models import Brand
from dashboard.charts import change, drill_link
from dashboard.forms import Period, day_start, period_of
from dashboard.models import ReportSubscription
from dashboard.selectors import MentionTotals, daily_mentions, mention_totals, spike_drivers
from dashboard.spikes import BASELINE_DAYS, Spike, spikes_find

SPIKES_LISTED = 10


def headline_figures(*, totals: MentionTotals, previous: MentionTotals) -> list[dict]:
    """Mentions, reach, engagement and net sentiment against the previous period: a count's
    change in percent, a percentage's change in points (a percent of a percent misleads)."""
    headline = [
        ("Mentions", totals.mentions, previous.mentions, "count"),
        ("Estimated reach", totals.reach, previous.reach, "count"),
        ("Engagement", totals.engagement, previous.engagement, "count"),
        ("Net sentiment", totals.net_sentiment, previous.net_sentiment, "percent"),
    ]
    return [
        {
            "name": name,
            "value": value,
            "previous": before,
            "unit": unit,
            "change": change(value, before) if unit == "count" else None,
            "points": (None if value is None or before is None else round(value - before, 1))
            if unit == "percent"
            else None,
        }
        for name, value, before, unit in headline
    ]


def brand_headline(*, brand_id: int, period: Period) -> list[dict]:
    """headline_figures() of one brand over ``period`` (two queries)."""
    totals = mention_totals(brand_ids=[brand_id], since=period.since, until=period.until)
    previous = mention_totals(
        brand_ids=[brand_id], since=period.previous_since, until=period.previous_until
    )
    return headline_figures(totals=totals[brand_id], previous=previous[brand_id])


def period_spikes(*, brand: Brand, period: Period, explorer: str) -> list[Spike]:
    """The period's spikes (dashboard/spikes.py), newest first, with what drove them and a
    link to their mentions in ``explorer``. Three to six queries: the days, then the drivers.
    Local days are those of the current time zone, the one ``period`` was made in."""
    zone = timezone.get_current_timezone()
    start = period.first - timedelta(days=BASELINE_DAYS)
    since = day_start(start)
    daily = daily_mentions(brand_id=brand.pk, since=since, until=period.until, tz=zone)
    found = spikes_find(daily=daily, first=period.first, last=period.last)
    found = sorted(found, key=lambda spike: (spike.day, spike.kind), reverse=True)[:SPIKES_LISTED]
    drivers = spike_drivers(
        brand_id=brand.pk,
        days=sorted({spike.day for spike in found}),
        tz=zone,
        daily=daily,
        since=since,
        until=period.until,
    )
    for spike in found:
        spike.terms, spike.authors = drivers.get(spike.day, ([], []))
        spike.link = drill_link(
            explorer,
            brand.pk,
            spike.day,
            spike.day,
            label="negative" if spike.kind == "negative" else "",
        )
    return found


def last_full_week(*, now: datetime, zone: ZoneInfo) -> Period:
    """The last whole local Monday-to-Sunday week before ``now`` in ``zone``, its bounds local
    midnights there (DST-exact). A weekly e-mail covers it, and its Monday is the week's key:
    every run in the same local week gets the same one."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday() + 7)
    with timezone.override(zone):
        return period_of(monday, monday + timedelta(days=6))


def report_subscription_of(*, user, brand_id: int) -> ReportSubscription | None:
    """The user's weekly e-mail subscription of the brand's report, if any."""
    return ReportSubscription.objects.filter(user=user, brand_id=brand_id).first()
