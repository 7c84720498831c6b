"""The dashboard's own rows: who asked for the weekly report e-mail (issue 12). Everything else
the dashboard shows it reads from listening's and engagement's tables."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReportSubscription(models.Model):
    """A user's weekly e-mail of a brand's printable report, in the time zone they chose.

    Access is checked at every sending, not only here: a user who lost the brand's dashboard
    gets nothing, and the service drops the row (dashboard/services.py).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    brand = models.ForeignKey("brands.Brand", on_delete=models.CASCADE, related_name="+")
    # An IANA name from dashboard/timezones.py zone_names(): the week is whole local days there.
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now)
    # The Monday of the last week e-mailed (in time_zone): a rerun in the same week sends
    # nothing (weekly_reports_send claims the week with a conditional UPDATE).
    last_sent_week = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "brand"], name="report_subscription_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.brand}"
