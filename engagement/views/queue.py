"""The queue: tabs of cases with filters, claiming, and "next case"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from brands.permissions import Action, brands_for
from brands.views import no_access
from engagement.forms.queue import QUEUE_TABS, QueueFilterForm
from engagement.selectors import queue as selectors
from engagement.services import CaseActionError, case_claim_next
from engagement.views.queue_rows import queue_row_html, queue_rows_html

PAGE_SIZE = 50
NO_QUEUE = "The queue is for agents and admins; your role does not include it."
EMPTY_TAB = {
    "care": "No cases need an answer. New mentions that need one appear here within seconds.",
    "advocate": "No advocates to thank right now. Happy customers appear here as they post.",
    "resolved": "No resolved cases yet.",
}


@dataclass(frozen=True)
class QueuePage:
    number: int
    total: int
    is_capped: bool

    @classmethod
    def clamped(cls, number: int, *, count: int, cap: int) -> QueuePage:
        """The requested page, or the last one when it is past the end (of a capped count)."""
        total = min(count, cap)
        last = max(1, -(-total // PAGE_SIZE))
        return cls(number=min(number, last), total=total, is_capped=count > cap)

    @property
    def start(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def end(self) -> int:
        return min(self.number * PAGE_SIZE, self.total)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))  # ceiling division

    @property
    def start_label(self) -> str:
        return f"{self.start:,}"

    @property
    def end_label(self) -> str:
        return f"{self.end:,}"

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.is_capped else f"{self.total:,}"

    def page_numbers(self) -> list[int | None]:
        """Page links around the current one, None where a gap is elided."""
        wanted = {1, self.num_pages, *range(self.number - 2, self.number + 3)}
        pages: list[int | None] = []
        for n in sorted(p for p in wanted if 1 <= p <= self.num_pages):
            if pages and pages[-1] is not None and n - pages[-1] > 1:
                pages.append(None)
            pages.append(n)
        return pages


def _filter_form(request: HttpRequest) -> QueueFilterForm:
    return QueueFilterForm(
        request.GET,
        brands=brands_for(request.user, Action.VIEW_QUEUE),
        assignees=selectors.queue_assignees(user=request.user),
    )


def _query(params: QueryDict, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    q = params.copy()
    for key, value in changes.items():
        q.pop(key, None)
        if value is not None:
            q[key] = value
    encoded = q.urlencode()
    return f"?{encoded}" if encoded else "?"


def _tabs(request: HttpRequest, counts: dict[str, int], active: str) -> list[dict]:
    cap = selectors.QUEUE_COUNT_CAP
    return [
        {
            "key": key,
            "label": label,
            "count": f"{cap:,}+" if counts[key] > cap else f"{counts[key]:,}",
            "url": reverse("engagement:queue") + _query(request.GET, tab=key, page=None),
            "is_active": key == active,
        }
        for key, label in QUEUE_TABS.items()
    ]


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    if not selectors.queue_brand_ids(user=request.user):
        return no_access(request, reason=NO_QUEUE)
    form = _filter_form(request)
    filters = form.filters()
    tab = filters["tab"]
    counts = selectors.queue_counts(user=request.user, filters=filters)
    page = QueuePage.clamped(filters["page"], count=counts[tab], cap=selectors.QUEUE_COUNT_CAP)
    offset = (page.number - 1) * PAGE_SIZE
    rows = selectors.queue_page(
        user=request.user, tab=tab, filters=filters, offset=offset, limit=PAGE_SIZE
    )
    has_filters = any(k not in ("tab", "sort", "page") for k in filters)
    care_off = selectors.queue_care_off_brands(user=request.user)
    brand = filters.get("brand")
    context = {
        # Brands whose cases the queue leaves out, and the filtered brand's, if it is one.
        "care_off": [c for c in care_off if brand is None or c.brand.pk == brand.pk],
        "care_off_filtered": next((c for c in care_off if brand and c.brand.pk == brand.pk), None),
        "form": form,
        "filters": filters,
        "tab": tab,
        "tabs": _tabs(request, counts, tab),
        "counts_url": reverse("engagement:queue-counts") + _query(request.GET, page=None),
        "rows": rows,
        "rows_html": queue_rows_html(
            rows, csrf_token=get_token(request), here=request.get_full_path(), now=timezone.now()
        ),
        "page": page,
        "page_links": [
            (n, _query(request.GET, page=str(n)) if n else "") for n in page.page_numbers()
        ],
        "has_filters": has_filters,
        "clear_url": reverse("engagement:queue") + _query(QueryDict(), tab=tab),
        "empty_message": EMPTY_TAB[tab],
        "here": request.get_full_path(),
    }
    template = "engagement/_queue_rows.html" if request.htmx else "engagement/queue.html"
    return render(request, template, context)


@login_required
@require_GET
def queue_counts(request: HttpRequest) -> HttpResponse:
    """The tab bar alone, polled every 15 s so the counts stay live."""
    if not selectors.queue_brand_ids(user=request.user):
        return no_access(request, reason=NO_QUEUE)
    form = _filter_form(request)
    filters = form.filters()
    counts = selectors.queue_counts(user=request.user, filters=filters)
    context = {
        "tabs": _tabs(request, counts, filters["tab"]),
        "counts_url": request.get_full_path(),
    }
    return render(request, "engagement/_queue_tabs.html", context)


def claim_answer(
    request: HttpRequest, *, case_id: int, claim: Callable[[], object]
) -> HttpResponse:
    """Claim from a queue row (views/case.py case_claim, the one claim view, asks here): htmx
    gets the row back (new owner, or why not); others a redirect back with a message."""
    error = ""
    try:
        claim()
    except CaseActionError as exc:
        error = str(exc)
    if request.htmx:
        row = selectors.queue_row_get(user=request.user, case_id=case_id)
        row.error = error
        html = queue_row_html(row, csrf_token=get_token(request), here="", now=timezone.now())
        return HttpResponse(html)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"You have claimed case {case_id}.")
    return redirect(_back(request))


@login_required
@require_POST
def next_case(request: HttpRequest) -> HttpResponse:
    """Claim the highest-priority unclaimed case (of the filtered brand) and open it."""
    if not selectors.queue_brand_ids(user=request.user):
        return no_access(request, reason=NO_QUEUE)
    brand = _filter_form(request).filters().get("brand")
    case = case_claim_next(user=request.user, brand_ids=[brand.pk] if brand else None)
    if case is None:
        messages.info(request, "The queue is empty.")
        return redirect(_back(request))
    return redirect("engagement:case", case_id=case.pk)


def _back(request: HttpRequest) -> str:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return nxt
    return reverse("engagement:queue")
