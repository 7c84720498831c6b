"""Print a brand's care figures for a period, as JSON (default) or CSV.

  care_report --brand NAME [--since DATE] [--until DATE] [--format json|csv]

cases: the brand's care cases (kind care; live and history imports alike) opened in
  [--since 00:00, end of the --until day) in TIME_ZONE. DATE is YYYY-MM-DD or an ISO 8601
  datetime (naive = TIME_ZONE; a datetime --until is exclusive). Either bound may be left out.
answered: the cases with a first response.
first_response_median_s / first_response_p90_s: first response time = first response -
  the time the case first needed an answer (opened_at for cases without it), in seconds.
  Median: the middle value, or the mean of the two middle values for an even count. p90:
  linear interpolation between the closest ranks (PostgreSQL percentile_cont(0.9), numpy's
  default). Null when no case was answered.
resolution_median_s: median of resolved - opened, over the resolved cases; null when none.
  History cases nobody answered ("no answer, imported") are left out: the import closed
  them, nobody resolved them.
sla_first_response_met_pct: among the cases with a first-response due time that has passed
  or that were answered, the percentage answered at or before it; null when none.
outcomes: the answered cases by follow-up outcome: converted, improved, unchanged, worsened,
  no_further_word, pending (still watching); every key always present.
agents: the same figures per assignee (the agent holding the case now), by username; cases
  nobody holds are grouped last as agent null (CSV: "(unassigned)"; the brand's row: "(all)").
Seconds and percentages are rounded to 1 decimal. A read only: safe to run any time.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from engagement.selectors.care_report import FIGURE_KEYS, OUTCOME_KEYS, care_figures
from listening.selectors import brand_get_by_name

ALL_AGENTS = "(all)"
UNASSIGNED = "(unassigned)"
CSV_COLUMNS: tuple[str, ...] = (
    "brand",
    "since",
    "until",
    "agent",
    *(key for key in FIGURE_KEYS if key != "outcomes"),
    *(f"outcome_{key}" for key in OUTCOME_KEYS),
)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the definitions printed as written."""


def parse_bound(value: str, *, is_end: bool) -> tuple[datetime, str]:
    """(the bound as an aware datetime, how to echo it) for a --since or --until value.

    A date is a whole day in TIME_ZONE: since its 00:00, until its 24:00 (the next day's
    00:00, exclusive). A datetime is taken as given (naive = TIME_ZONE). ValueError if it is
    neither.
    """
    value = value.strip()
    day = parse_date(value)  # raises ValueError for a well-formed impossible date
    if day is not None:
        moment = datetime.combine(day + timedelta(days=1) if is_end else day, time.min)
        return timezone.make_aware(moment), day.isoformat()
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, timezone.localtime(moment).isoformat()


def _csv_cell(value: object) -> object:
    return "" if value is None else value


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help="The brand's name (any case).")
        parser.add_argument(
            "--since", default="", help="First day (YYYY-MM-DD) or ISO 8601 datetime."
        )
        parser.add_argument(
            "--until", default="", help="Last day, included (YYYY-MM-DD), or ISO 8601 datetime."
        )
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, **options):
        brand = brand_get_by_name(name=options["brand"])
        if brand is None:
            raise CommandError(f'No brand named "{options["brand"].strip()}".')
        bounds: dict[str, tuple[datetime | None, str | None]] = {}
        for name in ("since", "until"):
            given = options[name].strip()
            if not given:
                bounds[name] = (None, None)
                continue
            try:
                bounds[name] = parse_bound(given, is_end=name == "until")
            except (ValueError, OverflowError):
                raise CommandError(
                    f'--{name} "{given}" is not a date (YYYY-MM-DD) or an ISO 8601 datetime '
                    "(e.g. 2026-11-01T09:00:00+01:00)."
                ) from None
        since, since_text = bounds["since"]
        until, until_text = bounds["until"]
        if since is not None and until is not None and until <= since:
            raise CommandError(
                f"--until ({until_text}) must be after --since ({since_text}): the period "
                "would hold no time."
            )

        report = care_figures(brand=brand, since=since, until=until)
        head = {"brand": brand.name, "since": since_text, "until": until_text}
        if options["format"] == "json":
            document = {
                **head,
                **report.figures,
                "agents": [{"agent": name, **figures} for name, figures in report.agents],
            }
            self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
            return
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        rows = [(ALL_AGENTS, report.figures)]
        rows += [(UNASSIGNED if name is None else name, figs) for name, figs in report.agents]
        for agent, figures in rows:
            outcomes = figures["outcomes"]
            writer.writerow(
                [
                    _csv_cell(value)
                    for value in (
                        head["brand"],
                        head["since"],
                        head["until"],
                        agent,
                        *(figures[key] for key in FIGURE_KEYS if key != "outcomes"),
                        *(outcomes[key] for key in OUTCOME_KEYS),
                    )
                ]
            )
