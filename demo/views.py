"""The demo's sample feeds and stand-in APIs, which the worker polls like real ones."""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import condition, require_GET

from demo import content


def _demo_now(request: HttpRequest) -> datetime:
    # One clock reading per request: the ETag, Last-Modified and the body must describe the
    # same list of items even when a new item's time passes mid-request.
    now = getattr(request, "_earshot_demo_now", None)
    if now is None:
        now = timezone.now()
        request._earshot_demo_now = now  # type: ignore[attr-defined]
    return now


def _demo_etag(request: HttpRequest, name: str, ext: str) -> str | None:
    spec = content.feed_for(name, ext)
    return content.feed_etag(spec, _demo_now(request)) if spec else None


def _demo_last_modified(request: HttpRequest, name: str, ext: str) -> datetime | None:
    spec = content.feed_for(name, ext)
    return content.feed_last_modified(spec, _demo_now(request)) if spec else None


@require_GET
@condition(etag_func=_demo_etag, last_modified_func=_demo_last_modified)
def demo_feed(request: HttpRequest, name: str, ext: str) -> HttpResponse:
    """One of the demo's sample feeds, served by Earshot itself so the worker can poll it.

    Conditional GET works (ETag and Last-Modified follow the newest listed item), so a
    re-poll before a new item is due gets a 304, as from a well-behaved real feed.
    """
    spec = content.feed_for(name, ext)
    if spec is None:
        raise Http404("No such demo feed.")
    body = content.render_feed(spec, _demo_now(request), request.build_absolute_uri())
    return HttpResponse(body, content_type=spec.content_type)


# --- The demo's Hacker News and Mastodon APIs ---------------------------------------------------
# Just enough of each API for Earshot's own connectors (and a curious curl) to read the demo
# content over HTTP, with the parameters and paging those connectors rely on.

_NUMERIC_FILTER_RE = re.compile(
    r"^\s*(created_at_i|points|num_comments)\s*(<=|>=|!=|<|>|=)\s*(-?\d+)\s*$"
)
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}
_WORDS_RE = re.compile(r"[^\W_]+", re.UNICODE)


def _algolia_error(message: str) -> JsonResponse:
    return JsonResponse({"message": message, "status": 400}, status=400)


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def _tags_match(tags_filter: str, item_tags: list[str]) -> bool:
    """Algolia's tag filter: comma-separated groups that must all match; a group in
    parentheses matches when any of its tags does."""
    groups = re.findall(r"\(([^)]*)\)|([^,()]+)", tags_filter)
    for in_parens, single in groups:
        wanted = [t.strip() for t in (in_parens or single).split(",") if t.strip()]
        if wanted and not any(tag in item_tags for tag in wanted):
            return False
    return True


@require_GET
def demo_hn_search(request: HttpRequest) -> JsonResponse:
    """The demo's stand-in for Algolia's HN ``/api/v1/search_by_date``, newest first.

    Honours numericFilters on created_at_i (and points / num_comments), tags, page and
    hitsPerPage. The query matches loosely: a hit needs any one of the query's words (case-
    insensitive, whole words), which is what the HN connector's optionalWords asks for; the
    exact brand query is then applied by Earshot itself, so a few hits come back unmatched.
    """
    try:
        page = max(_int_param(request, "page", 0), 0)
        per_page = min(max(_int_param(request, "hitsPerPage", 20), 1), content.HN_PAGINATION_LIMIT)
    except ValueError as exc:
        return _algolia_error(str(exc))
    filters: list[tuple[str, Callable[[int, int], bool], int]] = []
    for part in request.GET.get("numericFilters", "").split(","):
        if not part.strip():
            continue
        match = _NUMERIC_FILTER_RE.match(part)
        if match is None:
            return _algolia_error(f"Invalid numericFilters: {part!r}")
        field, op, value = match.groups()
        filters.append((field, _COMPARE[op], int(value)))
    words = {w.lower() for w in _WORDS_RE.findall(request.GET.get("query", ""))}
    tags_filter = request.GET.get("tags", "").strip()

    items = content.hn_items(_demo_now(request))
    comments = Counter(item.story_id for item in items if item.kind == "comment")
    hits = []
    for item in items:
        values = {
            "created_at_i": int(item.published.timestamp()),
            "points": item.points or 0,
            "num_comments": comments[item.object_id],
        }
        if not all(compare(values[field], value) for field, compare, value in filters):
            continue
        if tags_filter and not _tags_match(tags_filter, item.tags):
            continue
        if words and words.isdisjoint(_WORDS_RE.findall(item.search_text())):
            continue
        hits.append(content.hn_hit(item, comments[item.object_id]))
    # Like Algolia, only the first HN_PAGINATION_LIMIT hits of a query can be paged to.
    reachable = min(len(hits), content.HN_PAGINATION_LIMIT)
    nb_pages = math.ceil(reachable / per_page)
    start = page * per_page
    page_hits = hits[start : min(start + per_page, reachable)]
    return JsonResponse(
        {
            "hits": page_hits,
            "nbHits": len(hits),
            "page": page,
            "nbPages": nb_pages,
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "query": request.GET.get("query", ""),
            "params": request.META.get("QUERY_STRING", ""),
            "processingTimeMS": 1,
        },
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
def demo_hn_user(request: HttpRequest, username: str) -> JsonResponse:
    """A demo HN user's karma, which Earshot stores as the author's reach."""
    karma = content.hn_karma(username)
    if karma is None:
        return JsonResponse({"status": 404, "error": "Not Found"}, status=404)
    return JsonResponse({"username": username, "karma": karma, "about": ""})


MASTODON_DEFAULT_LIMIT = 20
MASTODON_MAX_LIMIT = 40


@require_GET
def demo_mastodon_tag(request: HttpRequest, tag: str) -> JsonResponse:
    """The demo's stand-in for Mastodon's ``/api/v1/timelines/tag/<tag>``.

    Newest first. max_id / since_id / min_id bound the ids as Mastodon does: since_id gives
    the newest statuses above it, min_id the ones immediately above it (the page right after
    a known status, for reading forward without gaps). The Link header points rel="next" at
    older statuses (max_id) and rel="prev" at newer ones (min_id).
    """
    bounds: dict[str, int] = {}
    for name in ("max_id", "since_id", "min_id"):
        raw = request.GET.get(name, "")
        if raw:
            if not raw.isdigit():
                return JsonResponse({"error": f"{name} must be a status id"}, status=422)
            bounds[name] = int(raw)
    raw_limit = request.GET.get("limit", "")
    limit = int(raw_limit) if raw_limit.isdigit() else MASTODON_DEFAULT_LIMIT
    limit = min(max(limit, 1), MASTODON_MAX_LIMIT)

    tag = tag.lower().lstrip("#")
    everything = content.toots(_demo_now(request))
    replies = Counter(t.in_reply_to for t in everything if t.in_reply_to is not None)
    tagged = [t for t in everything if tag in t.hashtags]
    lower = max(bounds.get("since_id", -1), bounds.get("min_id", -1))
    upper = bounds.get("max_id")
    window = [t for t in tagged if int(t.id) > lower and (upper is None or int(t.id) < upper)]
    # Newest first either way; min_id takes the oldest `limit` of the window instead.
    page = window[-limit:] if "min_id" in bounds else window[:limit]
    response = JsonResponse(
        [content.toot_status(t, replies[t.index]) for t in page],
        safe=False,
        json_dumps_params={"ensure_ascii": False},
    )
    if page:
        base = request.build_absolute_uri(request.path)
        response["Link"] = (
            f'<{base}?{urlencode({"limit": limit, "max_id": page[-1].id})}>; rel="next", '
            f'<{base}?{urlencode({"limit": limit, "min_id": page[0].id})}>; rel="prev"'
        )
    return response
