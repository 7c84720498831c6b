"""Project-wide middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.utils.cache import patch_cache_control

from config.checks import PRODUCTION_HINT

logger = logging.getLogger(__name__)


class PrivatePagesMiddleware:
    """`Cache-Control: private, no-store` on every response to a signed-in user.

    Queue, case and dashboard pages carry customers' posts and agents' notes: no shared
    cache may keep them, nor the browser's back/forward cache after sign-out. Static files
    never get here (WhiteNoise answers them earlier) and stay cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class StaticFilesMissingMiddleware:
    """A page that names a static file the manifest lacks (collectstatic never ran, or ran
    without the front-end packages) answers a plain 500 saying what to run, not a bare
    "Server Error": the error page itself would need the same files (issue 11). gunicorn
    refuses to start in that state already (config/checks.py); this covers runserver and any
    other server."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # ManifestStaticFilesStorage raises a bare ValueError; its message is the only mark.
        if not (isinstance(exception, ValueError) and "staticfiles manifest" in str(exception)):
            return None
        message = (
            "Earshot cannot serve pages: its static files are not collected "
            f"({exception}).\n{PRODUCTION_HINT}\n"
        )
        logger.error("static files are not collected: %s", exception)
        return HttpResponseServerError(message, content_type="text/plain; charset=utf-8")
