import csv
import json
from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from listening.exports import spreadsheet_safe_row
from listening.selectors import brand_get_by_name, brand_matches_for_export, iterate

FIELDS = [
    "id",
    "brand",
    "source",
    "external_id",
    "url",
    "author",
    "published_at",
    "title",
    "text",
    "language",
    "neg",
    "neu",
    "pos",
    "compound",
    "label",
    "matched_terms",
]


def parse_since(value: str) -> datetime:
    """A date (midnight in TIME_ZONE) or an ISO 8601 datetime (naive = TIME_ZONE)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Command(BaseCommand):
    help = (
        "Write a brand's mentions to stdout as CSV or JSON Lines, oldest first. The text is"
        " exact (re-import and evaluation read it back); pass --spreadsheet-safe for a CSV"
        " that people will open in a spreadsheet."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True)
        parser.add_argument("--since", default="", help="YYYY-MM-DD or ISO 8601 datetime.")
        parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
        parser.add_argument(
            "--spreadsheet-safe",
            action="store_true",
            help=(
                "CSV only: prefix text cells that start with =, +, -, @, tab or CR with a"
                " single quote, so spreadsheets do not run them as formulas (numbers stay"
                " numbers). Default: exact text."
            ),
        )

    def handle(self, *args, **options):
        if options["spreadsheet_safe"] and options["format"] != "csv":
            raise CommandError("--spreadsheet-safe applies to --format csv only.")
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"]}".')
        since = None
        if options["since"]:
            try:
                since = parse_since(options["since"])
            except ValueError:
                raise CommandError(
                    f'--since "{options["since"]}" is not a date (YYYY-MM-DD) or ISO datetime.'
                ) from None
        qs = brand_matches_for_export(brand=brand, since=since)
        total = qs.count()
        rows = tqdm(
            iterate(qs),
            total=total,
            desc="Exporting",
            unit="mention",
            disable=None,
            file=self.stderr,
        )
        if options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(FIELDS)
            for match in rows:
                record = self._record(brand.name, match)
                record["matched_terms"] = "; ".join(record["matched_terms"])
                row = [record[f] for f in FIELDS]
                writer.writerow(spreadsheet_safe_row(row) if options["spreadsheet_safe"] else row)
        else:
            for match in rows:
                self.stdout.write(json.dumps(self._record(brand.name, match), ensure_ascii=False))
        self.stderr.write(f"Exported {total} mention(s) of {brand.name}.")

    @staticmethod
    def _record(brand_name: str, match) -> dict:
        mention = match.mention
        author = mention.author
        return {
            "id": mention.pk,
            "brand": brand_name,
            "source": mention.source.name or mention.source.url,
            "external_id": mention.external_id,
            "url": mention.url,
            "author": (author.display_name or author.handle) if author else "",
            "published_at": _iso_utc(mention.published_at),
            "title": mention.title,
            "text": mention.text,
            "language": mention.language,
            "neg": mention.neg,
            "neu": mention.neu,
            "pos": mention.pos,
            "compound": mention.compound,
            "label": mention.label,
            "matched_terms": match.matched_terms,
        }
