"""Customer pages (issue 14): brand admins only (VIEW_CUSTOMERS / MANAGE_CUSTOMERS). Each
takes ?brand=<id>; a page without one shows the user's first brand where they may. Thin:
a form parses, brands.permissions decides, selectors read, one service writes."""

from __future__ import annotations

import csv
import logging
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from brands.models import Brand
from brands.permissions import Action, brand_ids_for, brands_for, require
from customers import selectors
from customers.before_after import before_after
from customers.forms import DecideForm, ImportForm, MatchFilterForm, RangeForm
from customers.loyalty import loyalty_panel
from customers.models import AuthorMatch, Customer, CustomerImport
from customers.services import (
    ImportFileError,
    customer_import_queue,
    customer_import_start,
    customers_import,
    match_decide,
)

PAGE_SIZE = 50
logger = logging.getLogger(__name__)


def _brand(request: HttpRequest, action: Action) -> Brand:
    """The brand named by ?brand= if the user may do action there (404 for a non-member,
    403 for another role), else the first brand where they may (403 when none)."""
    raw = request.GET.get("brand", "")
    if raw:
        try:
            brand_id = int(raw)
        except ValueError:
            raise Http404("No such brand.") from None
        brand = Brand.objects.filter(pk=brand_id).first()
        if brand is None:
            raise Http404("No such brand.")
        require(request.user, brand.pk, action)
        return brand
    ids = brand_ids_for(request.user, action)
    if not ids:
        raise PermissionDenied("Customer data is for brand admins only.")
    return Brand.objects.filter(pk__in=ids).order_by("name").first()


def _url(name: str, brand: Brand, **query) -> str:
    return f"{reverse(name)}?{urlencode({'brand': brand.pk, **query})}"


def _context(request: HttpRequest, brand: Brand, tab: str, **extra) -> dict:
    tabs = [
        ("customers", "Customers", _url("customers:index", brand)),
        ("matches", "Matches", _url("customers:matches", brand)),
        ("loyalty", "Loyalty", _url("customers:loyalty", brand)),
        ("before-after", "Before and after", _url("customers:before-after", brand)),
        ("import", "Import", _url("customers:import", brand)),
    ]
    return {
        "brand": brand,
        "brands": brands_for(request.user, Action.VIEW_CUSTOMERS),
        "tabs": tabs,
        "tab": tab,
        **extra,
    }


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    brand = _brand(request, Action.VIEW_CUSTOMERS)
    q = request.GET.get("q", "").strip()[:200]
    page = Paginator(selectors.customers_page(brand_id=brand.pk, q=q), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = _context(
        request,
        brand,
        "customers",
        page=page,
        q=q,
        total=Customer.objects.filter(brand=brand).count(),
        loyal=selectors.loyal_customers(brand.pk).count(),
        suggested=AuthorMatch.objects.filter(
            brand=brand, status=AuthorMatch.Status.SUGGESTED
        ).count(),
    )
    return render(request, "customers/index.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    """GET: the upload form and the brand's recent imports. POST: run the import in the
    request (files up to EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES) and show its result."""
    brand = _brand(request, Action.MANAGE_CUSTOMERS)
    result: CustomerImport | None = None
    failure = ""
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            customers = form.cleaned_data["customers"]
            orders = form.cleaned_data["orders"]
            size = customers.size + (orders.size if orders else 0)
            result = customer_import_start(
                brand=brand,
                user=request.user,
                via="upload",
                file_name=customers.name,
                orders_file_name=orders.name if orders else "",
                bytes_total=size,
            )
            if size > settings.EARSHOT_CUSTOMERS_INLINE_BYTES:
                customer_import_queue(
                    record=result,
                    customers=customers.read(),
                    orders=orders.read() if orders else None,
                )
                messages.info(
                    request,
                    f"{customers.name} is being imported in the background: its progress and "
                    "result appear below.",
                )
                return HttpResponseRedirect(_url("customers:import", brand))
            try:
                customers_import(
                    record=result,
                    customers=customers.open("rb"),
                    orders=orders.open("rb") if orders else None,
                )
            except ImportFileError as exc:
                failure = str(exc)
            except Exception as exc:
                # Recorded on the import (status failed, its reason) by customers_import.
                logger.exception("customer import %s stopped", result.pk)
                failure = (
                    f"The import stopped ({type(exc).__name__}). Batches stored before it stay "
                    "stored; uploading the same files again continues without duplicates."
                )
            form = ImportForm()
    else:
        form = ImportForm()
    imports = list(selectors.imports_recent(brand_id=brand.pk))
    listing = {"imports": imports, "any_pending": any(i.is_pending for i in imports)}
    if request.htmx:
        return render(request, "customers/_imports.html", {"brand": brand, **listing})
    context = _context(
        request,
        brand,
        "import",
        form=form,
        result=result,
        failure=failure,
        **listing,
    )
    return render(request, "customers/import.html", context, status=200)


@login_required
@require_GET
def matches(request: HttpRequest) -> HttpResponse:
    brand = _brand(request, Action.VIEW_CUSTOMERS)
    status = MatchFilterForm(request.GET).status_value()
    page = Paginator(selectors.matches_page(brand_id=brand.pk, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    statuses = [
        (value, label, _url("customers:matches", brand, status=value))
        for value, label in AuthorMatch.Status.choices
    ]
    context = _context(
        request,
        brand,
        "matches",
        page=page,
        status=status,
        statuses=statuses,
        decide_url=_url("customers:match-decide", brand),
    )
    return render(request, "customers/matches.html", context)


@login_required
@require_POST
def match_decide_view(request: HttpRequest) -> HttpResponse:
    brand = _brand(request, Action.MANAGE_CUSTOMERS)
    form = DecideForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Name a match and a decision.", status=400, content_type="text/plain")
    match = selectors.match_get(brand_id=brand.pk, match_id=form.cleaned_data["match"])
    if match is None:
        raise Http404("No such match.")
    was = match.status
    match_decide(match=match, user=request.user, confirm=form.cleaned_data["decision"] == "confirm")
    return HttpResponseRedirect(_url("customers:matches", brand, status=was))


@login_required
@require_GET
def loyalty(request: HttpRequest) -> HttpResponse:
    brand = _brand(request, Action.VIEW_CUSTOMERS)
    panel = loyalty_panel(brand_id=brand.pk)
    context = _context(
        request,
        brand,
        "loyalty",
        panel=panel,
        rows=panel.rows(),
        export_url=_url("customers:loyalty-export", brand),
    )
    return render(request, "customers/loyalty.html", context)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@login_required
@require_GET
def loyalty_export(request: HttpRequest) -> HttpResponse:
    brand = _brand(request, Action.VIEW_CUSTOMERS)
    panel = loyalty_panel(brand_id=brand.pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="loyalty-{brand.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "figure", "currency",
            "loyalists", "loyalists_low", "loyalists_high", "loyalists_customers",
            "rest", "rest_low", "rest_high", "rest_customers",
            "difference", "difference_low", "difference_high", "too_few_to_compare",
        ]
    )  # fmt: skip
    for row in panel.rows():
        a, b, d = row["loyalists"], row["rest"], row["difference"]
        writer.writerow(
            [
                row["figure"], row["currency"],
                _number(a.value), _number(a.low), _number(a.high), row["loyalists_n"],
                _number(b.value), _number(b.low), _number(b.high), row["rest_n"],
                _number(d and d.value), _number(d and d.low), _number(d and d.high),
                "yes" if panel.too_few else "no",
            ]
        )  # fmt: skip
    return response


@login_required
@require_GET
def before_after_view(request: HttpRequest) -> HttpResponse:
    """Chicken or egg: answered customers' orders before and after their first answer,
    beside same-cohort customers with no social contact (customers.before_after)."""
    brand = _brand(request, Action.VIEW_CUSTOMERS)
    form = RangeForm(request.GET)
    today = timezone.now().astimezone(UTC).date()
    since_day, until_day = today - timedelta(days=365), today
    if form.is_valid():
        since_day = form.cleaned_data["since"] or since_day
        until_day = form.cleaned_data["until"] or until_day
    figures = before_after(
        brand_id=brand.pk,
        since=datetime.combine(since_day, time.min, tzinfo=UTC),
        until=datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=UTC),
    )
    rows = [
        ("Orders per customer", figures.customers.orders_before, figures.customers.orders_after,
         figures.control.orders_before, figures.control.orders_after, figures.did_orders),
        (f"Spend per customer ({figures.currency or 'no orders'})",
         figures.customers.spend_before, figures.customers.spend_after,
         figures.control.spend_before, figures.control.spend_after, figures.did_spend),
    ]  # fmt: skip
    table = [
        {
            "figure": label,
            "values": [figures.customers.mean(v) for v in (b, a, cb, ca)],
            "did": did,
        }
        for label, b, a, cb, ca, did in rows
    ]
    context = _context(
        request, brand, "before-after", form=form, figures=figures, table=table,
        since=since_day, until=until_day,
    )  # fmt: skip
    return render(request, "customers/before_after.html", context)
