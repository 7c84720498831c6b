"""The common interface every source connector implements.

A connector turns a source's configuration into items in one shape (RawItem) and knows
nothing of the ORM or Celery: services persist what connectors return. Adding a source type is
a module in this package plus one entry in listening/connectors/registry.py.

Two kinds of connector:
- polled (Connector.fetch): beat schedules the source; each call returns one page of items
  since the cursor, and says whether another page is available right away (pagination,
  history backfill). The service stores the page, then saves the new cursor.
- live (StreamConnector.stream): a long-lived supervised process (manage.py run_streams)
  consumes a stream and receives batches of items with the cursor to resume from.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)


def cursor_load(raw: str, *, kind: str) -> dict[str, Any] | None:
    """A connector's JSON cursor: {} when there is none yet, None when it is unreadable.

    An unreadable cursor (hand-edited, from an older version) should mean a fresh start, not
    a source failing forever: storage is idempotent, so at worst a window is fetched again.
    """
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("%s: ignoring unreadable cursor %r", kind, raw[:200])
        return None
    return data


def datetime_from_unix(seconds: float) -> datetime | None:
    """Unix seconds as an aware UTC datetime; None where no datetime can hold them (a hostile
    or broken API's 10**20, inf or NaN), so one odd item is skipped, never the whole page."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class ConnectorError(Exception):
    """A fetch or parse failed. error_class is a short stable name shown in the fetch log."""

    error_class = "error"
    # Transient failures (timeouts, 429, 5xx) are retried with backoff; others are not.
    is_transient = False

    def __init__(
        self, message: str, *, http_status: int | None = None, error_name: str = ""
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        # The error name the platform gave in its JSON error body ("RecordNotFound" from an
        # XRPC server, Mastodon's "error" text), when it gave one.
        self.error_name = error_name


class SourceUnavailable(ConnectorError):
    """Network trouble that may pass: timeout, refused connection, 429, 5xx."""

    error_class = "unavailable"
    is_transient = True


class ConfigError(ConnectorError):
    """A source's configuration cannot work (missing option, bad value). Not retried."""

    error_class = "bad_config"


@dataclass(slots=True)
class RawItem:
    """One item as the source gave it, before cleaning, matching and scoring.

    This is Earshot's common mention shape (README "The common mention shape"): connectors,
    webhooks and imports all produce it. title and body may hold HTML and entities; services
    normalise them. external_id is the item's stable id at the source (feed GUID, post id, or
    a hash of link + title + date).
    """

    external_id: str
    url: str = ""
    title: str = ""
    body: str = ""
    author_handle: str = ""
    author_name: str = ""
    author_url: str = ""
    # Reach as of this mention: followers, or karma where that is what the platform has.
    author_followers: int | None = None
    published_at: datetime | None = None
    language: str = ""
    # Where the item was posted ("hackernews", "reddit", "mastodon", "bluesky", "web", ...);
    # empty means the connector's platform.
    platform: str = ""
    # Threads: the external id of the post this one replies to, and of the conversation root.
    in_reply_to: str = ""
    thread_id: str = ""
    # Engagement counts when the source gives them (None = unknown, not zero).
    like_count: int | None = None
    reply_count: int | None = None
    repost_count: int | None = None


@dataclass(slots=True)
class FetchedPage:
    """What one fetch of a source returned."""

    items: list[RawItem] = field(default_factory=list)
    http_status: int | None = None
    # True when the server answered 304 Not Modified: nothing to do.
    not_modified: bool = False
    # New conditional-GET validators to keep for the next poll.
    etag: str = ""
    last_modified: str = ""
    # Non-fatal problems (feed flagged ill-formed but parsed, items skipped): shown in admin.
    warnings: list[str] = field(default_factory=list)
    # The connector-owned cursor to store once these items are stored (None = keep the old
    # one). Opaque to services: connectors usually encode a small JSON object.
    cursor: str | None = None
    # Another page is available right now (next page of a search, older history during a
    # backfill): the service stores this page, then calls fetch again with the new cursor.
    has_more: bool = False
    # Human-readable backfill progress for admin, e.g. "history back to 2026-10-24 (3 pages)".
    progress: str = ""


@dataclass(slots=True, frozen=True)
class SourceState:
    """What a connector may know of a source: its address, options and cursor."""

    source_id: int
    kind: str
    url: str
    etag: str = ""
    last_modified: str = ""
    # Per-kind options validated by Connector.validate_config (hashtag, subreddit, token...).
    config: Mapping[str, Any] = field(default_factory=dict)
    # The cursor the connector returned last time; "" on the very first fetch.
    cursor: str = ""
    # Positive terms of the queries the source listens for (its brand's and competitors'),
    # for APIs that search server-side. Connectors OR them; Earshot matches locally anyway.
    search_terms: tuple[str, ...] = ()
    # On a first fetch (empty cursor): how far back history should be fetched, in pages.
    backfill_since: datetime | None = None

    @classmethod
    def from_source(cls, source: object, **extra: Any) -> SourceState:
        # Duck-typed on purpose: connectors stay free of ORM imports.
        return cls(
            source_id=source.pk,  # type: ignore[attr-defined]
            kind=source.kind,  # type: ignore[attr-defined]
            url=source.url,  # type: ignore[attr-defined]
            etag=source.etag,  # type: ignore[attr-defined]
            last_modified=source.last_modified,  # type: ignore[attr-defined]
            config=dict(getattr(source, "config", None) or {}),
            cursor=getattr(source, "cursor", "") or "",
            **extra,
        )


@dataclass(slots=True, frozen=True)
class ConfigField:
    """An option a connector takes, for admin help and add_source --option KEY=VALUE."""

    name: str
    help: str
    required: bool = False
    default: str = ""
    # Secrets (access tokens) are never printed back.
    secret: bool = False


@dataclass(slots=True)
class StreamBatch:
    """Items received from a live stream, and the cursor to resume from after them."""

    items: list[RawItem]
    cursor: str | None = None


@dataclass(slots=True)
class ReplyResult:
    """The outcome of posting a reply on the platform (used by the engagement queue)."""

    external_id: str = ""
    url: str = ""


class Connector:
    """Base class of polled connectors: fetch one page of items since the source's cursor."""

    kind: str = ""
    # The platform stamped on authors and mentions unless an item names its own.
    platform: str = "web"
    # What Source.url means for this kind (shown in admin) and its default.
    url_help: str = "The feed's URL."
    default_url: str = ""
    # Schemes Source.url may use; empty for kinds whose items are pushed to Earshot.
    url_schemes: tuple[str, ...] = ("http", "https")
    config_fields: tuple[ConfigField, ...] = ()
    is_live: bool = False
    # Polled on a schedule by beat (False for live streams and pushed kinds).
    is_polled: bool = True
    # Can reply() post on the platform (with credentials in the config)?
    supports_reply: bool = False
    # The longest reply the platform takes (None: Earshot's own limit), checked when the agent
    # sends it so that they can shorten it there and then.
    reply_max_chars: int | None = None

    def fetch(self, state: SourceState) -> FetchedPage:
        raise NotImplementedError

    @property
    def is_checked(self) -> bool:
        """Is a new source of this kind fetched once when saved? Not for pushed kinds."""
        return self.is_polled or self.is_live

    def check(self, state: SourceState) -> str:
        """Fetch once as the first poll would and say in a few words what came back ("12
        items"), storing nothing: the check of a source being saved (a dry run). Raises what
        fetch raises. A page that has more is not followed."""
        page = self.fetch(state)
        count = len(page.items)
        return f"{count} item{'' if count == 1 else 's'}"

    def validate_url(self, url: str) -> str:
        """Return the cleaned URL, or raise ConfigError saying what is wrong."""
        url = url.strip()
        if not self.url_schemes:
            if url:
                raise ConfigError(f"{self.kind} sources take no URL; leave it empty.")
            return ""
        schemes = " or ".join(self.url_schemes)
        example = self.default_url or f"{self.url_schemes[-1]}://news.example/feed.xml"
        if not url:
            raise ConfigError(f"Enter a {schemes} URL, e.g. {example}.")
        try:
            parts = urlsplit(url)
            has_host = bool(parts.hostname)
        except ValueError:
            has_host = False
        if parts.scheme.lower() not in self.url_schemes or not has_host:
            raise ConfigError(f"{url!r} is not a {schemes} URL (e.g. {example}).")
        return url

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return the cleaned config, or raise ConfigError saying what is wrong."""
        cleaned: dict[str, Any] = {}
        known = {f.name for f in self.config_fields}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(
                f"Unknown option(s) for {self.kind}: {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(known)) or 'none'}."
            )
        for option in self.config_fields:
            value = config.get(option.name, option.default)
            value = value.strip() if isinstance(value, str) else value
            if option.required and not value:
                raise ConfigError(f"Option {option.name!r} is required for {self.kind}.")
            if value not in ("", None):
                cleaned[option.name] = value
        return cleaned

    def reply_credentials_missing(self, config: Mapping[str, Any]) -> str:
        """Why this source's config cannot post replies (shown to the agent), or "" if it can.

        The default asks for an access_token; connectors that sign in otherwise override it.
        """
        if str(config.get("access_token") or "").strip():
            return ""
        return (
            "Earshot has no access token to reply on this source: reply there and mark it "
            "replied, or ask an admin to add one."
        )

    def reply(
        self,
        state: SourceState,
        in_reply_to: str,
        text: str,
        *,
        key: str = "",
        created_at: datetime | None = None,
    ) -> ReplyResult:
        """Post text as a public reply to the item in_reply_to (an external id).

        key is the same on every attempt at one reply (Earshot passes "earshot-reply-<id>")
        and created_at is when the agent wrote it: a connector uses them so that a retried
        attempt whose first try reached the platform (the worker died before recording it)
        does not post the reply twice. Raises ConfigError, ConnectorError subclasses
        (transient ones are retried) or NotImplementedError.
        """
        raise NotImplementedError(f"{self.kind} sources cannot post replies.")


class StreamConnector(Connector):
    """Base class of live connectors, run by the stream supervisor, never by beat."""

    is_live = True
    is_polled = False

    def stream(self, state: SourceState, *, stop: threading.Event) -> Iterator[StreamBatch]:
        """Connect once and yield batches until stop is set or the connection drops.

        Raise SourceUnavailable on a dropped or refused connection: the supervisor reconnects
        with backoff, resuming from the last cursor it stored. Yield often (every message or
        few): the supervisor groups batches before storing.
        """
        raise NotImplementedError

    def fetch(self, state: SourceState) -> FetchedPage:
        raise ConfigError(f"{self.kind} is a live source: run it with manage.py run_streams.")

    def check(self, state: SourceState) -> str:
        """Connect once without following the stream (see Connector.check)."""
        raise NotImplementedError
