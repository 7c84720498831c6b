"""What the dashboard writes: weekly report subscriptions, and the weekly e-mail (issue 12)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from brands.permissions import Action, can
from dashboard.charts import explorer_url
from dashboard.forms import Period
from dashboard.models import ReportSubscription
from dashboard.report import brand_headline, last_full_week, period_spikes
from dashboard.timezones import is_zone

logger = logging.getLogger(__name__)


def report_subscription_set(*, user, brand_id: int, time_zone: str) -> ReportSubscription:
    """Subscribe ``user`` to the weekly e-mail of the brand's report, or change the zone of
    the subscription they have. Idempotent; the caller has checked VIEW_DASHBOARD and that
    ``time_zone`` is a zone (dashboard/timezones.py)."""
    subscription, _ = ReportSubscription.objects.update_or_create(
        user=user, brand_id=brand_id, defaults={"time_zone": time_zone}
    )
    return subscription


def report_subscription_delete(*, user, brand_id: int) -> bool:
    """Stop the weekly e-mail; False when there was none. Idempotent."""
    deleted, _ = ReportSubscription.objects.filter(user=user, brand_id=brand_id).delete()
    return bool(deleted)


@dataclass
class WeeklyRun:
    """What one run of weekly_reports_send did (or, dry, would do)."""

    sent: list[tuple[str, str, date]] = field(default_factory=list)  # (e-mail, brand, Monday)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (username, brand): no access
    already_sent: int = 0
    no_address: int = 0


@dataclass
class _Report:
    """One brand's week in one zone: shared by every subscriber of that brand and zone."""

    brand: Brand
    period: Period
    zone: str
    figures: list[dict]
    spikes: list
    link: str


def _report_build(*, brand: Brand, zone: str, now: datetime) -> _Report:
    tz = ZoneInfo(zone)
    period = last_full_week(now=now, zone=tz)
    query = {
        "brand": brand.pk,
        "range": "custom",
        "since": period.first.isoformat(),
        "until": period.last.isoformat(),
    }
    link = f"{settings.EARSHOT_BASE_URL}{reverse('dashboard:report')}?{urlencode(query)}"
    with timezone.override(tz):
        spikes = period_spikes(brand=brand, period=period, explorer=explorer_url())
    for spike in spikes:
        spike.link = f"{settings.EARSHOT_BASE_URL}{spike.link}"
    return _Report(
        brand=brand,
        period=period,
        zone=zone,
        figures=brand_headline(brand_id=brand.pk, period=period),
        spikes=spikes,
        link=link,
    )


def _message(*, report: _Report, to: str) -> EmailMultiAlternatives:
    context = {"report": report, "brand": report.brand, "period": report.period}
    subject = (
        f"{report.brand.name}: weekly report, {report.period.first:%Y-%m-%d} "
        f"to {report.period.last:%Y-%m-%d}"
    )
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=render_to_string("dashboard/email/weekly_report.txt", context),
        to=[to],
    )
    message.attach_alternative(
        render_to_string("dashboard/email/weekly_report.html", context), "text/html"
    )
    return message


def weekly_reports_send(*, now: datetime | None = None, dry_run: bool = False) -> WeeklyRun:
    """E-mail each subscriber the report of the last whole local week (Monday to Sunday in
    the subscription's zone) that they have not had yet.

    Idempotent per week: a subscription's week is claimed with a conditional UPDATE of
    last_sent_week before its message goes out, so a rerun, or two runs at once, send it
    once; a message that fails to send gives the week back for the next run. A user who may
    no longer see the brand's dashboard (role changed, membership gone, deactivated) gets
    nothing and the subscription is deleted: re-subscribing is one click, and a stale row
    would otherwise be checked every week for ever. Touches ReportSubscription and the
    e-mail backend only. A dry run changes and sends nothing.
    """
    now = now or timezone.now()
    run = WeeklyRun()
    reports: dict[tuple[int, str], _Report] = {}
    users: dict[int, object] = {}
    subscriptions = ReportSubscription.objects.select_related("user", "brand").order_by("pk")
    for subscription in subscriptions:
        # One user object per user: permissions.py caches its roles on it (one query each).
        user = users.setdefault(subscription.user_id, subscription.user)
        brand = subscription.brand
        if not can(user, brand.pk, Action.VIEW_DASHBOARD):
            run.dropped.append((user.get_username(), brand.name))
            if not dry_run:
                subscription.delete()
            continue
        if not user.email:
            run.no_address += 1
            continue
        zone = subscription.time_zone if is_zone(subscription.time_zone) else settings.TIME_ZONE
        week = last_full_week(now=now, zone=ZoneInfo(zone)).first
        if subscription.last_sent_week is not None and subscription.last_sent_week >= week:
            run.already_sent += 1
            continue
        if dry_run:
            run.sent.append((user.email, brand.name, week))
            continue
        claimed = (
            ReportSubscription.objects.filter(pk=subscription.pk)
            .filter(Q(last_sent_week__isnull=True) | Q(last_sent_week__lt=week))
            .update(last_sent_week=week)
        )
        if not claimed:  # another run has it
            run.already_sent += 1
            continue
        key = (brand.pk, zone)
        if key not in reports:
            reports[key] = _report_build(brand=brand, zone=zone, now=now)
        try:
            _message(report=reports[key], to=user.email).send()
        except Exception:
            ReportSubscription.objects.filter(pk=subscription.pk, last_sent_week=week).update(
                last_sent_week=subscription.last_sent_week
            )
            logger.exception(
                "weekly report not sent",
                extra={"subscription_id": subscription.pk, "brand_id": brand.pk},
            )
            continue
        run.sent.append((user.email, brand.name, week))
    return run
