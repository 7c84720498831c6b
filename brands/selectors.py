"""Reads of sign-in and membership."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from brands.models import LoginAttempt, Membership


def login_refused_until(
    *, username: str, ip: str | None, limit: int, window: timedelta, known_since: datetime
) -> datetime | None:
    """When sign-in for this username from this address is refused: the moment it opens again.

    Two limits, both `limit` failures within `window` (issue 9):
    - this username from this address: a stranger guessing from elsewhere never counts
      against the real user's own address, so they cannot lock the user out;
    - this address over every username (password spraying), which does not hold for a
      username that signed in successfully from this address since `known_since`: people
      behind the same NAT as an attacker keep signing in to their own accounts.
    None when neither holds. Reads through login_pair_idx, login_ip_idx and
    login_success_idx, at most one row each.
    """
    since = timezone.now() - window
    failures = LoginAttempt.objects.filter(succeeded=False, at__gte=since).order_by("-at")
    lookups = [{"username": username, "ip": ip}]
    if ip is not None:
        known = LoginAttempt.objects.filter(
            username=username, ip=ip, succeeded=True, at__gte=known_since
        ).exists()
        if not known:
            lookups.append({"ip": ip})
    reopen_at = None
    for lookup in lookups:
        # The limit-th newest failure: once it leaves the window, the count drops below limit.
        row = failures.filter(**lookup).values_list("at", flat=True)[limit - 1 : limit]
        for at in row:
            candidate = at + window
            reopen_at = candidate if reopen_at is None else max(reopen_at, candidate)
    return reopen_at


def membership_roles(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("brand").order_by("brand__name")
