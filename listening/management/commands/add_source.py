from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from listening.connectors.registry import connector_for
from listening.management.errors import validation_message
from listening.models import Source
from listening.selectors import brand_get_by_name
from listening.services import SourceCheckFailed, source_add


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--option takes KEY=VALUE, got {pair!r}.")
        options[key.strip()] = value.strip()
    return options


class Command(BaseCommand):
    help = (
        "Add a source to a brand. Kinds: rss (RSS/Atom/JSON Feed), hn, reddit, mastodon, "
        "mastodon-stream, bluesky, jetstream, webhook, import. Per-kind options go in "
        "--option KEY=VALUE (e.g. --option hashtag=acme, --option subreddit=phones). A source "
        "that is fetched is fetched once first (nothing is stored): an error refuses it; "
        "--save-anyway saves it when its host is only down now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True)
        parser.add_argument("--kind", required=True, choices=[k.value for k in Source.Kind])
        parser.add_argument(
            "--url",
            default="",
            help="Feed URL, or API/instance/stream endpoint (kind default if "
            "empty); none for webhook and import.",
        )
        parser.add_argument("--interval", type=int, default=900, help="Seconds between polls.")
        parser.add_argument("--name", default="")
        parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument(
            "--backfill-days", type=int, default=30, help="History to fetch on the first poll."
        )
        parser.add_argument(
            "--save-anyway",
            action="store_true",
            help="Save the source although its host cannot be reached now (connection refused, "
            "timeout, DNS failure, HTTP 5xx or 429). Never for a blocked address, a bad URL or "
            "an answer that is not a feed of that kind.",
        )

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}". Create it with add_brand.')
        try:
            source, check = source_add(
                brand=brand,
                kind=options["kind"],
                url=options["url"],
                poll_interval=options["interval"],
                name=options["name"],
                config=parse_options(options["option"]),
                backfill_days=options["backfill_days"],
                save_anyway=options["save_anyway"],
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        except SourceCheckFailed as exc:
            hint = (
                " If the host is only down now, run the command again with --save-anyway."
                if exc.check.may_save_anyway
                else ""
            )
            raise CommandError(f"Not added. {exc.check.message}{hint}") from exc
        if check is not None and check.is_ok:
            self.stdout.write(check.message)
        elif check is not None:
            self.stdout.write(f"Saved anyway (--save-anyway). {check.message}")
        connector = connector_for(source.kind)
        where = f": {source.url}" if source.url else ""
        if source.kind == Source.Kind.WEBHOOK:
            self.stdout.write(
                f"Added webhook source {source.pk} for {brand.name}. Deliver to "
                f"/hooks/{source.token}/ signed with secret {source.secret} "
                "(see README, Signed webhooks)."
            )
        elif connector.is_live:
            self.stdout.write(
                f"Added live {source.kind} source {source.pk} for {brand.name}{where} "
                "(run by manage.py run_streams)."
            )
        elif not connector.is_polled:
            self.stdout.write(f"Added {source.kind} source {source.pk} for {brand.name}.")
        else:
            self.stdout.write(
                f"Added {source.kind} source {source.pk} for {brand.name}{where} "
                f"(every {source.poll_interval} s)."
            )
