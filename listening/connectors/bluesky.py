"""Bluesky: polled search (AppView searchPosts) and the live Jetstream firehose.

BlueskyConnector ("bluesky") polls ``app.bsky.feed.searchPosts`` on an AppView (the public one
by default) for the brand's terms. JetstreamConnector ("jetstream") consumes Jetstream, the
JSON re-encoding of the network's firehose, over a WebSocket and keeps every new post; Earshot
matches the brand queries locally, as for every source.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.exceptions import ConnectionClosed

from listening.connectors.base import (
    ConfigError,
    ConfigField,
    Connector,
    FetchedPage,
    RawItem,
    SourceState,
    SourceUnavailable,
    StreamBatch,
    StreamConnector,
    cursor_load,
)
from listening.connectors.http import BadResponse, ConnectorError, InvalidURL, safe_get
from listening.connectors.websocket import parse_ws_url, safe_websocket_connect

__all__ = ["BlueskyConnector", "JetstreamConnector"]

logger = logging.getLogger(__name__)

_POST_COLLECTION = "app.bsky.feed.post"
_WEB = "https://bsky.app"
# History fetched on a first poll when the service does not say (SourceState.backfill_since).
_DEFAULT_BACKFILL = timedelta(days=30)
# searchPosts' maximum page size.
_PAGE_SIZE = 100
# app.bsky.actor.getProfiles accepts at most 25 actors per request.
_PROFILES_PER_REQUEST = 25
_PROFILE_CACHE_SECONDS = 3600.0
_PROFILE_CACHE_MAX = 50_000
# Forward polls ask for posts since the newest one seen minus this overlap: the search index
# is not strictly in order (a post indexed a moment late would otherwise fall in the gap).
# What the overlap fetches again is recognised by external_id and not stored twice.
_FORWARD_OVERLAP = timedelta(minutes=2)
# One run (a backfill, or a forward poll after a long outage) stops after this many pages:
# the AppView stops paginating deep result sets anyway, and a server that keeps handing out
# cursors must not keep a source paging forever.
_MAX_RUN_PAGES = 100
# Terms that need quoting in searchPosts' Lucene-like syntax (spaces, operators, quotes).
_BARE_TERM_RE = re.compile(r"^[\w#@.'-]+$")


def _parse_datetime(value: object) -> datetime | None:
    """An AT Protocol datetime (ISO 8601) as an aware datetime, or None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The lexicon requires an offset, but records are written by arbitrary clients.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _first_language(record: Mapping[str, Any]) -> str:
    langs = record.get("langs")
    if isinstance(langs, list) and langs and isinstance(langs[0], str):
        return langs[0]
    return ""


def _reply_uris(record: Mapping[str, Any]) -> tuple[str, str]:
    """(parent uri, root uri) of a reply record, ("", "") for a top-level post."""
    reply = record.get("reply")
    if not isinstance(reply, dict):
        return "", ""

    def uri(ref: object) -> str:
        value = ref.get("uri") if isinstance(ref, dict) else None
        return value if isinstance(value, str) else ""

    return uri(reply.get("parent")), uri(reply.get("root"))


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_query(terms: Iterable[str]) -> str:
    """OR the search terms in searchPosts syntax; phrases and operator-like terms quoted."""
    parts: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        if not term:
            continue
        if _BARE_TERM_RE.match(term) and term.upper() not in ("OR", "AND", "NOT"):
            parts.append(term)
        else:
            parts.append('"' + term.replace('"', " ").strip() + '"')
    return " OR ".join(dict.fromkeys(parts))


# --- polled search --------------------------------------------------------------------------


@dataclass(slots=True)
class _SearchCursor:
    """BlueskyConnector's cursor, stored as small JSON.

    A *run* walks searchPosts from the newest post down to ``floor`` (backfill_since on the
    first poll, the newest post seen before, minus an overlap, afterwards), one page per fetch,
    following the API's cursor in ``page``. ``top`` is the newest post of the current run; when
    the run ends it becomes ``newest`` and ``page`` is cleared. A run longer than the service's
    pages per poll simply continues at the next poll.
    """

    newest: str = ""  # indexedAt of the newest post stored so far (ISO), "" before any
    floor: str = ""  # lower bound of the current run (ISO), "" when no run is in progress
    page: str = ""  # the API's cursor for the next page of the current run
    top: str = ""  # newest indexedAt seen in the current run
    pages: int = 0  # pages fetched in the current run, for progress
    backfill: bool = False  # the current run is the first-poll history backfill

    @classmethod
    def load(cls, raw: str) -> _SearchCursor:
        data = cursor_load(raw, kind="bluesky")
        if data is None:
            # Start a forward poll from a day back rather than a whole new backfill.
            return cls(newest=_iso(datetime.now(UTC) - timedelta(days=1)))
        if not data:
            return cls()
        return cls(
            newest=str(data.get("newest") or ""),
            floor=str(data.get("floor") or ""),
            page=str(data.get("page") or ""),
            top=str(data.get("top") or ""),
            pages=int(data.get("pages") or 0),
            backfill=bool(data.get("backfill")),
        )

    def dump(self) -> str:
        data: dict[str, Any] = {"newest": self.newest}
        if self.floor:
            data.update(floor=self.floor, page=self.page, top=self.top, pages=self.pages)
            if self.backfill:
                data["backfill"] = True
        return json.dumps(data, separators=(",", ":"))


@dataclass(slots=True)
class _ProfileCache:
    """Followers counts by DID for an hour; shared by every fetch of one connector instance."""

    entries: dict[tuple[str, str], tuple[int | None, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str]) -> tuple[bool, int | None]:
        with self.lock:
            entry = self.entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key: tuple[str, str], followers: int | None) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.entries) >= _PROFILE_CACHE_MAX:
                # Drop expired entries, then the oldest half if still full: bounded memory in
                # a long-lived worker.
                self.entries = {k: v for k, v in self.entries.items() if v[1] >= now}
                if len(self.entries) >= _PROFILE_CACHE_MAX:
                    ordered = sorted(self.entries.items(), key=lambda kv: kv[1][1])
                    self.entries = dict(ordered[len(ordered) // 2 :])
            self.entries[key] = (followers, now + _PROFILE_CACHE_SECONDS)


class BlueskyConnector(Connector):
    """Bluesky posts matching the brand terms, via app.bsky.feed.searchPosts.

    The cursor is JSON (see _SearchCursor): ``{"newest": ISO}`` between runs, plus
    ``floor``/``page``/``top``/``pages`` (and ``backfill``) while a run is paging.
    """

    kind = "bluesky"
    platform = "bluesky"
    default_url = "https://public.api.bsky.app"
    url_help = (
        "The Bluesky AppView to search (base URL, without /xrpc). The public AppView needs "
        "no account; another AppView or a PDS proxy may need an access token."
    )
    config_fields = (
        ConfigField(
            "query",
            'searchPosts query (Lucene-like: words, "phrases", OR, from:handle, lang:en...). '
            "Default: the brand's and competitors' terms ORed.",
        ),
        ConfigField(
            "access_token",
            "Optional access token (Bearer) for AppViews that require authentication.",
            secret=True,
        ),
    )

    def __init__(self) -> None:
        self._profiles = _ProfileCache()

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if url and urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ConfigError(f"The Bluesky AppView URL must be http(s), not {url!r}.")
        return cleaned

    def _headers(self, state: SourceState) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = str(state.config.get("access_token") or "").strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def fetch(self, state: SourceState) -> FetchedPage:
        query = str(state.config.get("query") or "").strip() or build_query(state.search_terms)
        if not query:
            raise ConfigError(
                "Nothing to search for: set the 'query' option or give the brand a query."
            )
        base = (state.url or self.default_url).rstrip("/")
        cursor = _SearchCursor.load(state.cursor)
        now = datetime.now(UTC)
        if not cursor.floor:
            # Start a run: history back to backfill_since on the very first poll, otherwise
            # everything since the newest post we already have.
            if cursor.newest:
                newest = _parse_datetime(cursor.newest) or now
                floor, cursor.backfill = newest - _FORWARD_OVERLAP, False
            else:
                floor = state.backfill_since or now - _DEFAULT_BACKFILL
                cursor.backfill = True
            cursor.floor, cursor.page, cursor.top, cursor.pages = _iso(floor), "", "", 0
        floor = _parse_datetime(cursor.floor) or now

        params: dict[str, str] = {
            "q": query,
            "sort": "latest",
            "limit": str(_PAGE_SIZE),
            "since": cursor.floor,
        }
        if cursor.page:
            params["cursor"] = cursor.page
        url = f"{base}/xrpc/app.bsky.feed.searchPosts?{urlencode(params)}"
        headers = self._headers(state)
        response = safe_get(url, headers=headers)
        try:
            data = json.loads(response.body)
        except ValueError as exc:
            raise BadResponse(
                f"searchPosts answered something that is not JSON: {exc}",
                http_status=response.status,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
            raise BadResponse(
                "searchPosts answered JSON without a 'posts' list.", http_status=response.status
            )

        items: list[RawItem] = []
        authors: dict[str, list[RawItem]] = {}
        skipped = 0
        reached_floor = False
        for view in data["posts"]:
            mapped = _map_post_view(view)
            if mapped is None:
                skipped += 1
                continue
            item, indexed_at, did = mapped
            if indexed_at is not None:
                if indexed_at < floor:
                    # sort=latest: everything after this is older still.
                    reached_floor = True
                    continue
                if not cursor.top or indexed_at > (_parse_datetime(cursor.top) or floor):
                    cursor.top = _iso(indexed_at)
            items.append(item)
            if did:
                authors.setdefault(did, []).append(item)

        warnings: list[str] = []
        if skipped:
            warnings.append(f"Skipped {skipped} malformed post(s) in the searchPosts answer.")
        warnings.extend(self._fill_followers(base, headers, authors))

        api_cursor = data.get("cursor")
        api_cursor = api_cursor if isinstance(api_cursor, str) and api_cursor else ""
        cursor.pages += 1
        has_more = bool(api_cursor) and bool(data["posts"]) and not reached_floor
        if has_more and (api_cursor == cursor.page or cursor.pages >= _MAX_RUN_PAGES):
            # The same cursor again would fetch the same page forever.
            warnings.append(
                f"Stopped paging searchPosts after {cursor.pages} page(s) "
                f"(cursor {api_cursor!r}); older posts of this run are not fetched."
            )
            has_more = False
        progress = ""
        if cursor.backfill:
            oldest = min((i.published_at for i in items if i.published_at), default=None)
            if has_more and oldest is not None:
                progress = f"history back to {oldest:%Y-%m-%d} ({cursor.pages} pages)"
            elif not has_more:
                progress = f"history back to {floor:%Y-%m-%d} complete ({cursor.pages} pages)"
        if has_more:
            cursor.page = api_cursor
        else:
            # Run finished: the next poll asks only for what is newer than this run's top.
            top = cursor.top or cursor.newest
            if top:
                cursor.newest = top
            elif cursor.backfill:
                # Nothing at all found: still move forward, or every poll re-backfills.
                cursor.newest = _iso(now)
            cursor.floor = cursor.page = cursor.top = ""
            cursor.pages, cursor.backfill = 0, False
        return FetchedPage(
            items=items,
            http_status=response.status,
            warnings=warnings,
            cursor=cursor.dump(),
            has_more=has_more,
            progress=progress,
        )

    def _fill_followers(
        self, base: str, headers: dict[str, str], authors: dict[str, list[RawItem]]
    ) -> list[str]:
        """Set author_followers from getProfiles (searchPosts' basic profile lacks it)."""
        missing: list[str] = []
        for did, items in authors.items():
            found, followers = self._profiles.get((base, did))
            if found:
                for item in items:
                    item.author_followers = followers
            else:
                missing.append(did)
        failures = 0
        for start in range(0, len(missing), _PROFILES_PER_REQUEST):
            chunk = missing[start : start + _PROFILES_PER_REQUEST]
            url = f"{base}/xrpc/app.bsky.actor.getProfiles?" + urlencode(
                [("actors", did) for did in chunk]
            )
            try:
                response = safe_get(url, headers=headers)
                data = json.loads(response.body)
                profiles = data.get("profiles") if isinstance(data, dict) else None
                if not isinstance(profiles, list):
                    raise BadResponse("getProfiles answered JSON without a 'profiles' list.")
            except (ConnectorError, ValueError) as exc:
                # Followers are nice to have: the posts are stored anyway, reach unknown.
                failures += 1
                logger.warning("Bluesky getProfiles failed for %d actor(s): %s", len(chunk), exc)
                continue
            for profile in profiles:
                if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
                    continue
                followers = _count(profile.get("followersCount"))
                self._profiles.put((base, profile["did"]), followers)
                for item in authors.get(profile["did"], []):
                    item.author_followers = followers
        if failures:
            return [
                f"Followers counts unavailable for some authors: {failures} getProfiles "
                "request(s) failed."
            ]
        return []


def _map_post_view(view: object) -> tuple[RawItem, datetime | None, str] | None:
    """A searchPosts postView as (item, indexedAt, author DID); None when unusable."""
    if not isinstance(view, dict):
        return None
    uri, author, record = view.get("uri"), view.get("author"), view.get("record")
    if not isinstance(uri, str) or not uri.startswith("at://") or not isinstance(record, dict):
        return None
    author = author if isinstance(author, dict) else {}
    handle = author.get("handle") if isinstance(author.get("handle"), str) else ""
    did = author.get("did") if isinstance(author.get("did"), str) else ""
    if not did:
        did = uri[len("at://") :].split("/", 1)[0]
    # A handle can be "handle.invalid" (no verified DNS/HTTPS proof); the DID still links.
    profile = handle if handle and handle != "handle.invalid" else did
    indexed_at = _parse_datetime(view.get("indexedAt"))
    parent, root = _reply_uris(record)
    text = record.get("text")
    display_name = author.get("displayName")
    item = RawItem(
        external_id=uri,
        url=f"{_WEB}/profile/{profile}/post/{_rkey(uri)}",
        title="",
        body=text if isinstance(text, str) else "",
        author_handle=handle or did,
        author_name=display_name if isinstance(display_name, str) else "",
        author_url=f"{_WEB}/profile/{profile}",
        published_at=_parse_datetime(record.get("createdAt")) or indexed_at,
        language=_first_language(record),
        platform="bluesky",
        in_reply_to=parent,
        thread_id=root or uri,
        like_count=_count(view.get("likeCount")),
        reply_count=_count(view.get("replyCount")),
        repost_count=_count(view.get("repostCount")),
    )
    return item, indexed_at, did


# --- live: Jetstream ------------------------------------------------------------------------


def _map_jetstream_event(event: object) -> tuple[int, RawItem | None]:
    """(time_us, post create as a RawItem); None for other events (likes, deletes, identity...).

    Raises ValueError when the event is malformed (not an object, fields missing or of the
    wrong type) so the caller can count it. Called for every firehose event, so it looks each
    field up once and builds only what the item needs (see bench/stream.py).
    """
    if not isinstance(event, dict):
        raise ValueError("event is not a JSON object")
    kind = event.get("kind")
    if not isinstance(kind, str):
        raise ValueError("event has no kind")
    time_us = event.get("time_us")
    if not isinstance(time_us, int):
        raise ValueError("event has no integer time_us")
    if kind != "commit":
        return time_us, None  # identity and account events carry no content
    commit = event.get("commit")
    did = event.get("did")
    if not isinstance(commit, dict) or not isinstance(did, str) or not did.startswith("did:"):
        raise ValueError("commit event without a commit object or did")
    if commit.get("collection") != _POST_COLLECTION or commit.get("operation") != "create":
        return time_us, None
    record, rkey = commit.get("record"), commit.get("rkey")
    if not isinstance(record, dict) or not isinstance(rkey, str) or not rkey:
        raise ValueError("post create without a record or rkey")
    uri = f"at://{did}/{_POST_COLLECTION}/{rkey}"
    # Most posts are not replies: skip the helper's dict walk for them.
    parent, root = _reply_uris(record) if "reply" in record else ("", "")
    text = record.get("text")
    published_at = _parse_datetime(record.get("createdAt"))
    if published_at is None:
        # A record without a usable createdAt: when Jetstream received it is the best guess.
        published_at = datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)
    profile = f"{_WEB}/profile/{did}"
    item = RawItem(
        external_id=uri,
        # bsky.app resolves DIDs in profile URLs, so links work without a handle lookup.
        url=f"{profile}/post/{rkey}",
        body=text if isinstance(text, str) else "",
        # Jetstream events carry the DID only, never the handle: resolving it would cost a
        # request per author at firehose rates, so the DID stands in as the handle.
        author_handle=did,
        author_url=profile,
        published_at=published_at,
        language=_first_language(record),
        platform="bluesky",
        in_reply_to=parent,
        thread_id=root or uri,
    )
    return time_us, item


class JetstreamConnector(StreamConnector):
    """Every new Bluesky post, live, from a Jetstream instance (v1 JSON events).

    The cursor is the newest event's ``time_us`` (microseconds since the epoch) as a decimal
    string. Jetstream replays from a cursor on connect; we rewind it a few seconds, as
    Jetstream's docs recommend for gapless playback, and storage drops the repeats by
    external_id.
    """

    kind = "jetstream"
    platform = "bluesky"
    default_url = "wss://jetstream2.us-east.bsky.network/subscribe"
    url_schemes = ("ws", "wss")
    url_help = (
        "A Jetstream subscribe endpoint (wss://…/subscribe). Earshot asks it for "
        "app.bsky.feed.post events only and matches your queries locally."
    )

    def __init__(
        self,
        *,
        batch_size: int = 100,
        batch_seconds: float = 0.2,
        cursor_rewind_seconds: float = 5.0,
        connect_timeout: float | None = None,
    ) -> None:
        # A batch goes out after batch_size items or batch_seconds, whichever comes first:
        # big enough to store efficiently at firehose rates, small enough to stay live.
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.cursor_rewind_us = int(cursor_rewind_seconds * 1_000_000)
        self.connect_timeout = connect_timeout

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if url:
            try:
                parse_ws_url(url)
            except InvalidURL as exc:
                raise ConfigError(f"Jetstream URL: {exc}") from None
        return cleaned

    def subscribe_url(self, state: SourceState) -> str:
        """The URL to connect to: the endpoint, post events only, and the rewound cursor."""
        base = state.url or self.default_url
        params = [("wantedCollections", _POST_COLLECTION)]
        if state.cursor.strip().isdigit():
            # Jetstream replays from cursor; rewind for gapless playback (see class docstring).
            since = max(0, int(state.cursor) - self.cursor_rewind_us)
            params.append(("cursor", str(since)))
        elif state.cursor:
            logger.warning("Ignoring unreadable jetstream cursor %r", state.cursor[:100])
        separator = "&" if urlsplit(base).query else "?"
        return f"{base}{separator}{urlencode(params)}"

    def stream(self, state: SourceState, *, stop: threading.Event) -> Iterator[StreamBatch]:
        url = self.subscribe_url(state)
        connection = safe_websocket_connect(url, timeout=self.connect_timeout, close_timeout=1.0)
        items: list[RawItem] = []
        newest: int | None = int(state.cursor) if state.cursor.strip().isdigit() else None
        cursor_sent = newest
        malformed = 0
        deadline = time.monotonic() + self.batch_seconds

        def batch() -> StreamBatch:
            nonlocal items, cursor_sent, deadline
            out = StreamBatch(items, str(newest) if newest is not None else None)
            items, cursor_sent = [], newest
            deadline = time.monotonic() + self.batch_seconds
            return out

        try:
            while not stop.is_set():
                # Short waits so stop and the batch timer are checked a few times a second.
                wait = max(0.0, min(deadline - time.monotonic(), 0.2))
                try:
                    message = connection.recv(timeout=wait)
                except TimeoutError:
                    message = None
                except ConnectionClosed as exc:
                    # Hand over what arrived before the drop, then report it.
                    if items or newest != cursor_sent:
                        yield batch()
                    raise SourceUnavailable(
                        f"Jetstream connection to {state.url or self.default_url} closed: {exc}"
                    ) from None
                if message is not None:
                    try:
                        time_us, item = _map_jetstream_event(json.loads(message))
                    except ValueError as exc:
                        malformed += 1
                        logger.debug("Skipping malformed Jetstream event: %s", exc)
                    else:
                        # Events are not strictly ordered by time_us; the newest bounds the
                        # resume point, and the rewind covers the stragglers.
                        if newest is None or time_us > newest:
                            newest = time_us
                        if item is not None:
                            items.append(item)
                if len(items) >= self.batch_size or (
                    time.monotonic() >= deadline and (items or newest != cursor_sent)
                ):
                    yield batch()
                elif time.monotonic() >= deadline:
                    deadline = time.monotonic() + self.batch_seconds
            if items or newest != cursor_sent:
                yield batch()
        finally:
            if malformed:
                logger.warning(
                    "Jetstream source %s: skipped %d malformed event(s).",
                    state.source_id,
                    malformed,
                    extra={"source_id": state.source_id},
                )
            connection.close()
