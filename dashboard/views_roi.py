"""The ROI report page of a brand and range, its CSVs, and the funnel's converted authors
(issue 14). The figures come from dashboard/roi.py, which `manage.py roi_report` prints too.

Who sees what (brands/permissions.py): the page and its CSVs are aggregates (VIEW_ROI:
admins and marketers), and hide the money of a customer group smaller than
EARSHOT_LOYALTY_MIN_GROUP from those who may not see customer data; the list of converted
authors names customers, so it is VIEW_CUSTOMERS (brand admins) only.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from brands.permissions import Action, can, require
from dashboard import views as pages
from dashboard.charts import drill_link
from dashboard.conversions import RETENTION_DAYS, conversion_moments, converted_authors
from dashboard.roi import (
    BREAKDOWN_TABLE_KEYS,
    ROI_TABLE_KEYS,
    BreakdownTable,
    breakdown_tables,
    money,
    roi_report,
    roi_tables,
)
from dashboard.timezones import user_zone
from listening.models import Author

CSV_HEADER = ("figure", "value", "inputs and formula", "roi_report key")


def _roi_shell(request: HttpRequest, tab: str) -> pages.Shell:
    shell = pages._shell(request, tab)
    require(request.user, shell.brand.pk, Action.VIEW_ROI)
    return shell


def _tables(request: HttpRequest, shell: pages.Shell):
    report = roi_report(brand_id=shell.brand.pk, since=shell.period.since, until=shell.period.until)
    may_see_customers = can(request.user, shell.brand.pk, Action.VIEW_CUSTOMERS)
    return report, roi_tables(report, show_small_groups=may_see_customers)


@require_GET
@login_required
def roi(request: HttpRequest) -> HttpResponse:
    """The brand's ROI figures over the range, each with its inputs and formula; printable
    (report.css) and each table downloadable as CSV."""
    with timezone.override(user_zone(request)):
        shell = _roi_shell(request, "roi")
        report, tables = _tables(request, shell)
        export = reverse("dashboard:roi-export")
        breakdowns = breakdown_tables(report)
        return pages._render_page(
            request,
            "dashboard/roi.html",
            shell,
            {
                "report": report,
                "tables": [(table, f"{export}?{shell.query(table=table.key)}") for table in tables],
                "breakdowns": [
                    (table, f"{export}?{shell.query(table=table.key)}") for table in breakdowns
                ],
                # Case numbers link only for roles that may open cases (the author page's rule).
                "can_open_cases": can(request.user, shell.brand.pk, Action.VIEW_QUEUE),
                "may_see_customers": can(request.user, shell.brand.pk, Action.VIEW_CUSTOMERS),
                "can_configure": can(request.user, shell.brand.pk, Action.CONFIGURE),
                "server_zone": settings.TIME_ZONE,
            },
        )


def _csv_rows(table) -> Iterator[list]:
    for row in table.rows:
        yield [row.figure, row.value, row.formula, row.key]


def _breakdown_csv(table: BreakdownTable) -> tuple[list[str], Iterator[list]]:
    """(header, rows) of a referral breakdown: every row (the page shows the top cases
    only), counts as numbers, one column pair per currency (never converted)."""
    currencies = sorted({c for row in table.rows for c in row.figures.revenue})
    header = [table.name.lower(), "clicks", "bot clicks", "conversions", "verified conversions"]
    for currency in currencies:
        header += [f"revenue {currency}", f"verified revenue {currency}"]

    def rows() -> Iterator[list]:
        for row in table.rows:
            f = row.figures
            cells = [row.label, f.clicks, f.bot_clicks, f.conversions, f.verified_conversions]
            for currency in currencies:
                cells += [
                    money(f.revenue[currency]) if currency in f.revenue else "",
                    money(f.verified_revenue[currency]) if currency in f.verified_revenue else "",
                ]
            yield cells

    return header, rows()


@require_GET
@login_required
def roi_export(request: HttpRequest) -> HttpResponse:
    """One table of the ROI page as CSV, streamed; the brand, table and dates in the name."""
    with timezone.override(user_zone(request)):
        shell = _roi_shell(request, "roi")
        key = request.GET.get("table", "")
        if key not in ROI_TABLE_KEYS + BREAKDOWN_TABLE_KEYS:
            raise Http404("No such table.")
        report, tables = _tables(request, shell)
        if key in ROI_TABLE_KEYS:
            table = next(t for t in tables if t.key == key)
            header, rows = CSV_HEADER, _csv_rows(table)
        else:
            breakdown = next(t for t in breakdown_tables(report) if t.key == key)
            header, rows = _breakdown_csv(breakdown)
        period = shell.period
        filename = (
            f"{slugify(shell.brand.name) or 'brand'}-roi-{key}-"
            f"from-{period.first:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv"
        )
        return pages._csv_response(pages._csv_stream(header, rows), filename)


@require_GET
@login_required
def funnel_converted(request: HttpRequest) -> HttpResponse:
    """The funnel's converted authors of the range (the Conversion step's drill-down): who
    they are, when they converted, whether they are retained. Customers: admins only."""
    with timezone.override(user_zone(request)):
        shell = pages._shell(request, "funnel")
        require(request.user, shell.brand.pk, Action.VIEW_CUSTOMERS)
        period, brand = shell.period, shell.brand
        moments = conversion_moments(brand_id=brand.pk, until=period.until)
        rows = converted_authors(
            brand_id=brand.pk, since=period.since, until=period.until, moments=moments
        )
        authors = Author.objects.in_bulk([row.author_id for row in rows])
        listed = [
            (
                row,
                authors[row.author_id],
                drill_link(
                    shell.explorer,
                    brand.pk,
                    period.first,
                    period.last,
                    author=authors[row.author_id].handle,
                )
                if shell.explorer
                else "",
            )
            for row in rows
            if row.author_id in authors
        ]
        return pages._render_page(
            request,
            "dashboard/funnel_converted.html",
            shell,
            {"rows": listed, "retention_days": RETENTION_DAYS},
        )
