"""The dashboard's own rows: who asked for the weekly report e-mail (issue 12) and what a
brand's call-centre contact costs (the ROI report, issue 14). Everything else the dashboard
shows it reads from the other apps' tables."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
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


class RoiSettings(models.Model):
    """What a brand's call centre pays per contact, the ROI report's only configured input
    (issue 14). No row (or no cost) means "missing" on the report, never 0: Earshot does not
    guess what a contact costs."""

    brand = models.OneToOneField("brands.Brand", on_delete=models.CASCADE, related_name="+")
    contact_cost = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="What one call-centre contact costs the brand (handling time, staff, tools), "
        "in the currency below. Blank: the ROI report shows contact cost moved as missing.",
    )
    # ISO 4217, upper case (the same codes orders and conversions carry).
    currency = models.CharField(
        max_length=3,
        validators=[RegexValidator(r"^[A-Z]{3}$", "Three capital letters, e.g. EUR.")],
        help_text="ISO 4217 code, e.g. EUR.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "ROI settings"
        verbose_name_plural = "ROI settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contact_cost__gte=0), name="roisettings_cost_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"ROI settings of {self.brand}"
