import csv
import json
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from listening.exports import MENTION_FIELDS, csv_row, mention_record, spreadsheet_safe_row
from listening.selectors import brand_get_by_name, brand_matches_for_export, iterate


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
            writer.writerow(MENTION_FIELDS)
            for match in rows:
                row = csv_row(mention_record(match, brand_name=brand.name), MENTION_FIELDS)
                writer.writerow(spreadsheet_safe_row(row) if options["spreadsheet_safe"] else row)
        else:
            for match in rows:
                record = mention_record(match, brand_name=brand.name)
                self.stdout.write(json.dumps(record, ensure_ascii=False))
        self.stderr.write(f"Exported {total} mention(s) of {brand.name}.")
