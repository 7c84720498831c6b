"""The funnel's Conversion and Retention steps (issue 12 section 4, filled by issue 14).

* conversion moment of an author: the earliest of
  - for each customer of the brand confirmed as this author (AuthorMatch, status confirmed):
    the customer's first order (Order.ordered_at), or, for a customer with no order, when
    the match was confirmed (decided_at, else created_at: exact matches confirm at once);
  - the author's first tracked-link sale (tracking Conversion.at of a click of theirs).
* Conversion over [since, until): authors of the range's Awareness step (they mentioned the
  brand in it) whose conversion moment is before ``until``. Neither the customer link nor
  the sale has to fall inside the range: a customer who speaks in the range is a converted
  author of the range, whenever they first bought; one who first bought after the range is
  not (yet) converted in it.
* Retention over [since, until): converted authors of the range whose conversion moment is
  at least RETENTION_DAYS before ``until`` and who, by ``until``, are still active (their
  latest mention of the brand before ``until`` is RETENTION_DAYS or more after their
  conversion) or still positive (that latest mention's effective label is positive).
  Converted authors spoke in the range, so their latest mention before ``until`` is in the
  range: the range's author cells hold it.
* Connected: the brand has imported customers, or made a tracked link, or received a
  conversion. Until then both steps are None ("not connected"); from then on 0 is a figure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, Max, Min

from brands.models import Brand
from customers.models import AuthorMatch, Customer
from listening.models import AuthorRollup
from listening.rollups import LATEST_NONE, author_cells_q, latest_label
from tracking.models import Conversion, TrackedLink

RETENTION_DAYS = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def brand_is_connected(*, brand_id: int) -> bool:
    """Whether the brand has customers, tracked links or conversions: one query (three
    EXISTS over the brands' indexes)."""
    return (
        Brand.objects.filter(pk=brand_id)
        .filter(
            Exists(Customer.objects.filter(brand_id=brand_id))
            | Exists(TrackedLink.objects.filter(brand_id=brand_id))
            | Exists(Conversion.objects.filter(brand_id=brand_id))
        )
        .exists()
    )


CUSTOMER = "customer record"
SALE = "tracked-link sale"


def conversion_moments(*, brand_id: int, until: datetime) -> dict[int, tuple[datetime, str]]:
    """{author id: (conversion moment, CUSTOMER or SALE: what it was)} for the brand's
    authors converted before ``until``. Two grouped queries: confirmed matches with their
    customers' first orders, and sales."""
    moments: dict[int, tuple[datetime, str]] = {}
    matches = (
        AuthorMatch.objects.filter(brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED)
        .annotate(first_order=Min("customer__orders__ordered_at"))
        .values_list("author_id", "first_order", "decided_at", "created_at")
    )
    for author_id, first_order, decided_at, created_at in matches:
        moment = first_order or decided_at or created_at
        if author_id not in moments or moment < moments[author_id][0]:
            moments[author_id] = (moment, CUSTOMER)
    sales = (
        Conversion.objects.filter(brand_id=brand_id, at__lt=until, click__author_id__isnull=False)
        .values("click__author_id")
        .annotate(first=Min("at"))
        .values_list("click__author_id", "first")
    )
    for author_id, first in sales:
        if author_id not in moments or first < moments[author_id][0]:
            moments[author_id] = (first, SALE)
    return {a: m for a, m in moments.items() if m[0] < until}


def _moment_of_key(key: int) -> datetime:
    return _EPOCH + timedelta(microseconds=key // 4)


@dataclass(frozen=True, slots=True)
class ConvertedAuthor:
    author_id: int
    converted_at: datetime
    converted_by: str
    latest_at: datetime
    latest_label: str
    is_retained: bool


def converted_authors(
    *, brand_id: int, since: datetime, until: datetime, moments: dict[int, tuple[datetime, str]]
) -> list[ConvertedAuthor]:
    """The range's converted authors (module docstring), each with whether they are
    retained: one query over the candidates' author cells in the range."""
    if not moments:
        return []
    latest = (
        AuthorRollup.objects.filter(
            author_cells_q(since, until), brand_id=brand_id, author_id__in=list(moments)
        )
        .values("author_id")
        .annotate(latest=Max("latest_key"))
        .values_list("author_id", "latest")
    )
    rows = []
    window = timedelta(days=RETENTION_DAYS)
    for author_id, key in latest:
        if key is None or key == LATEST_NONE:
            continue
        converted_at, converted_by = moments[author_id]
        latest_at, label = _moment_of_key(key), latest_label(key)
        settled = converted_at + window <= until
        retained = settled and (latest_at >= converted_at + window or label == "positive")
        rows.append(
            ConvertedAuthor(author_id, converted_at, converted_by, latest_at, label, retained)
        )
    rows.sort(key=lambda row: (row.converted_at, row.author_id))
    return rows


def conversion_counts(
    *,
    brand_id: int,
    since: datetime,
    until: datetime,
    cached: Callable[[str, Callable[[], tuple[int, int]]], tuple[int, int]],
) -> tuple[int | None, int | None]:
    """(Conversion, Retention) of the brand over [since, until), (None, None) while the
    brand is not connected. ``cached(kind, compute)`` keeps the figures per rollup
    generation (the authors' cells) and per set of conversion moments (a new confirmed
    match or sale is a new set, so it is never served a stale figure)."""
    if not brand_is_connected(brand_id=brand_id):
        return None, None
    moments = conversion_moments(brand_id=brand_id, until=until)
    if not moments:
        return 0, 0
    state = repr(sorted((a, m.timestamp()) for a, (m, _) in moments.items())).encode()
    digest = hashlib.blake2b(state, digest_size=12).hexdigest()

    def compute() -> tuple[int, int]:
        rows = converted_authors(brand_id=brand_id, since=since, until=until, moments=moments)
        return len(rows), sum(row.is_retained for row in rows)

    return cached(f"converted:{digest}", compute)
