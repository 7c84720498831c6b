"""Print a brand's ROI figures for a period, as JSON (default) or CSV: the ROI page's numbers.

  roi_report --brand NAME [--since DATE] [--until DATE] [--format json|csv]

DATE is YYYY-MM-DD, a whole day in TIME_ZONE: the period runs from --since 00:00 to the end
of the --until day. Default: the last 90 days up to today (TIME_ZONE), the dashboard's "Last
90 days"; only --since: up to today; only --until: the 90 days ending then.

JSON: counts are numbers; money is always an object {currency: "decimal string"} (one key
per currency, never converted or added across currencies; {} when there is none), and null
where an input is missing: contact_cost and contact_cost_moved are null while the brand's
cost of a call-centre contact is not configured (admin, ROI settings). Averages are rounded
half-up to 2 decimals; percentages have 1 decimal, null when their denominator is 0.
CSV: brand, since, until, key, currency, value: one row per number and per currency of a
money object (currency empty for counts; a missing money figure is one row, value empty).
The referral breakdowns (referrals_by_campaign, referrals_by_agent, referrals_by_case: lists
of objects in JSON) become keys "<list>.<campaign, agent username or case number>.<figure>",
e.g. referrals_by_campaign.winter.clicks or referrals_by_case.12.revenue with its currency;
no campaign is an empty name (referrals_by_campaign..clicks).
The definitions of every figure: dashboard/roi.py and README, "ROI report". A read only.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils import timezone
from django.utils.dateparse import parse_date

from dashboard.forms import day_start
from dashboard.roi import roi_report
from listening.selectors import brand_get_by_name

DEFAULT_DAYS = 90
CSV_COLUMNS = ("brand", "since", "until", "key", "currency", "value")


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the definitions printed as written."""


def _day(name: str, value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise CommandError(f'--{name} "{value}" is not a date (YYYY-MM-DD, e.g. 2026-11-01).')
    if not 2 <= day.year <= 9998:
        # A day in year 1 or 9999 may have no start or end in some time zone.
        raise CommandError(f'--{name} "{value}" is outside the years 0002 to 9998.')
    return day


def period_days(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """(first, last) local days, both included, from the options and the defaults."""
    if until is None:
        until = today
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise CommandError(f"--until ({until}) is before --since ({since}).")
    return since, until


# A breakdown list's rows are named in the CSV by this field of each object.
ROW_NAMES = {
    "referrals_by_campaign": "campaign",
    "referrals_by_agent": "agent",
    "referrals_by_case": "case",
}


def csv_rows(document: dict[str, object]):
    for key, value in document.items():
        if key in ("brand", "since", "until", "time_zone"):
            continue
        if isinstance(value, list):
            # referrals_by_campaign.<campaign>.clicks, ...revenue with the currency.
            for entry in value:
                name = entry[ROW_NAMES[key]]
                for field, figure in entry.items():
                    if field in (ROW_NAMES[key], "agent_id"):
                        continue
                    yield from csv_rows({f"{key}.{'' if name is None else name}.{field}": figure})
            continue
        if isinstance(value, dict):
            for currency, amount in value.items():
                yield key, currency, "" if amount is None else amount
            continue
        yield key, "", "" if value is None else value


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help="The brand's name (any case).")
        parser.add_argument("--since", default="", help="First day, YYYY-MM-DD (TIME_ZONE).")
        parser.add_argument("--until", default="", help="Last day, included, YYYY-MM-DD.")
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"].strip()}".')
        first, last = period_days(
            _day("since", options["since"]), _day("until", options["until"]), timezone.localdate()
        )
        report = roi_report(
            brand_id=brand.pk, since=day_start(first), until=day_start(last + timedelta(days=1))
        )
        document = {
            "brand": brand.name,
            "since": first.isoformat(),
            "until": last.isoformat(),
            "time_zone": settings.TIME_ZONE,
            **report.as_json(),
        }
        if options["format"] == "json":
            self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
            return
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for key, currency, value in csv_rows(document):
            writer.writerow([brand.name, first.isoformat(), last.isoformat(), key, currency, value])
