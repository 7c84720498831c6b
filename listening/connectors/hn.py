"""Hacker News through Algolia's HN Search API (https://hn.algolia.com/api).

One request per page: ``GET {url}/api/v1/search_by_date`` with the source's search terms,
newest first, restricted to a time window with ``numericFilters`` on ``created_at_i``.

How the search terms become one query: Algolia has no OR operator in the query string (every
word must match), so the words of every term go into ``query`` *and* into ``optionalWords``:
with all words optional a hit needs only one of them, which is an OR. Multi-word terms are
split into their words ("acme mobile" -> acme, mobile), which is broader than the phrase;
Earshot matches every item locally with the exact brand query anyway, so the extra hits cost
bandwidth, never precision. One request per term would be exact but multiplies requests and
pagination state by the number of terms. Algolia raises the number of words a hit must match
only past the first 1,000 results of a query; we never page with ``page=`` but move the
time window instead, so every request reads the first page of a fresh query.

Paging (the cursor): items are fetched in "drains". A drain reads the window
``(floor, upper]`` newest first, one page per fetch, lowering ``upper`` to the oldest hit of
each page until a page is the last one. The first poll's floor is ``backfill_since`` (history);
later polls' floor is the newest ``created_at_i`` stored so far (forward polling). The newest
time seen in a drain only becomes the next floor once the drain is complete, so a restart in
the middle of a long backfill resumes it and later catches up on what arrived meanwhile,
without a gap. The cursor is a small JSON object::

    {"v": 1, "newest": <int|null>, "upper": <int|null>, "floor": <int|null>,
     "top": <int|null>, "pages": <int>}

``upper`` is set only while a drain is in progress.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from listening.connectors.base import (
    ConfigError,
    ConfigField,
    Connector,
    ConnectorError,
    FetchedPage,
    RawItem,
    SourceState,
    cursor_load,
    datetime_from_unix,
)
from listening.connectors.http import BadResponse, safe_get
from listening.connectors.values import json_count, json_int, json_str
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded, web_url

__all__ = ["HackerNewsConnector", "MalformedResponse"]

logger = logging.getLogger(__name__)

# Where item and author links point (SITE/item?id=..., SITE/user?id=...), unless a source's
# 'site' option names another: a stand-in API such as the demo's has its own.
HN_SITE = "https://news.ycombinator.com"

# Algolia's tag filter: comma = AND, parentheses = OR, e.g. "(story,comment)" or
# "story,author_pg". Tags are letters, digits and underscores (author_<name>, story_<id>).
_TAG = r"[A-Za-z0-9_-]+"
_TAG_GROUP = rf"(?:\({_TAG}(?:,{_TAG})*\)|{_TAG})"
_TAGS_RE = re.compile(rf"^{_TAG_GROUP}(?:,{_TAG_GROUP})*$")
# Algolia refuses queries longer than 512 bytes; keep a margin for encoding differences.
_MAX_QUERY_BYTES = 480
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


class MalformedResponse(BadResponse):
    """The API answered 200 with a body that is not the documented JSON shape."""

    # A BadResponse, so callers catching that catch this too; the name says what was wrong.
    error_class = "malformed_response"


class _KarmaCache:
    """username -> (karma or None, when fetched), shared by every HN source in the process.

    Karma changes slowly, and a busy thread has the same few authors on every page: an hour
    of caching keeps us from asking Algolia for the same user on every poll.
    """

    def __init__(self, ttl: float = 3600.0, failure_ttl: float = 300.0) -> None:
        self.ttl = ttl
        # A failed lookup is retried sooner than a good one is refreshed.
        self.failure_ttl = failure_ttl
        self._entries: dict[str, tuple[int | None, float, bool]] = {}
        self._lock = threading.Lock()

    def get(self, username: str) -> tuple[bool, int | None]:
        """(found fresh, karma)."""
        with self._lock:
            entry = self._entries.get(username)
        if entry is None:
            return False, None
        karma, fetched_at, ok = entry
        ttl = self.ttl if ok else self.failure_ttl
        if time.monotonic() - fetched_at > ttl:
            return False, None
        return True, karma

    def put(self, username: str, karma: int | None, *, ok: bool = True) -> None:
        with self._lock:
            self._entries[username] = (karma, time.monotonic(), ok)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def search_words(terms: Iterable[str]) -> list[str]:
    """The distinct words of the search terms, in order, as Algolia tokenises them.

    "#acmemobile" and "@acme" become their bare words: Algolia ignores the punctuation.
    """
    words: list[str] = []
    seen: set[str] = set()
    for term in terms:
        for word in _WORD_RE.findall(term.lower()):
            if word not in seen:
                seen.add(word)
                words.append(word)
    return words


class HackerNewsConnector(Connector):
    """Stories and comments from Algolia's HN Search API that mention the search terms."""

    kind = "hn"
    platform = "hackernews"
    url_help = "The HN Search API base URL (Algolia); leave the default."
    default_url = "https://hn.algolia.com"
    config_fields = (
        ConfigField(
            name="tags",
            help=(
                "Algolia tag filter: which item types to fetch. Comma = AND, parentheses = "
                'OR, e.g. "(story,comment)", "story", "(story,comment),author_pg".'
            ),
            default="(story,comment)",
        ),
        ConfigField(
            name="site",
            help=(
                f"Where item and author links point; leave empty for {HN_SITE}. A stand-in "
                "API (the demo's) names its own, e.g. https://hn.example."
            ),
        ),
    )
    # Hits per request: Algolia allows up to 1,000; 100 keeps a page small and quick.
    hits_per_page = 100
    # Author karma lookups per fetch: a busy page must not turn into 100 extra requests.
    max_karma_lookups = 10
    karma_cache = _KarmaCache()

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        tags = cleaned.get("tags", "")
        if not isinstance(tags, str):
            raise ConfigError("Option 'tags' must be text, e.g. \"(story,comment)\".")
        # Spaces around separators are harmless; a space between two tags is a typo.
        tags = re.sub(r"\s*([,()])\s*", r"\1", tags)
        if not _TAGS_RE.match(tags):
            raise ConfigError(
                f"Option 'tags' {tags!r} is not an Algolia tag filter: use tags made of "
                'letters, digits and underscores, joined by commas, with (a,b) for "either", '
                'e.g. "(story,comment)" or "story,author_pg".'
            )
        cleaned["tags"] = tags
        site = cleaned.get("site")
        if site is not None:
            if not isinstance(site, str) or web_url(site) != site or "?" in site or "#" in site:
                raise ConfigError(
                    f"Option 'site' {site!r} is not a web address: use an http(s) URL such "
                    f"as {HN_SITE}, or leave it empty."
                )
            cleaned["site"] = site.rstrip("/")
        return cleaned

    # --- fetch ----------------------------------------------------------------------------

    def fetch(self, state: SourceState) -> FetchedPage:
        warnings: list[str] = []
        words = search_words(state.search_terms)
        if not words:
            # An empty query would return all of Hacker News; nothing to listen for yet.
            return FetchedPage(
                warnings=["No search terms: add a query to the brand before polling HN."]
            )
        words, dropped = self._fit_query(words)
        if dropped:
            warnings.append(
                f"The HN query is limited to {_MAX_QUERY_BYTES} bytes; not searched for: "
                f"{', '.join(dropped)}."
            )
        cursor = cursor_load(state.cursor, kind=self.kind) or {}
        first_poll = not state.cursor
        upper = json_int(cursor.get("upper"))
        if upper is not None:
            # A drain is in progress: continue it.
            floor = json_int(cursor.get("floor"))
            top = json_int(cursor.get("top"))
            pages = json_int(cursor.get("pages")) or 0
        else:
            pages = 0
            top = json_int(cursor.get("newest"))
            if first_poll and state.backfill_since is not None:
                floor = int(state.backfill_since.timestamp())
            else:
                floor = top
        newest = json_int(cursor.get("newest"))

        tags = str(state.config.get("tags") or "(story,comment)")
        site = str(state.config.get("site") or HN_SITE)
        filters = []
        if floor is not None:
            filters.append(f"created_at_i>{floor}")
        if upper is not None:
            # <=, not <: hits sharing the oldest second of the last page may not all have
            # fitted on it. The repeated ones are stored once (idempotent by external_id).
            filters.append(f"created_at_i<={upper}")
        params = {
            "query": " ".join(words),
            "optionalWords": ",".join(words),
            "tags": tags,
            "hitsPerPage": str(self.hits_per_page),
        }
        if filters:
            params["numericFilters"] = ",".join(filters)
        url = f"{state.url.rstrip('/')}/api/v1/search_by_date?{urlencode(params)}"
        response = safe_get(url, headers={"Accept": "application/json"})
        hits, more = self._parse_search(response.body, url, response.status)

        items: list[RawItem] = []
        skipped = 0
        times: list[int] = []
        for hit in hits:
            item = self._item(hit, site)
            if item is None:
                skipped += 1
                continue
            items.append(item)
            times.append(int(hit["created_at_i"]))
        if skipped:
            warnings.append(
                f"Skipped {skipped} of {len(hits)} HN hit(s) missing objectID or created_at_i."
            )
        self._add_karma(state.url, items, warnings)

        pages += 1
        if times:
            top = max(times) if top is None else max(top, max(times))
        oldest = min(times) if times else None
        has_more = False
        if floor is None:
            # First poll without a backfill: just the newest page, then forward from it.
            upper = None
        elif more and oldest is not None:
            if upper is not None and oldest >= upper:
                # A whole page within one second (only if hitsPerPage hits share it): step
                # past it rather than loop on the same page.
                warnings.append(
                    f"More than {self.hits_per_page} HN hits at {oldest}; some may be missed."
                )
                oldest -= 1
            upper = oldest
            has_more = True
        else:
            upper = None
        if upper is None:
            # An empty window still moves the floor up to where it was read from, so the next
            # poll does not fall back to "newest page only" and miss a busy interval.
            newest = top if top is not None else floor
            progress = "up to date" + (
                f" (history fetched, {pages} page(s))" if first_poll or floor is None else ""
            )
            pages = 0
        else:
            when = datetime.fromtimestamp(upper, UTC).strftime("%Y-%m-%d %H:%M")
            progress = f"fetching back to {when} UTC ({pages} page(s) so far)"
        new_cursor = json.dumps(
            {
                "v": 1,
                "newest": newest,
                "upper": upper,
                "floor": floor if upper is not None else None,
                "top": top if upper is not None else None,
                "pages": pages,
            },
            separators=(",", ":"),
        )
        return FetchedPage(
            items=items,
            http_status=response.status,
            warnings=warnings,
            cursor=new_cursor,
            has_more=has_more,
            progress=progress,
        )

    @staticmethod
    def _fit_query(words: list[str]) -> tuple[list[str], list[str]]:
        kept: list[str] = []
        size = 0
        for index, word in enumerate(words):
            # query and optionalWords both carry every word (plus a separator each).
            size += 2 * (len(quote(word)) + 1)
            if size > _MAX_QUERY_BYTES:
                return kept, words[index:]
            kept.append(word)
        return kept, []

    @staticmethod
    def _parse_search(body: bytes, url: str, status: int) -> tuple[list[Any], bool]:
        try:
            data = json_loads_bounded(body, max_depth=API_JSON_MAX_DEPTH)
        except ValueError as exc:
            raise MalformedResponse(
                f"HN search returned invalid JSON from {url}: {exc} (body starts {body[:80]!r}).",
                http_status=status,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            raise MalformedResponse(
                f"HN search response from {url} is not Algolia's shape: expected an object "
                "with a 'hits' list.",
                http_status=status,
            )
        hits = data["hits"]
        nb_pages = json_int(data.get("nbPages"))
        page = json_int(data.get("page")) or 0
        if nb_pages is not None:
            more = nb_pages > page + 1
        else:
            # Without nbPages, a full page means there may be more.
            per_page = json_int(data.get("hitsPerPage")) or 0
            more = per_page > 0 and len(hits) >= per_page
        return hits, more

    def _item(self, hit: object, site: str) -> RawItem | None:
        if not isinstance(hit, dict):
            return None
        object_id = hit.get("objectID")
        created = json_int(hit.get("created_at_i"))
        if (
            not isinstance(object_id, str | int)
            or isinstance(object_id, bool)
            or not str(object_id)
        ):
            return None
        published_at = datetime_from_unix(created) if created is not None else None
        if published_at is None:
            return None
        object_id = str(object_id)
        tags = hit.get("_tags") if isinstance(hit.get("_tags"), list) else []
        comment_text = json_str(hit.get("comment_text"))
        is_comment = "comment" in tags or bool(comment_text)
        author = json_str(hit.get("author"))
        story_id = json_int(hit.get("story_id"))
        parent_id = json_int(hit.get("parent_id"))
        if is_comment:
            # Comments get no title: the story's title would make every comment under a
            # story that names the brand look like a mention of it. The story is the
            # thread (thread_id) instead.
            title = ""
            body = comment_text
            in_reply_to = str(parent_id) if parent_id is not None else ""
            thread_id = str(story_id) if story_id is not None else ""
        else:
            title = json_str(hit.get("title"))
            # Link stories have no text: their link is what they say.
            body = json_str(hit.get("story_text")) or json_str(hit.get("url"))
            in_reply_to = ""
            thread_id = object_id
        return RawItem(
            external_id=object_id,
            url=f"{site}/item?id={object_id}",
            title=title,
            body=body,
            author_handle=author,
            author_url=f"{site}/user?id={quote(author)}" if author else "",
            published_at=published_at,
            in_reply_to=in_reply_to,
            thread_id=thread_id,
            like_count=json_count(hit.get("points")),
            reply_count=json_count(hit.get("num_comments")),
        )

    # --- author karma ---------------------------------------------------------------------

    def _add_karma(self, base_url: str, items: list[RawItem], warnings: list[str]) -> None:
        """Set author_followers to karma, looking up at most max_karma_lookups new authors."""
        lookups = 0
        postponed = 0
        karma_by_author: dict[str, int | None] = {}
        for item in items:
            author = item.author_handle
            if not author:
                continue
            if author not in karma_by_author:
                fresh, karma = self.karma_cache.get(author)
                if not fresh:
                    if lookups >= self.max_karma_lookups:
                        # Left None now; a later poll (or the next page) looks it up.
                        postponed += 1
                        karma_by_author[author] = None
                        continue
                    lookups += 1
                    karma = self._lookup_karma(base_url, author, warnings)
                karma_by_author[author] = karma
            item.author_followers = karma_by_author[author]
        if postponed:
            logger.info("hn: %s karma lookup(s) postponed to keep the page quick", postponed)

    def _lookup_karma(self, base_url: str, username: str, warnings: list[str]) -> int | None:
        url = f"{base_url.rstrip('/')}/api/v1/users/{quote(username, safe='')}"
        try:
            response = safe_get(url, headers={"Accept": "application/json"})
            data = json_loads_bounded(response.body, max_depth=API_JSON_MAX_DEPTH)
            karma = json_int(data.get("karma")) if isinstance(data, dict) else None
            if karma is None:
                raise ValueError("no integer 'karma' in the response")
        except (ConnectorError, ValueError) as exc:
            # Karma is a nicety: the mention is stored without it.
            warnings.append(f"Could not look up HN karma of {username}: {exc}")
            self.karma_cache.put(username, None, ok=False)
            return None
        self.karma_cache.put(username, karma)
        return karma
