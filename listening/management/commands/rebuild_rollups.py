from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from brands.models import Brand
from listening.management.commands.export_mentions import parse_since
from listening.models import MentionMatch
from listening.rollups import bucket_floor, rollups_rebuild
from listening.selectors import brand_get_by_name


class Command(BaseCommand):
    help = (
        "Recount the dashboard's rollups (mentions, authors, terms) from the stored mentions,"
        " one brand at a time, each in one transaction. Safe while ingest runs (it waits for"
        " the brand being recounted); the numbers are the same as the ones kept on ingest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", default="", help="Only this brand (default: every brand).")
        parser.add_argument(
            "--since",
            default="",
            help="Only mentions from this date (YYYY-MM-DD: midnight in TIME_ZONE) or datetime.",
        )

    def handle(self, *args, **options):
        if options["brand"]:
            brand = brand_get_by_name(name=options["brand"])
            if brand is None:
                raise CommandError(f'No brand named "{options["brand"]}".')
            brands = [brand]
        else:
            brands = list(Brand.objects.order_by("pk"))
        since = None
        if options["since"]:
            try:
                since = bucket_floor(parse_since(options["since"]))
            except ValueError:
                raise CommandError(
                    f'--since "{options["since"]}" is not a date (YYYY-MM-DD) or ISO datetime.'
                ) from None
        matches = MentionMatch.objects.filter(brand__in=brands)
        if since is not None:
            matches = matches.filter(published_at__gte=since)
        total = matches.aggregate(n=Count("pk"))["n"]
        # tqdm gets the raw stream: OutputWrapper would end each redraw with a newline.
        progress = tqdm(
            total=total,
            desc="Rebuilding",
            unit=" mentions",
            disable=None,
            file=getattr(self.stderr, "_out", self.stderr),
        )
        counted = 0
        with progress:
            for brand in brands:
                progress.set_postfix_str(brand.name[:40])
                counted += rollups_rebuild(
                    brand_id=brand.pk, since=since, on_progress=progress.update
                )
        self.stdout.write(
            f"Rebuilt the rollups of {len(brands)} brand(s) from {counted:,} brand mention(s)."
        )
