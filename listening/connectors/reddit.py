"""Reddit through its public JSON listings (no OAuth app needed).

Two modes, by the ``subreddit`` option:

* without it, ``GET {url}/search.json?q=...&sort=new`` searches all of Reddit for posts
  (Reddit's search covers posts, not comments). The search terms are ORed:
  ``acme OR "acme mobile" OR acmemobile``; Earshot matches each item locally with the exact
  brand query anyway.
* with it, ``GET {url}/r/<sub>/new.json`` (posts) and ``{url}/r/<sub>/comments.json``
  (comments) read everything posted there, one page of each per fetch.

Every request asks for ``limit=100&raw_json=1`` (raw_json: text fields without HTML-entity
escaping). Listings are newest first and paged with ``after``.

Paging (the cursor): each listing ("posts", "comments") is read in "drains". A drain starts at
the top of the listing and follows ``after`` until it reaches an item at or below its floor, or
the listing ends. The first poll's floor is ``backfill_since`` (history); later polls' floor is
the newest ``created_utc`` stored so far, so forward polling reads only the first page unless
more than a page arrived. We stop on a timestamp rather than asking for ``before=<fullname>``:
a ``before`` anchor that gets deleted makes Reddit return empty pages forever. The newest item
of a drain becomes the next floor only once the drain is done, so a restart mid-backfill
resumes it and then catches up without a gap. Cursor::

    {"v": 1, "posts": {"newest": <float|null>, "newest_name": "t3_..", "after": <str|null>,
                       "floor": <float|null>, "floor_name": "..", "top": .., "top_name": ..,
                       "pages": <int>},
     "comments": {...}}

Rate limits: Reddit reports ``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset`` (seconds). When
fewer than ``min_ratelimit_remaining`` requests are left, paging stops (has_more False) with a
warning; the cursor keeps its place, so the next poll continues.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from listening.connectors.base import (
    ConfigError,
    ConfigField,
    Connector,
    FetchedPage,
    RawItem,
    SourceState,
    cursor_load,
    datetime_from_unix,
)
from listening.connectors.http import BadResponse, HttpResponse, RateLimited, safe_get
from listening.connectors.values import json_count, json_int, json_str
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded

__all__ = ["MalformedResponse", "RedditConnector", "search_query"]

logger = logging.getLogger(__name__)

REDDIT_WEB = "https://www.reddit.com"
_SUBREDDIT_RE = re.compile(r"^[A-Za-z0-9_]{2,21}$")
# Reddit truncates search queries at 512 characters.
_MAX_QUERY_CHARS = 500
_DELETED = "[deleted]"


class MalformedResponse(BadResponse):
    """The API answered 200 with a body that is not a Reddit Listing."""

    # A BadResponse, so callers catching that catch this too; the name says what was wrong.
    error_class = "malformed_response"


def search_query(terms: Iterable[str]) -> tuple[str, list[str]]:
    """Reddit search syntax ORing the terms: ``a OR "b c"``; returns (query, terms left out).

    Hashtag and handle marks are dropped: Reddit's search ignores the punctuation. Double
    quotes inside a term would end the phrase early, so they are removed.
    """
    parts: list[str] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for term in terms:
        cleaned = " ".join(term.replace('"', " ").lstrip("#@").split())
        if not cleaned or cleaned.lower() in seen:
            continue
        seen.add(cleaned.lower())
        part = f'"{cleaned}"' if " " in cleaned else cleaned
        if len(" OR ".join([*parts, part])) > _MAX_QUERY_CHARS:
            dropped.append(term)
            continue
        parts.append(part)
    return " OR ".join(parts), dropped


@dataclass(slots=True)
class _Stream:
    """Paging state of one listing, as stored in the cursor."""

    newest: float | None = None
    newest_name: str = ""
    after: str | None = None
    floor: float | None = None
    floor_name: str = ""
    top: float | None = None
    top_name: str = ""
    pages: int = 0

    @classmethod
    def load(cls, data: object) -> _Stream:
        if not isinstance(data, dict):
            return cls()

        def number(key: str) -> float | None:
            value = data.get(key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return float(value) if ok else None

        def text(key: str) -> str:
            return json_str(data.get(key))

        pages = data.get("pages")
        return cls(
            newest=number("newest"),
            newest_name=text("newest_name"),
            after=text("after") or None,
            floor=number("floor"),
            floor_name=text("floor_name"),
            top=number("top"),
            top_name=text("top_name"),
            pages=pages if isinstance(pages, int) and not isinstance(pages, bool) else 0,
        )

    def dump(self) -> dict[str, Any]:
        return {
            "newest": self.newest,
            "newest_name": self.newest_name,
            "after": self.after,
            "floor": self.floor,
            "floor_name": self.floor_name,
            "top": self.top,
            "top_name": self.top_name,
            "pages": self.pages,
        }


@dataclass(slots=True)
class _Listing:
    items: list[tuple[float, str, RawItem]] = field(default_factory=list)
    after: str | None = None
    skipped: int = 0
    total: int = 0


class _RateLimitMemory:
    """When Reddit last said its rate-limit window resets, per API host.

    safe_get's RateLimited carries only Retry-After, which Reddit's 429s often omit; the
    X-Ratelimit-Reset of the last good answer is the next best estimate.
    """

    def __init__(self) -> None:
        self._reset_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, base_url: str, reset_seconds: float) -> None:
        with self._lock:
            self._reset_at[base_url] = time.monotonic() + reset_seconds

    def seconds_left(self, base_url: str) -> float | None:
        with self._lock:
            reset_at = self._reset_at.get(base_url)
        if reset_at is None:
            return None
        return max(0.0, reset_at - time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._reset_at.clear()


def _header_number(response: HttpResponse, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class RedditConnector(Connector):
    """Posts (and, in a subreddit, comments) from Reddit's public JSON listings."""

    kind = "reddit"
    platform = "reddit"
    url_help = "Reddit's base URL; leave the default."
    default_url = REDDIT_WEB
    config_fields = (
        ConfigField(
            name="subreddit",
            help=(
                "Read every post and comment of this subreddit (e.g. python) instead of "
                "searching all of Reddit for the brand's terms."
            ),
        ),
    )
    limit = 100
    # Stop paging when fewer requests than this are left in Reddit's rate-limit window.
    min_ratelimit_remaining = 2.0
    rate_limits = _RateLimitMemory()

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if "subreddit" in cleaned:
            value = cleaned["subreddit"]
            if not isinstance(value, str):
                raise ConfigError("Option 'subreddit' must be text, e.g. python.")
            # People paste "r/python" or "/r/python/": the name is what we need.
            name = re.sub(r"^/?r/", "", value.strip()).strip("/")
            if not _SUBREDDIT_RE.match(name):
                raise ConfigError(
                    f"Option 'subreddit' {value!r} is not a subreddit name: 2 to 21 letters, "
                    "digits or underscores, without r/ (e.g. python)."
                )
            cleaned["subreddit"] = name
        return cleaned

    # --- fetch ----------------------------------------------------------------------------

    def fetch(self, state: SourceState) -> FetchedPage:
        warnings: list[str] = []
        base = state.url.rstrip("/")
        subreddit = str(state.config.get("subreddit") or "")
        cursor = cursor_load(state.cursor, kind=self.kind) or {}
        first_poll = not state.cursor
        common = {"limit": str(self.limit), "raw_json": "1"}
        if subreddit:
            paths = {
                "posts": (f"{base}/r/{quote(subreddit)}/new.json", dict(common)),
                "comments": (f"{base}/r/{quote(subreddit)}/comments.json", dict(common)),
            }
        else:
            query, dropped = search_query(state.search_terms)
            if not query:
                # An empty search would be all of Reddit; nothing to listen for yet.
                return FetchedPage(
                    warnings=["No search terms: add a query to the brand or set a subreddit."]
                )
            if dropped:
                warnings.append(
                    f"The Reddit query is limited to {_MAX_QUERY_CHARS} characters; not "
                    f"searched for: {', '.join(dropped)}."
                )
            paths = {"posts": (f"{base}/search.json", {"q": query, "sort": "new", **common})}

        streams = {name: _Stream.load(cursor.get(name)) for name in paths}
        # Mid-drain, only the listings still draining are read: the others are up to date
        # and would just repeat their first page.
        draining = [name for name, stream in streams.items() if stream.after]
        active = draining or list(paths)

        items: list[RawItem] = []
        has_more = False
        status: int | None = None
        progress: list[str] = []
        for name in active:
            stream = streams[name]
            if not stream.after:
                # A new drain: from the top of the listing down to what is stored already.
                stream.floor, stream.floor_name = stream.newest, stream.newest_name
                if first_poll and state.backfill_since is not None:
                    stream.floor, stream.floor_name = state.backfill_since.timestamp(), ""
                stream.top, stream.top_name, stream.pages = stream.newest, stream.newest_name, 0
            url, params = paths[name]
            if stream.after:
                params["after"] = stream.after
            request_url = f"{url}?{urlencode(params)}"
            response = self._get(request_url, base)
            status = response.status
            listing = self._parse_listing(response.body, request_url, response.status)
            if listing.skipped:
                warnings.append(
                    f"Skipped {listing.skipped} of {listing.total} Reddit {name} missing "
                    "name, kind or created_utc."
                )
            reached = False
            floor_key = (stream.floor, _id_number(stream.floor_name))
            for created, fullname, item in listing.items:
                key = (created, _id_number(fullname))
                if stream.floor is not None and key <= floor_key:  # type: ignore[operator]
                    reached = True
                    continue
                items.append(item)
                if stream.top is None or key > (stream.top, _id_number(stream.top_name)):
                    stream.top, stream.top_name = created, fullname
            stream.pages += 1
            if stream.floor is not None and not reached and listing.after:
                stream.after = listing.after
                has_more = True
                progress.append(f"{name}: {stream.pages} page(s) fetched, more to come")
            else:
                # Reached what was stored (or the end of the listing): the drain is done. An
                # empty drain keeps its floor, so the next poll still stops there.
                if stream.top is not None:
                    stream.newest, stream.newest_name = stream.top, stream.top_name
                else:
                    stream.newest, stream.newest_name = stream.floor, stream.floor_name
                stream.after = None
                stream.floor, stream.floor_name = None, ""
                stream.pages = 0
            if self._rate_limit_low(response, warnings):
                has_more = False
                break

        new_cursor = json.dumps(
            {"v": 1, **{name: stream.dump() for name, stream in streams.items()}},
            separators=(",", ":"),
        )
        return FetchedPage(
            items=items,
            http_status=status,
            warnings=warnings,
            cursor=new_cursor,
            has_more=has_more,
            progress="; ".join(progress) if progress else "up to date",
        )

    def _get(self, url: str, base: str) -> HttpResponse:
        try:
            response = safe_get(url, headers={"Accept": "application/json"})
        except RateLimited as exc:
            if exc.retry_after is None:
                wait = self.rate_limits.seconds_left(base)
                if wait is not None:
                    raise RateLimited(
                        f"{exc} Reddit's rate-limit window resets in {wait:.0f} s.",
                        retry_after=wait,
                        http_status=exc.http_status,
                    ) from None
            raise
        reset = _header_number(response, "X-Ratelimit-Reset")
        if reset is not None:
            self.rate_limits.note(base, reset)
        return response

    def _rate_limit_low(self, response: HttpResponse, warnings: list[str]) -> bool:
        remaining = _header_number(response, "X-Ratelimit-Remaining")
        if remaining is None or remaining >= self.min_ratelimit_remaining:
            return False
        reset = _header_number(response, "X-Ratelimit-Reset")
        if reset is None:
            when = "at an unknown time"
        else:
            at = datetime.now(UTC) + timedelta(seconds=reset)
            when = f"in {reset:.0f} s (at {at:%H:%M:%S} UTC)"
        warnings.append(
            f"Reddit rate limit nearly used up ({remaining:g} request(s) left); it resets "
            f"{when}. Paging stopped here and resumes on the next poll."
        )
        return True

    # --- parsing --------------------------------------------------------------------------

    def _parse_listing(self, body: bytes, url: str, status: int) -> _Listing:
        try:
            data = json_loads_bounded(body, max_depth=API_JSON_MAX_DEPTH)
        except ValueError as exc:
            raise MalformedResponse(
                f"Reddit returned invalid JSON from {url}: {exc} (body starts {body[:80]!r}).",
                http_status=status,
            ) from None
        is_listing = isinstance(data, dict) and data.get("kind") == "Listing"
        inner = data.get("data") if is_listing else None
        children = inner.get("children") if isinstance(inner, dict) else None
        if not isinstance(inner, dict) or not isinstance(children, list):
            raise MalformedResponse(
                f"Reddit response from {url} is not a Listing: expected "
                '{"kind": "Listing", "data": {"children": [...]}}.',
                http_status=status,
            )
        after = inner.get("after")
        listing = _Listing(after=after if isinstance(after, str) and after else None)
        for child in children:
            listing.total += 1
            parsed = self._item(child)
            if parsed is None:
                listing.skipped += 1
            else:
                listing.items.append(parsed)
        return listing

    def _item(self, child: object) -> tuple[float, str, RawItem] | None:
        if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
            return None
        kind, data = child.get("kind"), child["data"]
        if kind not in ("t3", "t1"):
            return None
        created = data.get("created_utc")
        if not isinstance(created, int | float) or isinstance(created, bool):
            return None
        published_at = datetime_from_unix(created)
        if published_at is None:
            return None
        name = data.get("name")
        if not isinstance(name, str) or not name:
            ident = data.get("id")
            if not isinstance(ident, str) or not ident:
                return None
            name = f"{kind}_{ident}"
        author = json_str(data.get("author"))
        if author == _DELETED:
            # The item stays (what was said still counts); the account is gone.
            author = ""
        permalink = json_str(data.get("permalink"))
        if kind == "t3":
            body = json_str(data.get("selftext_html")) or json_str(data.get("selftext"))
            if not body and not data.get("is_self"):
                # A link post says what it links to.
                body = json_str(data.get("url"))
            item = RawItem(
                external_id=name,
                url=REDDIT_WEB + permalink if permalink.startswith("/") else "",
                title=json_str(data.get("title")),
                body=body,
                thread_id=name,
                reply_count=json_count(data.get("num_comments")),
            )
        else:
            if not permalink.startswith("/"):
                # Older comment listings have no permalink; this form always resolves.
                link = json_str(data.get("link_id")).removeprefix("t3_")
                sub = json_str(data.get("subreddit"))
                ident = name.removeprefix("t1_")
                permalink = f"/r/{sub}/comments/{link}/_/{ident}/" if link and sub else ""
            # No title for comments: the post's title would make every comment under a post
            # naming the brand look like a mention of it. The post is the thread instead.
            item = RawItem(
                external_id=name,
                url=REDDIT_WEB + permalink if permalink else "",
                body=json_str(data.get("body_html")) or json_str(data.get("body")),
                in_reply_to=json_str(data.get("parent_id")),
                thread_id=json_str(data.get("link_id")),
            )
        item.author_handle = author
        item.author_url = f"{REDDIT_WEB}/user/{quote(author)}/" if author else ""
        item.published_at = published_at
        score = json_int(data.get("score"))
        # Reddit scores go below zero; Earshot stores counts, and a downvoted item has no
        # likes to speak of.
        item.like_count = max(score, 0) if score is not None else None
        return float(created), name, item


def _id_number(fullname: str) -> int:
    """The base-36 id of a fullname (t3_5jo13y), or -1.

    Reddit ids grow with creation time, so they order items posted within the same second,
    which created_utc alone cannot.
    """
    try:
        return int(fullname.split("_", 1)[1], 36)
    except (IndexError, ValueError):
        return -1
