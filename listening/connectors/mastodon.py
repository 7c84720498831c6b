"""Mastodon: polled hashtag timelines and status search, and a live hashtag stream.

Decisions (see also the connector docstrings):

* external_id is the status id *on the instance the source reads*, not the global ActivityPub
  uri. Mentions are unique per (source, external_id) and a source reads one instance, so the
  uri would not merge anything the id does not; and the id is what everything else speaks:
  in_reply_to_id names parents by id, min_id/max_id page by id, and reply() must post
  in_reply_to_id. The uri is still reachable through the mention's url.
* Reblogs: a reblog wrapper has no text of its own, so the reblogged status is mapped (its
  id, author and counts). Seen twice, it is stored once (same external id).
* thread_id: Mastodon gives no conversation id, only in_reply_to_id. A status that replies to
  nothing is its own root. For a reply we walk in_reply_to_id through the statuses of the same
  page; where the chain leaves the page we stop at the oldest ancestor we know of (at worst
  the parent). That groups a reply with its siblings without an extra context call per
  status; it is the true root only when the whole chain was in view.
* spoiler_text (content warning) becomes the title, content (HTML) the body.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from listening.connectors.base import (
    ConfigError,
    ConfigField,
    Connector,
    ConnectorError,
    FetchedPage,
    RawItem,
    ReplyResult,
    SourceState,
    SourceUnavailable,
    StreamBatch,
    StreamConnector,
    cursor_load,
)
from listening.connectors.http import BadResponse, HttpResponse, safe_get, safe_post, safe_stream
from listening.connectors.values import json_count, json_str
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded

logger = logging.getLogger(__name__)

__all__ = [
    "MastodonConnector",
    "MastodonStreamConnector",
    "SseEvent",
    "parse_link_header",
    "sse_events",
    "status_to_item",
]

# The most a timeline or search page may hold (Mastodon caps limit at 40).
PAGE_LIMIT = 40
DEFAULT_BACKFILL = timedelta(days=30)
# Catch-up pages fetched before streaming again: enough for a few minutes' outage of a busy
# tag; a longer gap is left to a polled source on the same tag.
CATCH_UP_MAX_PAGES = 5

_TAG_RE = re.compile(r"^[^\s#/?&]+$")
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


def _bearer(config: Mapping[str, Any]) -> dict[str, str]:
    token = str(config.get("access_token") or "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _base(url: str) -> str:
    return url.strip().rstrip("/")


def _clean_tag(value: str) -> str:
    tag = value.strip().removeprefix("#").strip()
    if tag and not _TAG_RE.match(tag):
        raise ConfigError(f"{value!r} is not a hashtag: give one tag without '#', e.g. acme.")
    return tag


def _int_id(value: object) -> int:
    # Ids are snowflakes in strings; compare them as integers (lengths differ).
    try:
        return int(str(value))
    except ValueError:
        return -1


def _newest(ids: Iterable[str], current: str = "") -> str:
    best = current
    for status_id in ids:
        if _int_id(status_id) > _int_id(best or "-1"):
            best = status_id
    return best


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- mapping ----------------------------------------------------------------------------


def _full_acct(account: Mapping[str, Any]) -> str:
    """user@instance: local accounts' acct has no domain, so take it from the profile URL."""
    acct = str(account.get("acct") or account.get("username") or "").strip()
    if not acct or "@" in acct:
        return acct
    host = urlsplit(str(account.get("url") or account.get("uri") or "")).hostname
    return f"{acct}@{host}" if host else acct


def status_to_item(status: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]]) -> RawItem:
    """Map one status (a reblog maps to the reblogged status). known: id -> status, for
    walking reply chains to their root. Raises KeyError/TypeError/ValueError when the status
    lacks what a mention needs (id, account)."""
    if isinstance(status.get("reblog"), Mapping):
        status = status["reblog"]
    status_id = str(status["id"])
    if not status_id.isdigit():
        raise ValueError(f"status id {status_id!r} is not a Mastodon id")
    account = status["account"]
    if not isinstance(account, Mapping):
        raise TypeError("status account is not an object")
    parent = str(status.get("in_reply_to_id") or "")
    thread_id = status_id
    if parent:
        thread_id, seen = parent, {status_id}
        while thread_id in known and thread_id not in seen:
            seen.add(thread_id)
            grand = str(known[thread_id].get("in_reply_to_id") or "")
            if not grand:
                break
            thread_id = grand
    return RawItem(
        external_id=status_id,
        url=json_str(status.get("url")) or json_str(status.get("uri")),
        title=json_str(status.get("spoiler_text")),
        body=json_str(status.get("content")),
        author_handle=_full_acct(account),
        author_name=json_str(account.get("display_name")),
        author_url=json_str(account.get("url")),
        author_followers=json_count(account.get("followers_count")),
        published_at=_parse_time(status.get("created_at")),
        language=json_str(status.get("language")),
        platform="mastodon",
        in_reply_to=parent,
        thread_id=thread_id,
        like_count=json_count(status.get("favourites_count")),
        reply_count=json_count(status.get("replies_count")),
        repost_count=json_count(status.get("reblogs_count")),
    )


def _statuses_to_items(
    statuses: list[Any], warnings: list[str], where: str
) -> tuple[list[RawItem], list[str]]:
    """Map what can be mapped; a malformed status is skipped with a warning, not fatal.

    Returns the items and the ids of every status (mapped or not) for paging: a bad status
    still occupies its place in the timeline."""
    known = {
        str(s["id"]): s
        for s in statuses
        if isinstance(s, Mapping) and isinstance(s.get("id"), str | int)
    }
    items: list[RawItem] = []
    skipped = 0
    for status in statuses:
        try:
            if not isinstance(status, Mapping):
                raise TypeError("not an object")
            items.append(status_to_item(status, known))
        except (KeyError, TypeError, ValueError) as exc:
            skipped += 1
            logger.warning("Skipping a malformed Mastodon status from %s: %r", where, exc)
    if skipped:
        warnings.append(f"Skipped {skipped} malformed status(es) from {where}.")
    ids = [sid for sid in known if sid.isdigit()]
    return items, ids


def _json_body(response: HttpResponse, url: str) -> Any:
    try:
        return json_loads_bounded(response.body, max_depth=API_JSON_MAX_DEPTH)
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError and JsonTooDeep
        raise BadResponse(
            f"Mastodon answered {url} with something that is not JSON: {exc}",
            http_status=response.status,
        ) from None


def parse_link_header(value: str) -> dict[str, str]:
    """RFC 8288 Link header -> {rel: url} (Mastodon sends rel="next" and rel="prev")."""
    links: dict[str, str] = {}
    for url, params in _LINK_RE.findall(value or ""):
        for param in params.split(";"):
            name, _, rel = param.strip().partition("=")
            if name.strip().lower() == "rel":
                for each in rel.strip().strip('"').split():
                    links.setdefault(each.lower(), url.strip())
    return links


def _link_param(links: Mapping[str, str], rel: str, param: str) -> str:
    values = parse_qs(urlsplit(links.get(rel, "")).query).get(param) or [""]
    return values[0] if values[0].isdigit() else ""


# --- cursor -----------------------------------------------------------------------------


@dataclass(slots=True)
class _FeedCursor:
    """Where one feed (a hashtag timeline or a search) stands.

    newest: the highest status id seen; forward polls ask only for statuses after it.
    walk_*: a walk towards older statuses in progress, page by page with max_id: the history
    backfill (stops at walk_since) or, for search, the gap below a full page of new results
    (stops at walk_floor). Search results come newest first, so a full page above min_id
    means more may sit between it and the old newest id.
    """

    newest: str = ""
    walk_max_id: str = ""
    walk_floor: str = ""
    walk_since: str = ""
    walk_pages: int = 0

    @classmethod
    def load(cls, data: object) -> _FeedCursor:
        if not isinstance(data, Mapping):
            return cls()
        walk = data.get("walk") if isinstance(data.get("walk"), Mapping) else {}
        return cls(
            newest=str(data.get("min_id") or ""),
            walk_max_id=str(walk.get("max_id") or ""),
            walk_floor=str(walk.get("floor") or ""),
            walk_since=str(walk.get("since") or ""),
            walk_pages=int(walk.get("pages") or 0),
        )

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {"min_id": self.newest}
        if self.walk_max_id:
            walk: dict[str, Any] = {"max_id": self.walk_max_id, "pages": self.walk_pages}
            if self.walk_floor:
                walk["floor"] = self.walk_floor
            if self.walk_since:
                walk["since"] = self.walk_since
            data["walk"] = walk
        return data

    def stop_walk(self) -> None:
        self.walk_max_id = self.walk_floor = self.walk_since = ""
        self.walk_pages = 0


@dataclass(slots=True)
class _FeedResult:
    items: list[RawItem] = field(default_factory=list)
    has_more: bool = False
    progress: str = ""
    http_status: int | None = None


def _load_cursor(raw: str, warnings: list[str]) -> dict[str, Any]:
    data = cursor_load(raw, kind="mastodon")
    if data is None:
        warnings.append("Ignored an unreadable cursor; starting again from the newest statuses.")
        return {}
    return data


# --- polled connector ---------------------------------------------------------------------


class MastodonConnector(Connector):
    """A hashtag timeline and/or a full-text status search on one Mastodon instance.

    Cursor: JSON {"tag": FEED, "search": FEED} with FEED = {"min_id": "<newest status id>",
    "walk": {"max_id": "<id>", "since": "<ISO date>" | "floor": "<id>", "pages": n}} (walk only
    while a history backfill or a search gap is being paged through). With neither hashtag
    nor query, the search uses the source's search terms.
    """

    kind = "mastodon"
    platform = "mastodon"
    url_help = "The Mastodon instance's base URL, e.g. https://mastodon.social."
    default_url = "https://mastodon.social"
    supports_reply = True
    # Statuses asked for per page; a full page means more may follow.
    page_limit: int = PAGE_LIMIT
    config_fields = (
        ConfigField("hashtag", "A hashtag to follow, without '#' (e.g. acmemobile)."),
        ConfigField(
            "query",
            "Full-text status search. Without hashtag or query the brand's search terms are "
            "searched. Most instances require an access token to search statuses.",
        ),
        ConfigField(
            "access_token",
            "An access token (read scope; write:statuses to reply), sent as a Bearer token.",
            secret=True,
        ),
    )

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if "hashtag" in cleaned:
            cleaned["hashtag"] = _clean_tag(str(cleaned["hashtag"]))
            if not cleaned["hashtag"]:
                del cleaned["hashtag"]
        return cleaned

    def fetch(self, state: SourceState) -> FetchedPage:
        base = _base(state.url)
        tag = _clean_tag(str(state.config.get("hashtag") or ""))
        query = str(state.config.get("query") or "").strip()
        if not tag and not query:
            query = " ".join(
                f'"{term}"' if " " in term.strip() else term.strip()
                for term in state.search_terms
                if term.strip()
            )
        if not tag and not query:
            raise ConfigError(
                "Give this Mastodon source a hashtag or a query (or give the brand a query)."
            )
        headers = _bearer(state.config)
        warnings: list[str] = []
        stored = _load_cursor(state.cursor, warnings)
        since = state.backfill_since or datetime.now(UTC) - DEFAULT_BACKFILL
        page = FetchedPage(warnings=warnings)
        cursor: dict[str, Any] = {}
        progress: list[str] = []
        feeds: list[tuple[str, str]] = []
        if tag:
            feeds.append(("tag", f"{base}/api/v1/timelines/tag/{quote(tag, safe='')}"))
        if query:
            feeds.append(("search", f"{base}/api/v2/search"))
        for name, endpoint in feeds:
            feed = _FeedCursor.load(stored.get(name))
            fresh = name not in stored
            result = _fetch_feed(
                name,
                endpoint,
                query,
                feed,
                fresh=fresh,
                since=since,
                limit=self.page_limit,
                headers=headers,
                warnings=warnings,
            )
            page.items.extend(result.items)
            page.has_more = page.has_more or result.has_more
            page.http_status = result.http_status
            cursor[name] = feed.dump()
            if result.progress:
                progress.append(result.progress)
        page.cursor = json.dumps(cursor, separators=(",", ":"), sort_keys=True)
        page.progress = "; ".join(progress)
        return page

    def reply(
        self,
        state: SourceState,
        in_reply_to: str,
        text: str,
        *,
        key: str = "",
        created_at: datetime | None = None,  # noqa: ARG002 - Mastodon dates posts itself
    ) -> ReplyResult:
        """Post text as a public reply to status in_reply_to (an id on this instance).

        key goes in the Idempotency-Key header: Mastodon answers a repeated POST with the same
        key (for an hour) with the status it already posted instead of posting again.
        """
        headers = _bearer(state.config)
        if not headers:
            raise ConfigError("Replying on Mastodon needs an access_token with write:statuses.")
        if not in_reply_to.isdigit():
            raise ConfigError(f"{in_reply_to!r} is not a Mastodon status id.")
        if not text.strip():
            raise ConfigError("A reply needs some text.")
        if key:
            headers = {**headers, "Idempotency-Key": key}
        url = f"{_base(state.url)}/api/v1/statuses"
        body = json.dumps({"status": text, "in_reply_to_id": in_reply_to}).encode("utf-8")
        response = safe_post(url, data=body, content_type="application/json", headers=headers)
        posted = _json_body(response, url)
        if not isinstance(posted, Mapping) or not posted.get("id"):
            raise BadResponse(f"Mastodon did not return the posted status from {url}.")
        return ReplyResult(
            external_id=str(posted["id"]), url=str(posted.get("url") or posted.get("uri") or "")
        )


def _fetch_feed(
    name: str,
    endpoint: str,
    query: str,
    feed: _FeedCursor,
    *,
    fresh: bool,
    since: datetime,
    limit: int,
    headers: dict[str, str],
    warnings: list[str],
) -> _FeedResult:
    """Fetch one page of one feed and move its cursor (in place)."""
    params: dict[str, str] = {"limit": str(limit)}
    if name == "search":
        params.update(q=query, type="statuses", resolve="false")
    walking = bool(feed.walk_max_id)
    if walking:
        params["max_id"] = feed.walk_max_id
        if feed.walk_floor:
            params["min_id"] = feed.walk_floor
    elif feed.newest:
        params["min_id"] = feed.newest
    url = f"{endpoint}?{urlencode(params)}"
    response = safe_get(url, headers={**headers, "Accept": "application/json"})
    data = _json_body(response, url)
    if name == "search":
        statuses = data.get("statuses") if isinstance(data, Mapping) else None
    else:
        statuses = data
    if not isinstance(statuses, list):
        raise BadResponse(
            f"Mastodon answered {url} without a list of statuses.", http_status=response.status
        )
    items, ids = _statuses_to_items(statuses, warnings, url)
    links = parse_link_header(response.headers.get("Link", ""))
    full = len(statuses) >= limit
    result = _FeedResult(http_status=response.status)
    oldest_id = min(ids, key=_int_id) if ids else ""

    if walking:
        if feed.walk_since:
            cutoff = _parse_time(feed.walk_since) or since
            items = [i for i in items if i.published_at is None or i.published_at >= cutoff]
            reached_cutoff = len(items) < len(statuses) or any(
                _parse_time(s.get("created_at")) < cutoff
                for s in statuses
                if isinstance(s, Mapping) and _parse_time(s.get("created_at"))
            )
        else:
            reached_cutoff = False
        # Link rel="next" points further back; its absence means the end of the timeline.
        older = _link_param(links, "next", "max_id") or oldest_id
        feed.walk_pages += 1
        feed.newest = _newest(ids, feed.newest)
        if full and older and not reached_cutoff and (name == "search" or "next" in links):
            feed.walk_max_id = older
            result.has_more = True
            if feed.walk_since:
                reached = min((i.published_at for i in items if i.published_at), default=None)
                when = f"{reached:%Y-%m-%d}" if reached else "?"
                result.progress = f"{name}: history back to {when} ({feed.walk_pages} pages)"
        else:
            if feed.walk_since:
                result.progress = (
                    f"{name}: history back to {feed.walk_since[:10]} complete "
                    f"({feed.walk_pages} pages)"
                )
            feed.stop_walk()
        result.items = items
        return result

    # Forward (or the very first page). The top of a timeline page after min_id is the next
    # min_id (Link rel="prev" says the same); more may follow when the page was full.
    previous = feed.newest
    feed.newest = _link_param(links, "prev", "min_id") or _newest(ids, feed.newest)
    feed.newest = _newest([feed.newest], previous)
    if fresh and not previous:
        # First page ever: walk back through history to the backfill date.
        items = [i for i in items if i.published_at is None or i.published_at >= since]
        if full and oldest_id and len(items) == len(statuses):
            feed.walk_max_id = _link_param(links, "next", "max_id") or oldest_id
            feed.walk_since = since.isoformat()
            feed.walk_pages = 1
            result.has_more = True
            result.progress = f"{name}: backfilling history to {since:%Y-%m-%d}"
        else:
            result.progress = f"{name}: history back to {since:%Y-%m-%d} complete (1 page)"
    elif full:
        if name == "search" and oldest_id:
            # Newest first: the rest of the new results lie below this page, above previous.
            feed.walk_max_id, feed.walk_floor, feed.walk_pages = oldest_id, previous, 1
        result.has_more = True
    result.items = items
    return result


# --- live stream ---------------------------------------------------------------------------


@dataclass(slots=True)
class SseEvent:
    event: str
    data: str
    id: str = ""


def sse_events(lines: Iterable[bytes]) -> Iterator[SseEvent | None]:
    """Parse Server-Sent Events (WHATWG HTML, "event stream interpretation").

    Yields an SseEvent per dispatched event, and None for each comment line (heartbeats such
    as ":thump"), so callers can tell the stream is alive. Multi-line data joins with "\n".
    """
    event, data, last_id = "", [], ""
    for raw in lines:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            yield None
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        # "retry" and unknown fields are ignored: the supervisor owns reconnect timing.


class MastodonStreamConnector(StreamConnector):
    """The live hashtag stream (GET /api/v1/streaming/hashtag?tag=...) as Server-Sent Events.

    Cursor: JSON {"min_id": "<newest status id received>"}. Mastodon streams cannot resume,
    so on (re)connect with a cursor the hashtag timeline is first read forward from min_id
    (up to CATCH_UP_MAX_PAGES pages) and those statuses are yielded before streaming.
    """

    kind = "mastodon-stream"
    platform = "mastodon"
    url_help = "The Mastodon instance's base URL, e.g. https://mastodon.social."
    default_url = "https://mastodon.social"
    config_fields = (
        ConfigField("hashtag", "The hashtag to stream, without '#'.", required=True),
        ConfigField(
            "access_token", "An access token (read scope), if the instance needs one.", secret=True
        ),
        ConfigField(
            "streaming_url",
            "The streaming server's base URL when it is not the instance URL (see "
            "/api/v2/instance configuration.urls.streaming). Redirects to another host drop "
            "the access token, so set this when the stream lives elsewhere.",
        ),
    )
    # No byte (not even a heartbeat; Mastodon sends one every ~15 s) for this long: a drop.
    idle_timeout: float = 60.0

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        cleaned["hashtag"] = _clean_tag(str(cleaned["hashtag"]))
        if not cleaned["hashtag"]:
            raise ConfigError("Option 'hashtag' is required for mastodon-stream.")
        return cleaned

    def check(self, state: SourceState) -> str:
        """Read the newest status of the hashtag timeline, as a reconnect's catch-up does: the
        instance, the tag and the token are checked; the stream itself is opened by
        run_streams."""
        tag = _clean_tag(str(state.config.get("hashtag") or ""))
        if not tag:
            raise ConfigError("Option 'hashtag' is required for mastodon-stream.")
        url = f"{_base(state.url)}/api/v1/timelines/tag/{quote(tag, safe='')}?limit=1"
        headers = {**_bearer(state.config), "Accept": "application/json"}
        data = _json_body(safe_get(url, headers=headers), url)
        if not isinstance(data, list):
            raise BadResponse(f"Mastodon answered {url} with JSON that is not a timeline.")
        return f"the #{tag} timeline answered"

    def stream(self, state: SourceState, *, stop: threading.Event) -> Iterator[StreamBatch]:
        tag = _clean_tag(str(state.config.get("hashtag") or ""))
        if not tag:
            raise ConfigError("Option 'hashtag' is required for mastodon-stream.")
        headers = _bearer(state.config)
        warnings: list[str] = []
        newest = str(_load_cursor(state.cursor, warnings).get("min_id") or "")
        base = _base(state.url)
        if newest:
            newest = yield from self._catch_up(base, tag, newest, headers, stop)
        stream_base = _base(str(state.config.get("streaming_url") or "")) or base
        url = f"{stream_base}/api/v1/streaming/hashtag?{urlencode({'tag': tag})}"
        lines = safe_stream(url, headers=headers, idle_timeout=self.idle_timeout, stop=stop)
        try:
            for event in sse_events(lines):
                if stop.is_set():
                    return
                if event is None or event.event != "update":
                    # Heartbeats; "delete" carries only an id and stored mentions are kept
                    # (retention is a separate policy); "status.update" edits are not applied.
                    continue
                item, status_id = self._parse_update(event.data, url)
                if item is not None:
                    newest = _newest([status_id], newest)
                    yield StreamBatch([item], json.dumps({"min_id": newest}))
        except SourceUnavailable:
            if stop.is_set():
                return
            raise
        finally:
            lines.close()
        if not stop.is_set():
            raise SourceUnavailable(f"The Mastodon stream {url} was closed by the server.")

    @staticmethod
    def _parse_update(data: str, url: str) -> tuple[RawItem | None, str]:
        """The item of an update event and the streamed status's own id (for the cursor)."""
        try:
            status = json_loads_bounded(data, max_depth=API_JSON_MAX_DEPTH)
            if not isinstance(status, Mapping):
                raise TypeError("update data is not an object")
            return status_to_item(status, {}), str(status["id"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning("Skipping a malformed update on %s: %r", url, exc)
            return None, ""

    @staticmethod
    def _catch_up(
        base: str, tag: str, newest: str, headers: dict[str, str], stop: threading.Event
    ) -> Iterator[StreamBatch]:
        """Yield what the timeline has after newest (what we missed); return the new newest."""
        endpoint = f"{base}/api/v1/timelines/tag/{quote(tag, safe='')}"
        for _ in range(CATCH_UP_MAX_PAGES):
            if stop.is_set():
                break
            url = f"{endpoint}?{urlencode({'limit': PAGE_LIMIT, 'min_id': newest})}"
            try:
                response = safe_get(url, headers={**headers, "Accept": "application/json"})
            except SourceUnavailable:
                raise  # a drop: the supervisor retries the whole connect
            except ConnectorError as exc:
                # The timeline may need auth the stream does not: stream anyway, say why.
                logger.warning("Mastodon catch-up from %s failed: %s", url, exc)
                break
            statuses = _json_body(response, url)
            if not isinstance(statuses, list):
                break
            warnings: list[str] = []
            items, ids = _statuses_to_items(statuses, warnings, url)
            if not ids:
                break
            links = parse_link_header(response.headers.get("Link", ""))
            newest = _newest([_link_param(links, "prev", "min_id"), *ids], newest)
            if items:
                yield StreamBatch(items, json.dumps({"min_id": newest}))
            if len(statuses) < PAGE_LIMIT:
                break
        return newest
