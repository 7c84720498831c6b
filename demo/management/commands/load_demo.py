"""load_demo: the fictional brands, feeds and user that make a fresh install show something."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from demo import content
from demo.roi import (
    demo_brand_domains_set,
    demo_customers_load,
    demo_customers_match,
    demo_roi_settings_set,
    demo_tracking_set_up,
)
from demo.services import demo_care_set_up, demo_history_file_all, demo_loaded_at
from engagement.brand_services import brand_add, brand_care_watch_only
from listening.models import Source
from listening.services import source_create, source_poll

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "earshot-demo"  # noqa: S105 - printed on purpose; a local demo login
# Short enough that a demo shows new items soon after they appear, long enough to be polite.
DEMO_POLL_INTERVAL = 300


def _is_local_host(host: str) -> bool:
    """Whether fetching from host needs an EARSHOT_ALLOWED_PRIVATE_HOSTS entry.

    Only what can be told without DNS: localhost and private or loopback address literals.
    """
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def _allow_listed(host: str, port: int, allowed: list[str]) -> bool:
    # The fetcher accepts "host" (any port) or "host:port"; hosts compare as written or as
    # the same IP address ("::1" and "[::1]").
    def same(a: str, b: str) -> bool:
        try:
            return ipaddress.ip_address(a) == ipaddress.ip_address(b)
        except ValueError:
            return a == b

    host = host.strip("[]").rstrip(".").lower()
    for entry in allowed:
        entry = entry.strip().lower()
        if entry.startswith("["):
            entry_host, _, rest = entry[1:].partition("]")
            entry_port = rest[1:]
        elif entry.count(":") == 1:
            entry_host, _, entry_port = entry.partition(":")
        else:
            entry_host, entry_port = entry, ""
        if same(host, entry_host.rstrip(".")) and entry_port in ("", str(port)):
            return True
    return False


class Command(BaseCommand):
    help = (
        "Load the demo: Acme Mobile (care on, with SLAs, saved replies and tags) watching "
        "competitors Globex and Initech Telecom (care off), three sample feeds plus a Hacker "
        "News and a Mastodon stand-in served by this Earshot at --base-url, and a local 'demo' "
        "superuser (only with DEBUG=true or EARSHOT_DEMO=true). Acme's cases from more than "
        "a few days before loading are filed as history. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where this Earshot's web server is reachable by the worker.",
        )
        parser.add_argument(
            "--fetch",
            action="store_true",
            help="Also poll the demo sources once now, in this process (no worker needed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = options["base_url"].rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"--base-url must be an http(s) URL, not {base_url!r}.")
        changes: list[str] = []
        try:
            with transaction.atomic():
                acme = self._brands(changes)
                demo_care_set_up(brand=acme, changes=changes)
                sources = self._sources(acme, base_url, changes)
                self._user(changes)
                demo_brand_domains_set(brand=acme, changes=changes)
                demo_roi_settings_set(brand=acme, changes=changes)
                # Orders are dated back from the first load, so a re-run changes nothing.
                anchor = demo_loaded_at(brand=acme) or timezone.now()
                demo_customers_load(brand=acme, anchor=anchor, changes=changes)
                filed = demo_history_file_all(brand_name=acme.name)
                if filed:
                    changes.append(
                        f"Filed {filed} cases of {acme.name} from before the demo was loaded "
                        "as history"
                    )
                # Only once the worker has routed the demo's cases (the demo's beat task).
                links = demo_tracking_set_up(brand=acme)
                if links:
                    changes.append(f"Made {links} tracked links of {acme.name} with clicks")
        except ValidationError as exc:
            raise CommandError(f"Could not load the demo: {'; '.join(exc.messages)}") from exc

        for line in changes:
            self.stdout.write(f"  {line}")
        if changes:
            self.stdout.write(self.style.SUCCESS(f"Demo loaded ({len(changes)} changes)."))
        else:
            self.stdout.write("Demo already loaded: nothing to change.")
        self.stdout.write(
            f"Brands: {', '.join(b.name for b in content.BRANDS)}. "
            f"Sources: {', '.join(f'{s.url} ({s.kind})' for s in sources)} "
            f"(polled every {DEMO_POLL_INTERVAL} s)."
        )
        self._warn_if_not_allowed(parts.hostname, parts.port or _default_port(parts.scheme))
        if options["fetch"]:
            self._fetch(sources)
            # The authors just stored, matched with the demo's customers now rather than by
            # the worker's matching task.
            demo_customers_match(brand=acme)

    # -- steps ---------------------------------------------------------------------------------

    def _brands(self, changes: list[str]) -> Brand:
        main, *competitors = content.BRANDS
        acme = Brand.objects.filter(name__iexact=main.name).first()
        if acme is None:
            acme = brand_add(
                name=main.name, query=main.query, handles=main.handles, domains=main.domains
            )
            changes.append(f"Created brand {acme.name}: {acme.query}")
        for spec in competitors:
            brand = Brand.objects.filter(name__iexact=spec.name).first()
            if brand is None:
                brand = brand_add(
                    name=spec.name,
                    query=spec.query,
                    handles=spec.handles,
                    domains=spec.domains,
                    competitor_of=acme.name,
                )
                changes.append(f"Created competitor {brand.name}: {brand.query} (care off)")
            elif not acme.competitors.filter(pk=brand.pk).exists():
                # The brand exists (made by hand, or unlinked in admin): link it again so the
                # demo's share of voice has its competitors.
                acme.competitors.add(brand)
                changes.append(f"Made {brand.name} a competitor of {acme.name}")
            # Watched, not served (issue 11): an older demo's competitors filled the queue.
            if brand_care_watch_only(brand=brand):
                changes.append(
                    f"Turned care off for {brand.name}: its mentions are counted, no cases "
                    "are opened"
                )
        return acme

    def _sources(self, acme: Brand, base_url: str, changes: list[str]) -> list[Source]:
        sources = []
        for spec in _demo_sources():
            url = base_url + spec.path
            # Found by name, or by path when the name was edited: a second run with another
            # --base-url (dev.py run --port 8001) moves the source instead of adding one.
            source = Source.objects.filter(brand=acme, kind=spec.kind, name=spec.name).first()
            if source is None:
                source = (
                    Source.objects.filter(brand=acme, kind=spec.kind, url__endswith=spec.path)
                    .order_by("pk")
                    .first()
                )
            if source is None:
                source = source_create(
                    brand=acme,
                    kind=spec.kind,
                    url=url,
                    poll_interval=DEMO_POLL_INTERVAL,
                    name=spec.name,
                    config=dict(spec.config),
                    backfill_days=spec.backfill_days,
                )
                changes.append(f"Created source {source.name}: {url}")
            elif source.url != url:
                old = source.url
                source.url = url
                # The old server's validators mean nothing to the new one; poll it right away.
                # The cursor stays: the demo's ids and times are the same on every server.
                source.etag = source.last_modified = ""
                source.next_poll_at = timezone.now()
                source.full_clean()
                source.save(update_fields=["url", "etag", "last_modified", "next_poll_at"])
                changes.append(f"Moved source {source.name}: {old} -> {url}")
            missing = {k: v for k, v in spec.config.items() if k not in source.config}
            if missing:
                # A source from an older demo lacks an option (the HN site its links point
                # to); options someone changed stay as they are.
                source.config = {**source.config, **missing}
                source.full_clean()
                source.save(update_fields=["config"])
                changes.append(f"Set options of source {source.name}: {missing}")
            sources.append(source)
        return sources

    def _user(self, changes: list[str]) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username=DEMO_USERNAME).exists():
            return
        if not (settings.DEBUG or settings.EARSHOT_DEMO):
            # A superuser whose password is printed in the README must never appear on a
            # production instance by accident (issue 9).
            self.stdout.write(
                f"Skipped the {DEMO_USERNAME!r} superuser: DEBUG is off and EARSHOT_DEMO is "
                "not true. Set EARSHOT_DEMO=true for a demo instance, or create your own "
                "user with `manage.py createsuperuser`."
            )
            return
        user_model.objects.create_superuser(
            username=DEMO_USERNAME, email="demo@earshot.example", password=DEMO_PASSWORD
        )
        changes.append(
            f"Created superuser {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r} "
            "(for local use only: change or delete it before exposing this instance)"
        )

    def _warn_if_not_allowed(self, host: str, port: int) -> None:
        if not _is_local_host(host):
            return
        if _allow_listed(host, port, list(settings.EARSHOT_ALLOWED_PRIVATE_HOSTS)):
            return
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.stderr.write(
            self.style.WARNING(
                f"Warning: {netloc} is a local address and fetching refuses local addresses "
                f"unless allowed, so the demo feeds will fail to fetch. Add {netloc} to "
                f"EARSHOT_ALLOWED_PRIVATE_HOSTS (e.g. in .env: "
                f"EARSHOT_ALLOWED_PRIVATE_HOSTS={netloc}) and restart the worker."
            )
        )

    def _fetch(self, sources: list[Source]) -> None:
        self.stdout.write("Fetching the demo sources once now...")
        for source in sources:
            result = source_poll(source_id=source.pk)
            if result is None:
                continue
            log = result.fetch_log
            if log.is_success and log.http_status == 304:
                self.stdout.write(f"  {source.name}: HTTP 304, not modified since the last poll")
            elif log.is_success:
                self.stdout.write(
                    f"  {source.name}: HTTP {log.http_status}, {log.items_seen} seen, "
                    f"{log.items_new} new, {log.items_duplicate} already stored, "
                    f"{log.items_unmatched} unmatched"
                )
            else:
                self.stderr.write(
                    self.style.ERROR(
                        f"  {source.name}: {log.error_class}: {log.error_message[:300]}"
                    )
                )


@dataclass(frozen=True, slots=True)
class _DemoSource:
    kind: str
    name: str
    # The URL path on this Earshot: the source's URL is --base-url + path.
    path: str
    config: dict[str, str] = field(default_factory=dict)
    backfill_days: int = 30


def _demo_sources() -> list[_DemoSource]:
    """The five demo sources: three feeds (rss) and the HN and Mastodon stand-ins."""
    sources = [
        _DemoSource(
            kind=Source.Kind.RSS,
            name=f"Demo: {spec.title}",
            path=reverse("demo:feed", kwargs={"name": spec.name, "ext": spec.ext}),
        )
        for spec in content.FEEDS.values()
    ]
    # The connectors append /api/v1/... to the source URL themselves: the source URL is the
    # API's root, derived from the route so the two cannot drift apart.
    hn_root = reverse("demo:hn-search").removesuffix("/api/v1/search_by_date")
    mastodon_root = reverse(
        "demo:mastodon-tag", kwargs={"tag": content.ACME.hashtag.lstrip("#")}
    ).split("/api/v1/", 1)[0]
    sources += [
        # A 90-day backfill: the whole demo window on the first poll, like the feeds show it.
        _DemoSource(
            kind=Source.Kind.HACKER_NEWS,
            name=f"Demo: {content.HN_SPEC.title}",
            path=hn_root,
            config={"site": content.HN_SPEC.site},
            backfill_days=content.DEMO_WINDOW.days,
        ),
        _DemoSource(
            kind=Source.Kind.MASTODON,
            name=f"Demo: {content.MASTODON_SPEC.title} {content.ACME.hashtag}",
            path=mastodon_root,
            config={"hashtag": content.ACME.hashtag.lstrip("#")},
            backfill_days=content.DEMO_WINDOW.days,
        ),
    ]
    return sources


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
