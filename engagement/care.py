"""What routing and its parts (priority, follow-up) share: care settings as they read them, time
arithmetic that never overflows, and the keyset chunks their sweeps walk.

``shifted`` holds a moved time between EARLIEST and LATEST instead of overflowing (issue 9), so
a year-1 date already stored or a huge care setting never stops a brand's routing, its priority
refresh or its follow-up sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet

from engagement.models import CareSettings

# The times a shifted time is held to instead of raising OverflowError: a day inside
# datetime's range, so every time zone can still show them (issue 9).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def shifted(at: datetime, **delta: float) -> datetime:
    """``at + timedelta(**delta)``, held between EARLIEST and LATEST: a year-1 date already
    stored or a huge care setting gives a far time instead of an OverflowError that would stop
    every brand's routing (issue 9)."""
    try:
        moved = at + timedelta(**delta)
    except OverflowError:
        return LATEST if sum(delta.values()) > 0 else EARLIEST
    return min(max(moved, EARLIEST), LATEST)


def care_settings_for(brand_ids: set[int]) -> dict[int, CareSettings]:
    """The brands' CareSettings, creating defaults for brands that have none (2-3 queries).

    Idempotent (defaults are inserted with ignore_conflicts). Touches CareSettings only.
    """
    found = {c.brand_id: c for c in CareSettings.objects.filter(brand_id__in=brand_ids)}
    missing = brand_ids - set(found)
    if missing:
        CareSettings.objects.bulk_create(
            [CareSettings(brand_id=b) for b in sorted(missing)], ignore_conflicts=True
        )
        found.update({c.brand_id: c for c in CareSettings.objects.filter(brand_id__in=missing)})
    return found


def chunks_by_pk(queryset: QuerySet, *, size: int) -> Iterator[list]:
    """The rows of ``queryset`` in lists of at most ``size``, by ascending primary key.

    Keyset pages (pk > the last one seen), each read when the previous one has been handled:
    a sweep that updates the rows it has read never reads them again and never skips one.
    """
    last_pk = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_pk).order_by("pk")[:size])
        if not chunk:
            return
        last_pk = chunk[-1].pk
        yield chunk
