"""Who may do what: brands (the workspaces), memberships with roles, the audit log and the
sign-in attempts. The bottom of the house: imports no other app of ours.

The tables keep the names they had before this app existed (issue 10 moved the models here
with SeparateDatabaseAndState, without touching a row), hence the explicit db_table.
"""

import unicodedata

from django.conf import settings
from django.db import models
from django.utils import timezone


def handle_normalise(handle: str) -> str:
    """ "@Acme_Help@social.example" -> "acme_help": how own handles and authors are compared."""
    name = handle.strip().lstrip("@").split("@", 1)[0]
    return unicodedata.normalize("NFKC", name).casefold()


class Brand(models.Model):
    name = models.CharField(max_length=120, unique=True)
    # Keyword query in Earshot's query language (listening/query.py); validated where brands
    # are created and edited (listening.services.brand_create, the admin's BrandAdminForm),
    # as this app may not import the compiler.
    query = models.TextField(help_text='e.g. acme OR "acme corp" NOT site:acme.example')
    # The brand's own accounts and domains: whitespace- or comma-separated. Later issues use
    # them to recognise the brand's own replies and to tell owned from earned mentions.
    handles = models.TextField(blank=True, help_text="Own handles, e.g. @acme @acme_help")
    domains = models.TextField(blank=True, help_text="Own domains, e.g. acme.example")
    # Brands this one watches as competitors; their matches are stored from this brand's
    # sources too, so share of voice can be computed. (The through table follows db_table:
    # listening_brand_competitors.)
    competitors = models.ManyToManyField(
        "self", symmetrical=False, related_name="competitor_of", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "listening_brand"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def handle_list(self) -> list[str]:
        return [h for h in self.handles.replace(",", " ").split() if h]

    @property
    def own_handle_keys(self) -> frozenset[str]:
        """The brand's handles as compared with authors (handle_normalise)."""
        return frozenset(k for k in map(handle_normalise, self.handle_list) if k)

    @property
    def domain_list(self) -> list[str]:
        return [d for d in self.domains.replace(",", " ").split() if d]


class Membership(models.Model):
    """A user's role in one brand workspace. No membership, no access (404)."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MARKETER = "marketer", "Marketer"
        AGENT = "agent", "Agent"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "engagement_membership"
        constraints = [
            models.UniqueConstraint(fields=["user", "brand"], name="membership_unique_brand")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.brand}"


class AuditLog(models.Model):
    """Who changed what, when, from what to what. Written by services, never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    brand = models.ForeignKey(Brand, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "engagement_auditlog"
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["brand", "-at"], name="audit_brand_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_id} {self.action} {self.object_type}"


class LoginAttempt(models.Model):
    """Sign-in attempts on every path that checks a password (brands.backends), for
    rate limiting that holds across web processes (no shared cache)."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "engagement_loginattempt"
        indexes = [
            # "Failed attempts for this username from this address / from this address in
            # the last N minutes" (selectors.py login_refused_until).
            models.Index(fields=["username", "ip", "-at"], name="login_pair_idx"),
            models.Index(fields=["ip", "-at"], name="login_ip_idx"),
            # "Has this username signed in from this address lately?" Successes are few
            # beside an attacker's failures, so they get their own small index.
            models.Index(
                fields=["username", "ip", "-at"],
                name="login_success_idx",
                condition=models.Q(succeeded=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at:%H:%M:%S}"
