"""Which connector serves which Source.kind. Adding a source type adds one line here."""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from listening.connectors.base import Connector, ConnectorError, SourceState

__all__ = ["CONNECTORS", "SourceState", "connector_for"]

# kind -> dotted path of the Connector class (imported on first use).
CONNECTORS: dict[str, str] = {
    "rss": "listening.connectors.rss.RssConnector",
    "hn": "listening.connectors.hn.HackerNewsConnector",
    "reddit": "listening.connectors.reddit.RedditConnector",
    "mastodon": "listening.connectors.mastodon.MastodonConnector",
    "mastodon-stream": "listening.connectors.mastodon.MastodonStreamConnector",
    "bluesky": "listening.connectors.bluesky.BlueskyConnector",
    "jetstream": "listening.connectors.bluesky.JetstreamConnector",
    "webhook": "listening.connectors.push.WebhookConnector",
    "import": "listening.connectors.push.ImportConnector",
}


class UnknownSourceKind(ConnectorError):
    error_class = "unknown_kind"


@cache
def connector_for(kind: str) -> Connector:
    try:
        path = CONNECTORS[kind]
    except KeyError:
        raise UnknownSourceKind(f"No connector for source kind {kind!r}.") from None
    return import_string(path)()


def polled_kinds() -> list[str]:
    """Kinds that beat polls on a schedule (not live streams, not pushed webhooks/imports)."""
    return [kind for kind in CONNECTORS if connector_for(kind).is_polled]
