"""Views of the listening app."""

from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import condition, require_GET

from listening import demo


def _demo_now(request: HttpRequest) -> datetime:
    # One clock reading per request: the ETag, Last-Modified and the body must describe the
    # same list of items even when a new item's time passes mid-request.
    now = getattr(request, "_earshot_demo_now", None)
    if now is None:
        now = timezone.now()
        request._earshot_demo_now = now  # type: ignore[attr-defined]
    return now


def _demo_etag(request: HttpRequest, name: str, ext: str) -> str | None:
    spec = demo.feed_for(name, ext)
    return demo.feed_etag(spec, _demo_now(request)) if spec else None


def _demo_last_modified(request: HttpRequest, name: str, ext: str) -> datetime | None:
    spec = demo.feed_for(name, ext)
    return demo.feed_last_modified(spec, _demo_now(request)) if spec else None


@require_GET
@condition(etag_func=_demo_etag, last_modified_func=_demo_last_modified)
def demo_feed(request: HttpRequest, name: str, ext: str) -> HttpResponse:
    """One of the demo's sample feeds, served by Earshot itself so the worker can poll it.

    Conditional GET works (ETag and Last-Modified follow the newest listed item), so a
    re-poll before a new item is due gets a 304, as from a well-behaved real feed.
    """
    spec = demo.feed_for(name, ext)
    if spec is None:
        raise Http404("No such demo feed.")
    body = demo.render_feed(spec, _demo_now(request), request.build_absolute_uri())
    return HttpResponse(body, content_type=spec.content_type)
