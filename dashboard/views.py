"""Read-only pages for marketers (and admins; agents may list mentions): parse the GET with a
form, ask brands/permissions.py, fetch through dashboard/selectors.py, render or stream."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from brands.permissions import Action, brand_ids_for, brands_for, can, require
from dashboard.forms import BrandForm, MentionFilterForm
from dashboard.selectors import (
    brand_corrections_for_export,
    brand_get,
    brand_matches_filtered,
    brand_summaries,
    brand_with_competitors,
)
from listening.exports import (
    CORRECTION_FIELDS,
    MENTION_FIELDS,
    correction_record,
    csv_row,
    mention_record,
    spreadsheet_safe_row,
)
from listening.outside import web_url
from listening.selectors import iterate

PAGE_SIZE = 50
SUMMARY_DAYS = 30


def _brand_id(request: HttpRequest, form: BrandForm, action: Action) -> int:
    """The requested brand (or the user's first one), after permissions.require()."""
    if not form.is_valid() and "brand" in form.errors:
        raise Http404("No such page.")
    brand_id = form.cleaned_data.get("brand")
    if brand_id is None:
        brand = brands_for(request.user, action).first()
        if brand is None:
            raise Http404("No such page.")
        brand_id = brand.pk
    require(request.user, brand_id, action)
    return brand_id


def _filtered_matches(request: HttpRequest, action: Action):
    form = MentionFilterForm(request.GET)
    brand_id = _brand_id(request, form, action)
    brand, competitors = brand_with_competitors(brand_id=brand_id)
    matched_choices = [brand, *competitors]
    if not form.is_valid():
        return form, brand, matched_choices, None
    matched_id = form.cleaned_data.get("matched")
    matched = next((b for b in matched_choices if b.pk == matched_id), None)
    if matched_id is not None and matched is None:
        raise Http404("No such page.")
    qs = brand_matches_filtered(
        brand=brand,
        matched_brand=matched,
        since=form.since,
        until=form.until,
        label=form.cleaned_data["label"],
        kind=form.cleaned_data["kind"],
        platform=form.cleaned_data["platform"].strip(),
        text=form.cleaned_data["q"].strip(),
    )
    return form, brand, matched_choices, qs


@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The user's dashboard brands: last 30 days of mentions by label, and corrections."""
    brand_ids = brand_ids_for(request.user, Action.VIEW_DASHBOARD)
    since = timezone.now() - timedelta(days=SUMMARY_DAYS)
    summaries = brand_summaries(brand_ids=brand_ids, since=since)
    for summary in summaries:
        summary["can_export"] = can(request.user, summary["brand"].pk, Action.EXPORT)
    return render(
        request,
        "dashboard/index.html",
        {
            "summaries": summaries,
            "days": SUMMARY_DAYS,
            "has_mentions": bool(brand_ids_for(request.user, Action.VIEW_MENTIONS)),
        },
    )


@require_GET
@login_required
def mentions(request: HttpRequest) -> HttpResponse:
    form, brand, matched_choices, qs = _filtered_matches(request, Action.VIEW_MENTIONS)
    page = None
    if qs is not None:
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        for match in page.object_list:
            # Mention URLs come from strangers: only web_url's rule makes a link.
            match.safe_url = web_url(match.mention.url)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "brand": brand,
        "brands": brands_for(request.user, Action.VIEW_MENTIONS),
        "matched_choices": matched_choices,
        "page": page,
        "query": query.urlencode(),
        "can_export": can(request.user, brand.pk, Action.EXPORT),
    }
    template = "dashboard/_mention_results.html" if request.htmx else "dashboard/mentions.html"
    return render(request, template, context)


class _Echo:
    """csv.writer target that hands each row back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(header: Sequence[str], rows: Iterable[list]) -> Iterator[str]:
    """Every web download goes through here, so every text cell is spreadsheet-safe.

    Marketers open these files in spreadsheets, and mention text, titles, author names,
    external ids and correction reasons come from strangers: a cell such as
    '=HYPERLINK("http://evil")' gets a leading "'" (listening/exports.py, OWASP's rule).
    Number cells (ids, scores such as -0.5) stay numbers. Exact text is what
    `manage.py export_mentions` is for.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(spreadsheet_safe_row(row))


def _csv_response(stream: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def _mention_rows(matches) -> Iterator[list]:
    # The record of listening/exports.py, as `manage.py export_mentions` writes it; the brand
    # column names the matched brand (a competitor's row says the competitor).
    # _csv_stream() neutralises formula cells, as `export_mentions --spreadsheet-safe` does.
    for match in matches:
        yield csv_row(mention_record(match), MENTION_FIELDS)


@require_GET
@login_required
def mentions_export(request: HttpRequest) -> HttpResponse:
    """The current filter of the mentions page as CSV, streamed (EXPORT: admins, marketers)."""
    form, brand, _, qs = _filtered_matches(request, Action.EXPORT)
    if qs is None:
        return render(request, "dashboard/export_invalid.html", {"form": form}, status=400)
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    filename = f"{slugify(brand.name) or 'brand'}-mentions-{stamp}.csv"
    return _csv_response(_csv_stream(MENTION_FIELDS, _mention_rows(iterate(qs))), filename)


def _correction_rows(corrections) -> Iterator[list]:
    for correction in corrections:
        yield csv_row(correction_record(correction), CORRECTION_FIELDS)


@require_GET
@login_required
def corrections_export(request: HttpRequest) -> HttpResponse:
    """A brand's sentiment corrections as a labelled CSV (EXPORT: admins, marketers)."""
    brand_id = _brand_id(request, BrandForm(request.GET), Action.EXPORT)
    brand = brand_get(brand_id=brand_id)
    qs = brand_corrections_for_export(brand=brand)
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    filename = f"{slugify(brand.name) or 'brand'}-corrections-{stamp}.csv"
    return _csv_response(_csv_stream(CORRECTION_FIELDS, _correction_rows(iterate(qs))), filename)
