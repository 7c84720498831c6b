"""The dashboard user's time zone: chosen on the page, kept in the session.

Users have no time zone of their own in Earshot yet; until they do, a dashboard page works in
the zone stored in the session by the selector on every charted page, else TIME_ZONE. Local
days (the date range, the day/week/month buckets, the drill-down dates) are days there.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

SESSION_KEY = "earshot_tz"


# Files of a tz database that are not zones a user lives in: "localtime" is the host's own
# zone (the web host's for Python, the database host's for PostgreSQL, which can differ, so
# the days counted would not be the days shown), the others are build artefacts.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones a user may choose, sorted (the host's tz database)."""
    return tuple(sorted(zoneinfo.available_timezones() - NOT_ZONES))


@cache
def _zone_option_tags() -> dict[str, str]:
    return {name: format_html("<option>{}</option>", name) for name in zone_names()}


def zone_options(chosen: str) -> SafeString:
    """The time zone <option>s with chosen selected, built once per process (600 of them
    through the template language cost more than a page's 50 rows or ten charts)."""
    tags = _zone_option_tags()
    selected = format_html("<option selected>{}</option>", chosen)
    parts = (selected if name == chosen else tag for name, tag in tags.items())
    return mark_safe("".join(parts))  # noqa: S308 (every part went through format_html)


def is_zone(name: str) -> bool:
    return name in zone_names()


def user_zone_name(request: HttpRequest) -> str:
    name = request.session.get(SESSION_KEY) or ""
    return name if is_zone(name) else settings.TIME_ZONE


def user_zone(request: HttpRequest) -> ZoneInfo:
    return ZoneInfo(user_zone_name(request))
