"""A brand's customers and orders (imported from its shop), and which social authors they
are (issue 14). Customer data is personal data: only brand admins see it (brands.permissions
VIEW_CUSTOMERS / MANAGE_CUSTOMERS), no mention export joins it, and customer_delete removes a
customer with everything derived from them (handles, orders, matches)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from brands.models import Brand
from listening.models import Author


class Customer(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    # The shop's own id: the import's upsert key within the brand.
    customer_id = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    email = models.CharField(max_length=320, blank=True)
    city = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=100, blank=True)
    # The handles column as imported; the parsed pairs are CustomerHandle rows.
    handles = models.TextField(blank=True)
    # Derived for the weaker matching rules (customers.handles.name_key / email_local).
    name_key = models.CharField(max_length=300, blank=True)
    email_local = models.CharField(max_length=320, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "customer_id"], name="customer_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.name}".strip()


class CustomerHandle(models.Model):
    """One platform-qualified handle of a customer, normalised as authors are
    (customers.handles.handle_key), so an exact match is a join on (platform, key)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="handle_set")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=32)
    handle = models.CharField(max_length=300)
    key = models.CharField(max_length=300)
    local = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "platform", "key"], name="customerhandle_unique"
            )
        ]
        indexes = [
            # Exact matching of new authors: (platform, key) of authors against every brand's.
            models.Index(fields=["platform", "key"], name="customerhandle_key_idx"),
            # "The same handle on another platform" (suggestions).
            models.Index(fields=["local"], name="customerhandle_local_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.key}"


class Order(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    order_id = models.CharField(max_length=200)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    ordered_at = models.DateTimeField()
    # Up to 10^14 with 4 decimals: larger amounts are refused by the import (a typo, not a sale).
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "order_id"], name="order_unique_id"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="order_amount_not_negative"),
        ]
        indexes = [
            # The loyalty panel and the before/after comparison: one customer's orders by time.
            models.Index(fields=["customer", "ordered_at"], name="order_customer_idx"),
            # The ROI report: a brand's orders placed in a date range.
            models.Index(fields=["brand", "ordered_at"], name="order_brand_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.amount} {self.currency}"


class AuthorMatch(models.Model):
    """A customer is (or may be) this author. Exact handle matches are confirmed at once; the
    weaker rules (customers.matching) only suggest, and a person confirms or rejects. A
    rejected pair stays as a row, so no rule suggests it again."""

    class Kind(models.TextChoices):
        EXACT = "exact", "Exact handle"
        SUGGESTED = "suggested", "Suggested"

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        SUGGESTED = "suggested", "Suggested"
        REJECTED = "rejected", "Rejected"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="matches")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The rule(s) that found it, e.g. "handle" or "display_name+email_local".
    rule = models.CharField(max_length=100)
    confidence = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "author"], name="authormatch_unique"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="authormatch_confidence_range",
            ),
            # A weak rule never confirms by itself: confirmed suggestions carry a decider.
            models.CheckConstraint(
                condition=~Q(kind="suggested", status="confirmed", decided_at__isnull=True),
                name="authormatch_suggestion_decided",
            ),
        ]
        indexes = [
            # loyalists(brand) and the suggestions page: a brand's matches by status.
            models.Index(fields=["brand", "status"], name="authormatch_brand_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} ~ {self.author_id} ({self.status})"


class AuthorKey(models.Model):
    """Every author's handle and name as the matching rules compare them (customers.handles),
    filled by customers.matching.author_keys_add outside the ingest path: Author.handle is
    stored as the platform gives it, and a case-insensitive lookup over all authors would
    need an index on listening's table."""

    author = models.OneToOneField(
        Author, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    platform = models.CharField(max_length=32)
    key = models.CharField(max_length=300)
    local = models.CharField(max_length=300, blank=True)
    name_key = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["platform", "key"], name="authorkey_key_idx"),
            models.Index(fields=["local"], name="authorkey_local_idx"),
            models.Index(fields=["name_key"], name="authorkey_name_idx", condition=~Q(name_key="")),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.key}"


class CustomerImport(models.Model):
    """One import of a customers (and orders) file: who, when, what it stored and every
    line it refused (the first ERRORS_KEPT of them), shown on the import page."""

    ERRORS_KEPT = 500

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "command" or "upload".
    via = models.CharField(max_length=16)
    file_name = models.CharField(max_length=300)
    orders_file_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    customers_read = models.PositiveIntegerField(default=0)
    customers_stored = models.PositiveIntegerField(default=0)
    orders_read = models.PositiveIntegerField(default=0)
    orders_stored = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # ["customers line 7: bad email ...", ...], at most ERRORS_KEPT.
    errors = models.JSONField(default=list, blank=True)
    exact_matches = models.PositiveIntegerField(default=0)
    suggestions = models.PositiveIntegerField(default=0)
    # Why the import stopped, when it did (status FAILED).
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["brand", "-started_at"], name="customerimport_brand_idx")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent_done(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, round(100 * self.bytes_done / self.bytes_total))


class CustomerImportFile(models.Model):
    """An uploaded file waiting for the worker (uploads too big to import in the request).
    In the database rather than on disk: the web and worker containers share no volume.
    Deleted as soon as its import ends, whatever the outcome (personal data)."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers"
        ORDERS = "orders"

    customer_import = models.ForeignKey(
        CustomerImport, on_delete=models.CASCADE, related_name="files"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_import", "kind"], name="importfile_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_import_id} {self.kind}"
