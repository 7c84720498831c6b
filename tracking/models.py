"""Tracked links to a brand's own site, their clicks, and the sales (conversions) that refer
to a click: the referral traffic and revenue of issue 14 ("Prove it pays").

tracking -> engagement -> listening -> brands: a link may name the case and the author it
was written for; nothing below this app imports it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from brands.models import Brand
from engagement.models import Case
from listening.models import Author


class TrackingSettings(models.Model):
    """A brand's tracking settings: the postback secret and, optionally, its own UTM template.

    One row per brand, made when first needed (services.tracking_settings_get)."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="tracking")
    # HMAC-SHA256 key of the brand's conversion postbacks (POST /conversions/). Kept in clear,
    # as the webhook secrets are: a signature can only be checked with the key itself. The
    # admin shows it once, when it is made or rotated.
    postback_secret = models.CharField(max_length=128, editable=False)
    # Blank: EARSHOT_TRACKING_UTM. Else a query-string template with {campaign}, {case},
    # {code}, e.g. "utm_source=earshot&utm_medium=social&utm_campaign={campaign}".
    utm_template = models.CharField(
        max_length=500,
        blank=True,
        help_text="Blank: the instance's default (EARSHOT_TRACKING_UTM). Else name=value pairs "
        "joined with &, where {campaign}, {case} and {code} are filled in per link, e.g. "
        "utm_source=earshot&utm_medium=social&utm_campaign={campaign}",
    )
    # Postbacks refused for this brand (bad signature, stale timestamp, bad amount...): what
    # the brand's developer needs to see in admin while wiring their shop.
    postbacks_refused = models.PositiveIntegerField(default=0)
    last_postback_error = models.CharField(max_length=500, blank=True)
    last_postback_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "tracking settings"
        verbose_name_plural = "tracking settings"

    def __str__(self) -> str:
        return f"Tracking settings of {self.brand}"


class TrackedLink(models.Model):
    """/r/<code>: a redirect to a page on the brand's own domains, checked when made.

    A link written into a reply names its case, the case's author and the agent (created_by);
    a marketer's campaign link names neither. A *template* link lives in a saved reply as
    {link:<code>}: each case the saved reply is used on gets its own link made from it
    (template = the template link), so clicks and sales still land on the case."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="tracked_links")
    code = models.CharField(max_length=16, unique=True)
    # The URL as rebuilt by targets.target_clean: only ever a URL on the brand's domains.
    target_url = models.URLField(max_length=2000)
    campaign = models.CharField(max_length=100, blank=True)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracked_links"
    )
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_template = models.BooleanField(default=False)
    template = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="case_links"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One link per template and case, however often the saved reply is used on it.
            models.UniqueConstraint(
                fields=["template", "case"],
                name="trackedlink_one_per_template_case",
                condition=models.Q(template__isnull=False),
            ),
        ]
        indexes = [
            # The links page: a brand's links, newest first.
            models.Index(fields=["brand", "-created_at"], name="trackedlink_brand_idx"),
        ]

    def __str__(self) -> str:
        return f"/r/{self.code} -> {self.target_url}"


class Click(models.Model):
    """One visit of /r/<code>. The case, author and campaign are the link's at the time,
    copied so a report reads clicks alone. No IP address is stored: ip_hash is a keyed hash
    (HMAC with SECRET_KEY, 16 hex digits) that tells repeat clicks from one address apart
    without keeping the address, and cannot be reversed without the key."""

    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="clicks")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.CharField(max_length=100, blank=True)
    # Carried to the brand's site as ?earshot_click=<token>; a conversion names it.
    token = models.CharField(max_length=32, unique=True)
    at = models.DateTimeField(default=timezone.now)
    ip_hash = models.CharField(max_length=16, blank=True)
    # "bot", "mobile", "desktop" or "other" (targets of a link preview are bots).
    agent_family = models.CharField(max_length=16, blank=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Referral figures: a brand's clicks in a range (selectors.referral_*).
            models.Index(fields=["brand", "at"], name="click_brand_at_idx"),
            models.Index(fields=["link", "at"], name="click_link_at_idx"),
        ]

    def __str__(self) -> str:
        return f"Click {self.pk} on /r/{self.link_id} at {self.at:%Y-%m-%d %H:%M}"


class Conversion(models.Model):
    """A sale the brand's site reported for a click: by a signed postback (is_verified) or
    by the thank-you page's pixel (unsigned: anyone who knows a click token could send one,
    so it is counted apart). One per brand and order id, whatever the retries."""

    class Channel(models.TextChoices):
        POSTBACK = "postback", "Signed postback"
        PIXEL = "pixel", "Pixel (unverified)"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    click = models.ForeignKey(Click, on_delete=models.CASCADE, related_name="conversions")
    order_id = models.CharField(max_length=200)
    # Three places: the most any ISO 4217 currency uses (KWD, BHD).
    amount = models.DecimalField(max_digits=15, decimal_places=3)
    currency = models.CharField(max_length=3)
    at = models.DateTimeField()
    channel = models.CharField(max_length=16, choices=Channel.choices)
    is_verified = models.BooleanField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "order_id"], name="conversion_unique_brand_order"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="conversion_amount_not_negative"
            ),
        ]
        indexes = [
            # Referral figures: a brand's conversions in a range.
            models.Index(fields=["brand", "at"], name="conversion_brand_at_idx"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id}: {self.amount} {self.currency}"
