"""The one sign-in limiter: every path that checks a password goes through it.

backends.LimitedModelBackend calls these from `authenticate()`, so the sign-in
page, the admin's sign-in page and any later API that calls
django.contrib.auth.authenticate(request=...) share one count (issue 9).
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from brands.models import LoginAttempt
from brands.selectors import login_refused_until

# Set on the request by the backend when it refused without checking the password, so the
# form on the page can say why (authenticate() itself can only answer "no user").
REFUSED_UNTIL_ATTR = "earshot_signin_refused_until"

# Lone surrogates, which PostgreSQL refuses to store (this app may not import listening.outside).
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def signin_key(*, request: HttpRequest | None, username: object) -> tuple[str, str | None]:
    """The (username, address) an attempt is counted under, safe to store.

    The username is what the visitor typed: NUL and lone surrogates (which PostgreSQL
    refuses) become U+FFFD and it is cut to the column's 150 characters. The address is
    REMOTE_ADDR (behind a proxy that rewrites it, set it from the proxy's header in the
    proxy, not here), or None when it is missing or not an address.
    """
    text = str(username or "").strip().replace("\x00", "\ufffd")
    text = _SURROGATE_RE.sub("\ufffd", text)[:150]
    raw = (request.META.get("REMOTE_ADDR") or "") if request is not None else ""
    try:
        ip = str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        ip = None
    return text, ip


def signin_refused_until(*, username: str, ip: str | None) -> datetime | None:
    """When this username may try again from this address, or None if it may now.

    Read-only; the limits are EARSHOT_LOGIN_RATE_LIMIT failures in EARSHOT_LOGIN_RATE_WINDOW
    seconds, and an address that signed in within EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS is known.
    """
    now = timezone.now()
    return login_refused_until(
        username=username,
        ip=ip,
        limit=settings.EARSHOT_LOGIN_RATE_LIMIT,
        window=timedelta(seconds=settings.EARSHOT_LOGIN_RATE_WINDOW),
        known_since=now - timedelta(days=settings.EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS),
    )


def signin_attempt_record(*, username: str, ip: str | None, succeeded: bool) -> None:
    """Store one attempt. Not idempotent by design: each call is one more attempt.

    Touches LoginAttempt only. A refused attempt is recorded as a failure, so an attacker
    who keeps trying keeps the window closed.
    """
    LoginAttempt.objects.create(username=username, ip=ip, succeeded=succeeded)


# Rows deleted per statement: short transactions, so sign-ins never wait on the prune.
_PRUNE_BATCH = 10_000


def login_attempts_prune(*, now: datetime | None = None) -> int:
    """Delete the attempts no limit reads any more; return how many.

    Failures older than EARSHOT_LOGIN_FAILURES_KEEP_DAYS (the limiter reads only its window,
    never longer than that) and successes older than EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS (what
    makes an address known). Idempotent; in batches, each its own statement."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.EARSHOT_LOGIN_RATE_WINDOW)
    failures_before = now - max(timedelta(days=settings.EARSHOT_LOGIN_FAILURES_KEEP_DAYS), window)
    successes_before = now - timedelta(days=settings.EARSHOT_LOGIN_KNOWN_ADDRESS_DAYS)
    stale = LoginAttempt.objects.filter(
        Q(succeeded=False, at__lt=failures_before) | Q(succeeded=True, at__lt=successes_before)
    )
    deleted = 0
    while True:
        ids = list(stale.values_list("pk", flat=True)[:_PRUNE_BATCH])
        if not ids:
            return deleted
        # Nothing refers to an attempt: Django deletes them with one statement.
        deleted += LoginAttempt.objects.filter(pk__in=ids).delete()[0]


def signin_refused_message(refused_until: datetime) -> str:
    """What the visitor reads while refused, rounded up to whole minutes."""
    minutes = max(1, math.ceil((refused_until - timezone.now()).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many sign-in attempts; try again in {minutes} {unit}."


def signin_refused_for(request: HttpRequest | None) -> datetime | None:
    """The refusal the backend noted on this request, if it refused one."""
    return getattr(request, REFUSED_UNTIL_ATTR, None) if request is not None else None
