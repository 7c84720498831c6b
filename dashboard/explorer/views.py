"""The mention explorer page and its CSV export: parse the GET with ExplorerForm, ask
brands/permissions.py, fetch through dashboard/explorer/selectors.py, render or stream."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from brands.models import Brand
from brands.permissions import Action, brands_for, can, require
from dashboard.explorer.forms import SORTS, ExplorerForm
from dashboard.explorer.selectors import (
    PAGE_SIZE,
    ExplorerFilters,
    brand_competitors,
    brand_has_matches,
    brand_sources,
    explorer_case_ids,
    explorer_matches,
    explorer_page,
    search_candidates,
)
from dashboard.timezones import user_zone, user_zone_name, zone_options
from dashboard.views import TABS
from listening.exports import MENTION_FIELDS, csv_row, mention_record, spreadsheet_safe_row
from listening.outside import web_url
from listening.selectors import iterate

# The export's columns: the one mention record, then what the explorer adds to it.
EXPLORER_FIELDS = [*MENTION_FIELDS, "platform", "reach", "engagement", "has_case"]
# Filters that go into an export's file name, in this order.
_NAMED_FILTERS = ("label", "platform", "lang", "author", "term", "has_case", "q")


def in_user_zone(view):
    """Run the view in the user's dashboard time zone: local days for since/until, local
    times on the page (the same zone as the charts that link here)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        with timezone.override(user_zone(request)):
            return view(request, *args, **kwargs)

    return wrapper


def _filters(request: HttpRequest, action: Action) -> tuple[ExplorerForm, ExplorerFilters]:
    """The form and the filters it selects, after permissions.require() on the brand.

    404 for a brand the user is not a member of, or a "matched" brand that is neither the
    brand nor one of its competitors; 403 for a member whose role does not allow action. The
    filters are built even when the form has errors (the page shows them above no rows).
    """
    form = ExplorerForm(request.GET)
    form.is_valid()
    if "brand" in form.errors or "matched" in form.errors:
        raise Http404("No such page.")
    brand_id = form.cleaned_data.get("brand")
    if brand_id is None:
        first = brands_for(request.user, action).first()
        if first is None:
            # No brand where the role allows it: the role's answer (403), or 404 if none.
            any_brand = brands_for(request.user, Action.VIEW_MENTIONS).first()
            if any_brand is None:
                raise Http404("No such page.")
            brand_id = any_brand.pk
        else:
            brand_id = first.pk
    require(request.user, brand_id, action)
    brand = Brand.objects.get(pk=brand_id)
    matched = brand
    matched_id = form.cleaned_data.get("matched")
    if matched_id is not None and matched_id != brand.pk:
        matched = brand.competitors.filter(pk=matched_id).first()
        if matched is None:
            raise Http404("No such page.")
    data = form.cleaned_data if not form.errors else {}
    has_case = {"yes": True, "no": False}.get(data.get("has_case", ""))
    filters = ExplorerFilters(
        brand=brand,
        matched=matched,
        label=data.get("label", ""),
        platform=data.get("platform", ""),
        source_id=data.get("source"),
        language=data.get("lang", ""),
        author=data.get("author", ""),
        term=data.get("term", ""),
        since=form.since_moment if data else None,
        until=form.until_moment if data else None,
        has_case=has_case,
        q=data.get("q", ""),
        sort=data.get("sort") or "newest",
    )
    return form, filters


def _dashboard_tabs(request: HttpRequest, form: ExplorerForm, brand: Brand) -> list:
    """(label, href) of the charted pages, for a role that may open them, with the brand and
    the explorer's dates as their period."""
    if not can(request.user, brand.pk, Action.VIEW_DASHBOARD):
        return []
    params: dict[str, object] = {"brand": brand.pk}
    data = form.cleaned_data if not form.errors else {}
    if data.get("since") or data.get("until"):
        params |= {"since": data.get("since") or "", "until": data.get("until") or ""}
    query = urlencode({k: v for k, v in params.items() if v})
    tabs = []
    for _, label, name in TABS:
        try:
            tabs.append((label, f"{reverse(name)}?{query}"))
        except NoReverseMatch:
            continue  # a page not built yet
    return tabs


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@require_GET
@login_required
@in_user_zone
def explorer(request: HttpRequest) -> HttpResponse:
    """Mentions of a brand or a competitor, filtered, searched and sorted, 50 a page
    (VIEW_MENTIONS: admins, marketers, agents). htmx asks for the results fragment only."""
    form, filters = _filters(request, Action.VIEW_MENTIONS)
    rows, next_cursor, has_any = [], None, True
    if not form.errors:
        rows, next_cursor = explorer_page(filters=filters, after=form.cleaned_data.get("after"))
        if not rows and form.cleaned_data.get("after") is None:
            has_any = brand_has_matches(brand=filters.brand, matched=filters.matched)
    # Cases are agents' and admins' pages: link them only for a role that may open them.
    can_open_cases = filters.matched.pk == filters.brand.pk and can(
        request.user, filters.brand.pk, Action.VIEW_QUEUE
    )
    case_ids = (
        explorer_case_ids(matches=rows, brand_id=filters.matched.pk) if can_open_cases else {}
    )
    for match in rows:
        mention = match.mention
        # Mention URLs come from strangers: only web_url's rule makes a link.
        match.safe_url = web_url(mention.url)
        match.case_id = case_ids.get(match.mention_id)
        match.has_engagement = _has_engagement(mention)
    base_query = _query_without(request, "after")
    context = {
        "form": form,
        "filters": filters,
        "brand": filters.brand,
        "brands": brands_for(request.user, Action.VIEW_MENTIONS),
        "competitors": brand_competitors(brand=filters.brand),
        "sources": brand_sources(brand=filters.brand),
        "rows": rows,
        "page_size": PAGE_SIZE,
        "sort_label": dict(SORTS)[filters.sort].lower(),
        "next_query": f"{base_query}&after={next_cursor}" if next_cursor else "",
        "is_later_page": form.cleaned_data.get("after") is not None and not form.errors,
        "first_query": base_query,
        "sort_query": _query_without(request, "after", "sort"),
        "clear_query": f"brand={filters.brand.pk}",
        "has_any": has_any,
        "time_zone": user_zone_name(request),
        "zone_options": zone_options(user_zone_name(request)),
        "dashboard_tabs": _dashboard_tabs(request, form, filters.brand),
        "export_query": _query_without(request, "after"),
        "can_export": can(request.user, filters.brand.pk, Action.EXPORT),
    }
    template = "dashboard/_explorer_results.html" if request.htmx else "dashboard/explorer.html"
    return render(request, template, context)


class _Echo:
    """csv.writer target that hands each row back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _export_rows(matches) -> Iterator[list]:
    for match in matches:
        mention = match.mention
        record = mention_record(match)
        record["platform"] = mention.platform
        record["reach"] = mention.author_followers
        record["engagement"] = match.engagement if _has_engagement(mention) else None
        record["has_case"] = "yes" if match.has_case else "no"
        yield csv_row(record, EXPLORER_FIELDS)


def _has_engagement(mention) -> bool:
    """Whether the source said anything of likes, replies or reposts (else "unknown")."""
    counts = (mention.like_count, mention.reply_count, mention.repost_count)
    return any(n is not None for n in counts)


def _csv_stream(matches) -> Iterator[str]:
    # Mention text, titles, names and ids come from strangers: every text cell goes through
    # listening/exports.py's spreadsheet rule (a leading "=", "+", "-", "@" gets a "'").
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPLORER_FIELDS)
    for row in _export_rows(matches):
        yield writer.writerow(spreadsheet_safe_row(row))


def export_filename(form: ExplorerForm, filters: ExplorerFilters) -> str:
    """brand[-vs-competitor]-mentions[-filters][-from-to]-<UTC stamp>.csv, ASCII only."""
    parts = [slugify(filters.brand.name) or "brand"]
    if filters.matched.pk != filters.brand.pk:
        parts.append(slugify(filters.matched.name) or "competitor")
    parts.append("mentions")
    data = form.cleaned_data
    for name in _NAMED_FILTERS:
        value = data.get(name)
        if value:
            parts.append(slugify(f"{name}-{value}")[:40])
    if filters.source_id is not None:
        parts.append(f"source-{filters.source_id}")
    if data.get("since"):
        parts.append(f"from-{data['since']:%Y-%m-%d}")
    if data.get("until"):
        parts.append(f"to-{data['until']:%Y-%m-%d}")
    if filters.sort != "newest":
        parts.append(f"by-{filters.sort}")
    parts.append(timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S"))
    return "-".join(p for p in parts if p)[:200] + ".csv"


@require_GET
@login_required
@in_user_zone
def explorer_export(request: HttpRequest) -> HttpResponse:
    """Every row of the explorer's current filters as CSV, streamed from a server-side cursor
    (EXPORT: admins, marketers): a million rows never sit in memory."""
    form, filters = _filters(request, Action.EXPORT)
    if form.errors:
        return render(request, "dashboard/export_invalid.html", {"form": form}, status=400)
    candidates = search_candidates(filters=filters)
    matches = iterate(explorer_matches(filters=filters, mention_ids=candidates))
    response = StreamingHttpResponse(_csv_stream(matches), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(form, filters)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
