"""The user's chosen time zone on every page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.timezones import user_zone


class UserTimeZoneMiddleware:
    """Times on every page in the zone the user chose on the dashboard (kept in the session;
    TIME_ZONE until they choose one), so an author page opened from the dashboard's authors
    shows the same local times as the charts that linked to it. The dashboard's own views
    also set it themselves, for the streamed exports that are written after this returns."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with timezone.override(user_zone(request)):
            return self.get_response(request)
