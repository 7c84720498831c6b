"""The common interface every source connector implements.

A connector turns a source's configuration into items in one shape (RawItem) and knows
nothing of the ORM or Celery: services persist what connectors return. Adding a source type is
a module in this package plus one entry in listening/connectors/registry.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class ConnectorError(Exception):
    """A fetch or parse failed. error_class is a short stable name shown in the fetch log."""

    error_class = "error"
    # Transient failures (timeouts, 429, 5xx) are retried with backoff; others are not.
    is_transient = False

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class SourceUnavailable(ConnectorError):
    """Network trouble that may pass: timeout, refused connection, 429, 5xx."""

    error_class = "unavailable"
    is_transient = True


@dataclass(slots=True)
class RawItem:
    """One item as the source gave it, before cleaning, matching and scoring.

    title and body may hold HTML and entities; services normalise them. external_id is the
    item's stable id at the source (feed GUID, or a hash of link + title + date).
    """

    external_id: str
    url: str = ""
    title: str = ""
    body: str = ""
    author_handle: str = ""
    author_name: str = ""
    author_url: str = ""
    author_followers: int | None = None
    published_at: datetime | None = None
    language: str = ""


@dataclass(slots=True)
class FetchedPage:
    """What one fetch round of a source returned."""

    items: list[RawItem] = field(default_factory=list)
    http_status: int | None = None
    # True when the server answered 304 Not Modified: nothing to do.
    not_modified: bool = False
    # New conditional-GET validators to keep for the next poll.
    etag: str = ""
    last_modified: str = ""
    # Non-fatal problems (feed flagged ill-formed but parsed, items skipped): shown in admin.
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class SourceState:
    """What a connector may know of a source: its address and its cursor from last time."""

    source_id: int
    kind: str
    url: str
    etag: str = ""
    last_modified: str = ""

    @classmethod
    def from_source(cls, source: object) -> SourceState:
        # Duck-typed on purpose: connectors stay free of ORM imports.
        return cls(
            source_id=source.pk,  # type: ignore[attr-defined]
            kind=source.kind,  # type: ignore[attr-defined]
            url=source.url,  # type: ignore[attr-defined]
            etag=source.etag,  # type: ignore[attr-defined]
            last_modified=source.last_modified,  # type: ignore[attr-defined]
        )


class Connector:
    """Base class of source connectors: fetch one page of items since the source's cursor."""

    kind: str = ""

    def fetch(self, state: SourceState) -> FetchedPage:
        raise NotImplementedError
