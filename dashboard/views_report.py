"""The printable report of a brand and range, and its weekly e-mail subscription (issue 12).

The report is the charted pages on a few sheets of paper: it calls the overview, share of
voice, authors, funnel and care views for the same request and prints their figures
(dashboard/views.py `_render_page` hands back each page's context), so a figure on paper is
the figure on screen by construction, permissions included.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from brands.permissions import Action, require
from dashboard import views as pages
from dashboard.charts import Chart
from dashboard.report import report_subscription_of
from dashboard.services import report_subscription_delete, report_subscription_set
from dashboard.timezones import is_zone, user_zone, user_zone_name

# The pages the report prints, in its order; each is called with the report's own request.
PAGES: tuple[tuple[str, Callable[[HttpRequest], TemplateResponse]], ...] = (
    ("overview", pages.overview),
    ("share", pages.share),
    ("authors", pages.authors),
    ("care", pages.care),
    ("funnel", pages.funnel),
)
# The charts the report draws (the others stay on their pages: a few sheets, not twenty).
CHARTS = {
    "overview": ("volume", "sentiment", "net"),
    "share": ("share_mentions",),
    "care": ("first_response", "sla"),
}
AUTHORS_PRINTED = 10


@require_GET
@login_required
def report(request: HttpRequest) -> HttpResponse:
    """The headline figures, volume and sentiment, spikes, share of voice, advocates and
    detractors, care and the funnel of one brand and range, laid out for A4."""
    with timezone.override(user_zone(request)):
        shell = pages._shell(request, "report")
        context = {name: view(request).context_data for name, view in PAGES}
        charts = {
            chart.id: chart
            for name, ids in CHARTS.items()
            for chart in context[name]["charts"]
            if chart.id in ids
        }
        author_tables = [
            (key, title, rows[:AUTHORS_PRINTED], empty)
            for key, title, _, rows, empty in context["authors"]["tables"]
            if key in ("advocates", "detractors")
        ]
        subscription = report_subscription_of(user=request.user, brand_id=shell.brand.pk)
        return pages._render_page(
            request,
            "dashboard/report.html",
            shell,
            {
                "charts": list(charts.values()),
                "chart": charts,
                "overview": context["overview"],
                "share": context["share"],
                "care": context["care"],
                "funnel": context["funnel"],
                "volume_table": _time_table(
                    [
                        ("Mentions", charts["volume"], 0),
                        ("Positive", charts["sentiment"], 0),
                        ("Neutral", charts["sentiment"], 1),
                        ("Negative", charts["sentiment"], 2),
                        ("Net sentiment", charts["net"], 0),
                    ]
                ),
                "care_table": _time_table(
                    [
                        ("First response, median", charts["first_response"], 0),
                        ("First response, p90", charts["first_response"], 1),
                        ("Within the SLA", charts["sla"], 0),
                    ]
                ),
                "author_tables": author_tables,
                "empty": charts["volume"].empty,
                "subscription": subscription,
                "subscription_zone": subscription.time_zone
                if subscription
                else user_zone_name(request),
            },
        )


def _time_table(columns: list[tuple[str, Chart, int]]) -> dict | None:
    """Charts over the same time axis as one table, a row per bucket and a column per
    (header, chart, series index): three tables of thirty rows would take a sheet each.
    None when every chart is empty (each says why)."""
    if all(chart.empty for _, chart, _ in columns):
        return None
    labels = columns[0][1].labels
    return {
        "header": [header for header, _, _ in columns],
        "rows": [
            (label, [(chart.series[s].values[i], chart.unit) for _, chart, s in columns])
            for i, label in enumerate(labels)
        ],
    }


class SubscriptionForm(forms.Form):
    brand = forms.IntegerField(min_value=1)
    # Subscribe (or change the time zone) unless "unsubscribe" is sent.
    unsubscribe = forms.BooleanField(required=False)
    time_zone = forms.CharField(max_length=64, required=False)
    next = forms.CharField(max_length=2000, required=False)

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        if not self.cleaned_data.get("unsubscribe") and not is_zone(name):
            raise forms.ValidationError("Choose a time zone from the list.")
        return name


@require_POST
@login_required
def report_subscription(request: HttpRequest) -> HttpResponse:
    """Subscribe to (or leave) the weekly e-mail of a brand's report; back to the report."""
    form = SubscriptionForm(request.POST)
    if not form.is_valid() and "brand" in form.errors:
        raise Http404("No such page.")
    brand_id = form.cleaned_data.get("brand")
    if brand_id is None:
        raise Http404("No such page.")
    require(request.user, brand_id, Action.VIEW_DASHBOARD)
    target = form.cleaned_data.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = f"{reverse('dashboard:report')}?brand={brand_id}"
    if not form.is_valid():
        messages.error(request, " ".join(" ".join(e) for e in form.errors.values()))
    elif form.cleaned_data["unsubscribe"]:
        report_subscription_delete(user=request.user, brand_id=brand_id)
        messages.success(request, "You will get no more weekly e-mails of this report.")
    else:
        subscription = report_subscription_set(
            user=request.user, brand_id=brand_id, time_zone=form.cleaned_data["time_zone"]
        )
        messages.success(
            request,
            f"You will get this report by e-mail every week, in {subscription.time_zone}.",
        )
    return redirect(target)
