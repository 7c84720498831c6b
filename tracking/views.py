"""Tracked links: the public redirect and conversion endpoints, and the pages that make and
list links. Thin: forms parse, selectors fetch (asking brands.permissions), services write."""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from brands.models import Brand
from brands.permissions import Action, brands_for, can, require
from engagement.selectors.case import case_get_for_user
from listening.exports import spreadsheet_safe_row
from tracking import selectors, services
from tracking.forms import BrandLinkForm, LinkForm, RangeForm

# A postback is one small JSON object: anything bigger is refused unread.
POSTBACK_MAX_BYTES = 16 * 1024
# The smallest transparent GIF (1x1).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _no_store(response: HttpResponse) -> HttpResponse:
    # Every visit must reach Earshot to be counted: no browser or proxy may keep the answer.
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- public: the redirect and the conversions ------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def link_redirect(request: HttpRequest, code: str) -> HttpResponse:
    """/r/<code>: 302 to the brand's page with UTM parameters and the click token; a HEAD
    request (a checker, not a visitor) is answered the same way but counts no click."""
    target = services.click_record(
        code=code,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.headers.get("User-Agent", "")[:1000],
        record=request.method == "GET",
    )
    if target is None:
        raise Http404("No such link.")
    return _no_store(HttpResponseRedirect(target))


@csrf_exempt  # Senders are shops' servers authenticated by the HMAC signature, not browsers.
@require_POST
def conversion_postback(request: HttpRequest) -> JsonResponse:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > POSTBACK_MAX_BYTES:
        return JsonResponse(
            {"error": f"send a Content-Length of at most {POSTBACK_MAX_BYTES} bytes"}, status=413
        )
    body = request.read(POSTBACK_MAX_BYTES + 1)
    if len(body) > POSTBACK_MAX_BYTES:
        return JsonResponse({"error": "the body is longer than its Content-Length"}, status=413)
    result = services.conversion_postback_receive(
        body=body,
        timestamp=request.headers.get("X-Earshot-Timestamp"),
        signature=request.headers.get("X-Earshot-Signature"),
    )
    return JsonResponse(result.body, status=result.status)


@require_GET
def conversion_pixel(request: HttpRequest) -> HttpResponse:
    """The thank-you page's <img>: always a 1x1 GIF (so no page shows a broken image); the
    status says what happened (200 recorded or duplicate, 400 a bad field, 404 unknown
    click) and X-Earshot-Result says it in words."""
    result = services.conversion_pixel_receive(
        click_token=request.GET.get("click", ""),
        order_id=request.GET.get("order", ""),
        amount=request.GET.get("amount", ""),
        currency=request.GET.get("currency", ""),
    )
    response = HttpResponse(PIXEL_GIF, content_type="image/gif", status=result.status)
    response["X-Earshot-Result"] = str(result.body.get("result") or result.body.get("error"))
    return _no_store(response)


# --- making links ---------------------------------------------------------------------------


def _form_error(form) -> str:
    return "; ".join(
        ", ".join(errors) if name == "__all__" else f"{name}: {', '.join(errors)}"
        for name, errors in form.errors.items()
    )


def _made(request: HttpRequest, *, url: str = "", error: str = "", placeholder: str = ""):
    return render(
        request,
        "tracking/_link_made.html",
        {"url": url, "error": error, "placeholder": placeholder},
        status=409 if error else 200,
    )


@login_required
@require_POST
def case_link_create(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's "Insert tracked link": a link for this case and its author, made by the
    agent, answered with the /r/ URL that case.js inserts at the reply box's cursor."""
    case = case_get_for_user(case_id=case_id, user=request.user, action=Action.WORK_CASES)
    form = LinkForm(request.POST)
    error, url = "", ""
    if not form.is_valid():
        error = _form_error(form)
    else:
        try:
            link = services.link_create(
                brand=case.brand,
                target_url=form.cleaned_data["url"],
                campaign=form.cleaned_data["campaign"],
                case=case,
                created_by=request.user,
            )
            url = services.link_public_url(link.code)
        except services.LinkRefused as exc:
            error = str(exc)
    if request.htmx:
        return _made(request, url=url, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Tracked link made: {url}")
    return redirect(reverse("engagement:case", args=[case.pk]))


@login_required
@require_POST
def brand_link_create(request: HttpRequest) -> HttpResponse:
    """A marketer's campaign link (links page), or a template link for saved replies (the
    saved-reply editor): answered with the /r/ URL, or the {link:<code>} to put in a saved
    reply."""
    form = BrandLinkForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _made(request, error=_form_error(form))
        messages.error(request, _form_error(form))
        return redirect(reverse("tracking:links"))
    brand = Brand.objects.filter(pk=form.cleaned_data["brand"]).first()
    if brand is None:
        raise Http404("No such page.")
    error = url = placeholder = ""
    try:
        link = services.link_create(
            brand=brand,
            target_url=form.cleaned_data["url"],
            campaign=form.cleaned_data["campaign"],
            created_by=request.user,
            is_template=form.cleaned_data["is_template"],
        )
        url = services.link_public_url(link.code)
        placeholder = f"{{link:{link.code}}}" if link.is_template else ""
    except services.LinkRefused as exc:
        error = str(exc)
    if request.htmx:
        return _made(request, url=url, error=error, placeholder=placeholder)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Tracked link made: {placeholder or url}")
    if can(request.user, brand.pk, Action.VIEW_REFERRALS):
        return redirect(f"{reverse('tracking:links')}?brand={brand.pk}")
    return redirect(reverse("engagement:queue"))


# --- the links page and its CSV ---------------------------------------------------------------


def _page_brand(request: HttpRequest, form: RangeForm) -> Brand:
    """The brand asked for (404/403 as permissions.py says), else the user's first."""
    brand_id = form.cleaned_data.get("brand") if form.is_valid() else None
    if brand_id is None and "brand" in form.errors:
        raise Http404("No such page.")
    if brand_id is not None:
        require(request.user, brand_id, Action.VIEW_REFERRALS)
        brand = Brand.objects.filter(pk=brand_id).first()
    else:
        brand = brands_for(request.user, Action.VIEW_REFERRALS).first()
        if brand is None:
            raise PermissionDenied("Your roles do not include a brand's referrals.")
    if brand is None:
        raise Http404("No such page.")
    return brand


@login_required
@require_GET
def links(request: HttpRequest) -> HttpResponse:
    """A brand's tracked links with their clicks, sales and revenue over a range; the form
    that makes a campaign link (or a template link for saved replies)."""
    form = RangeForm(request.GET)
    brand = _page_brand(request, form)
    start, end = form.bounds()
    rows = list(
        selectors.link_rows(
            links=selectors.brand_links_for_user(user=request.user, brand_id=brand.pk),
            brand_id=brand.pk,
            start=start,
            end=end,
        )
    )
    totals = selectors.referral_totals(brand_id=brand.pk, start=start, end=end)
    return render(
        request,
        "tracking/links.html",
        {
            "brand": brand,
            "brands": brands_for(request.user, Action.VIEW_REFERRALS),
            "form": form,
            "since": timezone.localtime(start).date(),
            "until": (timezone.localtime(end) - timedelta(days=1)).date(),
            "rows": rows,
            "totals": totals,
            "link_form": BrandLinkForm(initial={"brand": brand.pk}),
            "can_make": can(request.user, brand.pk, Action.MAKE_LINKS),
            "domains": brand.domain_list,
        },
    )


EXPORT_HEADER = [
    "code",
    "url",
    "target_url",
    "campaign",
    "case_id",
    "is_template",
    "created_by",
    "created_at",
    "clicks",
    "bot_clicks",
    "conversions",
    "verified_conversions",
    "revenue",
]


def _revenue_text(revenue: dict) -> str:
    return " ".join(f"{amount} {currency}" for currency, amount in sorted(revenue.items()))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _export_rows(rows: Iterable[selectors.LinkRow]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_HEADER)
    for row in rows:
        link, figures = row.link, row.figures
        # Campaigns and targets are typed by people: spreadsheet-safe like every web CSV.
        yield writer.writerow(
            spreadsheet_safe_row(
                [
                    link.code,
                    services.link_public_url(link.code),
                    link.target_url,
                    link.campaign,
                    link.case_id or "",
                    "yes" if link.is_template else "no",
                    link.created_by.get_username() if link.created_by else "",
                    link.created_at.isoformat(),
                    figures.clicks,
                    figures.bot_clicks,
                    figures.conversions,
                    figures.verified_conversions,
                    _revenue_text(figures.revenue),
                ]
            )
        )


@login_required
@require_GET
def links_export(request: HttpRequest) -> StreamingHttpResponse:
    """The links page as CSV, streamed (the links are read in chunks)."""
    form = RangeForm(request.GET)
    brand = _page_brand(request, form)
    start, end = form.bounds()
    links_qs = selectors.brand_links_for_user(user=request.user, brand_id=brand.pk)
    rows = selectors.link_rows(
        links=links_qs.iterator(chunk_size=2000), brand_id=brand.pk, start=start, end=end
    )
    response = StreamingHttpResponse(_export_rows(rows), content_type="text/csv; charset=utf-8")
    filename = f"{slugify(brand.name) or 'brand'}-tracked-links.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
