from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from listening.management.commands.add_brand import validation_message
from listening.models import Source
from listening.selectors import brand_get_by_name
from listening.services import source_create


class Command(BaseCommand):
    help = "Add a source (RSS, Atom or JSON Feed: kind rss) to a brand."

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True)
        parser.add_argument("--kind", required=True, choices=[k.value for k in Source.Kind])
        parser.add_argument("--url", required=True)
        parser.add_argument("--interval", type=int, default=900, help="Seconds between polls.")
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}". Create it with add_brand.')
        try:
            source = source_create(
                brand=brand,
                kind=options["kind"],
                url=options["url"],
                poll_interval=options["interval"],
                name=options["name"],
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        self.stdout.write(
            f"Added {source.kind} source {source.pk} for {brand.name}: {source.url} "
            f"(every {source.poll_interval} s)."
        )
