"""Pushed kinds: items arrive at Earshot (signed webhooks, bulk imports); nothing is polled.

These connectors exist so that Source rows of kind "webhook" and "import" validate and show
help in admin like any other kind; the receiving code is listening/push_services.py.
"""

from __future__ import annotations

from listening.connectors.base import ConfigError, ConfigField, Connector, FetchedPage, SourceState

_PLATFORM_OPTION = ConfigField(
    name="platform",
    help='Platform stamped on items that name none (default "web").',
)


class _PushedConnector(Connector):
    # Pushed kinds take no URL (validate_url then requires it empty) and are never polled.
    url_schemes: tuple[str, ...] = ()
    is_polled = False
    platform = "web"
    config_fields = (_PLATFORM_OPTION,)

    def fetch(self, state: SourceState) -> FetchedPage:
        raise ConfigError(f"{self.kind} sources are pushed, not polled.")


class WebhookConnector(_PushedConnector):
    kind = "webhook"
    url_help = (
        "None: items are pushed to Earshot. The delivery URL (/hooks/ and a token) and its "
        "signing secret are made when the source is saved, and shown on its page then (see "
        "README, Signed webhooks)."
    )


class ImportConnector(_PushedConnector):
    kind = "import"
    url_help = (
        "None: items are loaded from CSV or JSON Lines files with manage.py import_mentions "
        "(see README, Bulk import)."
    )
