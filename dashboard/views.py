"""Read-only pages for marketers (and admins; agents may list mentions): parse the GET with a
form, ask brands/permissions.py, fetch through dashboard/selectors.py, render or stream."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from brands.models import Brand
from brands.permissions import Action, brand_ids_for, brands_for, can, require
from dashboard.charts import (
    LABEL_COLOURS,
    LABELS,
    NEUTRAL_COLOUR,
    SECOND_COLOUR,
    Chart,
    Series,
    brand_colour,
    bucket_days,
    bucket_label,
    drill_link,
    explorer_url,
    ratio,
    totals_by,
)
from dashboard.engaged_panel import engaged_panel
from dashboard.forms import (
    DEFAULT_RANGE,
    RANGE_CHOICES,
    BrandForm,
    MentionFilterForm,
    Period,
    PeriodForm,
    day_start,
)
from dashboard.report import headline_figures, period_spikes
from dashboard.selectors import (
    author_rows,
    brand_corrections_for_export,
    brand_funnel,
    brand_get,
    brand_has_mentions,
    brand_matches_filtered,
    brand_summaries,
    brand_with_competitors,
    care_backlog,
    care_enabled,
    care_figures_of_period,
    care_figures_over_time,
    facts_totals,
    mention_facts,
    mention_totals,
    source_names,
    standing_author_ids,
    top_author_ids,
)
from dashboard.timezones import SESSION_KEY, is_zone, user_zone
from engagement.models import AuthorStanding
from engagement.selectors.care_report import OUTCOME_KEYS
from listening.exports import (
    CORRECTION_FIELDS,
    MENTION_FIELDS,
    correction_record,
    csv_row,
    mention_record,
    spreadsheet_safe_row,
)
from listening.outside import web_url
from listening.rollups import terms_top
from listening.selectors import iterate

PAGE_SIZE = 50
SUMMARY_DAYS = 30
CASE_OUTCOME_NAMES = {
    "converted": "Converted",
    "improved": "Improved",
    "unchanged": "Unchanged",
    "worsened": "Worsened",
    "no_further_word": "No further word",
    "pending": "Still watching",
}


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


# --- the charted pages: overview, share of voice, care (issue 12) ------------------------------

TABS = (
    ("overview", "Overview", "dashboard:overview"),
    ("share", "Share of voice", "dashboard:share"),
    ("authors", "Authors", "dashboard:authors"),
    ("funnel", "Funnel", "dashboard:funnel"),
    ("care", "Care", "dashboard:care"),
    ("roi", "ROI", "dashboard:roi"),
)


@dataclass
class Shell:
    """What every charted page shows above its panels: brand, period, time zone, tabs."""

    brand: Brand
    brands: list[Brand]
    form: PeriodForm
    period: Period
    zone: str
    tab: str
    explorer: str
    tabs: list[tuple[str, str, str]] = field(default_factory=list)

    def query(self, **changes: object) -> str:
        """This page's GET parameters (brand and range) with ``changes``, urlencoded."""
        params = {"brand": self.brand.pk, "range": self.form.cleaned_data.get("range", "")}
        if params["range"] == "custom":
            params |= {"since": self.period.first, "until": self.period.last}
        params |= changes
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    @property
    def presets(self) -> list[tuple[str, str, bool, str]]:
        """(range, label, whether chosen, this page's query with that range)."""
        chosen = self.form.cleaned_data.get("range") if self.form.is_valid() else DEFAULT_RANGE
        return [
            (value, label, value == chosen, self.query(range=value, since="", until=""))
            for value, label in RANGE_CHOICES
            if value != "custom"
        ]

    @property
    def explorer_link(self) -> str:
        return drill_link(self.explorer, self.brand.pk, self.period.first, self.period.last)


def _shell(request: HttpRequest, tab: str) -> Shell:
    form = PeriodForm(request.GET)
    brand_id = _brand_id(request, form, Action.VIEW_DASHBOARD)
    # Validate (and read today's date) in the user's zone: the caller holds the override.
    form.is_valid()
    period = form.period()
    shell = Shell(
        brand=brand_get(brand_id=brand_id),
        brands=list(brands_for(request.user, Action.VIEW_DASHBOARD)),
        form=form,
        period=period,
        # The zone's IANA key: get_current_timezone_name() gives a fixed-offset zone's
        # abbreviation ("+14" for Etc/GMT-14), which matches no choice of the selector.
        zone=str(timezone.get_current_timezone()),
        tab=tab,
        explorer=explorer_url(),
    )
    for key, label, name in TABS:
        try:
            shell.tabs.append((key, label, f"{reverse(name)}?{shell.query()}"))
        except NoReverseMatch:
            continue  # a page not built yet has no tab
    if shell.explorer:
        shell.tabs.append(("mentions", "Mentions", shell.explorer_link))
    return shell


class _PageResponse(TemplateResponse):
    """A charted page, rendered after its view returned but in the time zone the view ran
    in. Unrendered, it hands its figures to the printable report (dashboard/views_report.py
    reads context_data and never renders the page)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.zone = timezone.get_current_timezone()

    @property
    def rendered_content(self) -> str:
        with timezone.override(self.zone):
            return super().rendered_content


def _render_page(request: HttpRequest, template: str, shell: Shell, context: dict):
    # Table panels (the most engaged mentions) give their CSV button a chart's spec too.
    charts = [*context.get("charts", []), *context.get("table_panels", [])]
    return _PageResponse(
        request,
        template,
        {
            "shell": shell,
            "chart_specs": {chart.id: chart.spec() for chart in charts if not chart.empty},
            **context,
        },
    )


def _time_axis(shell: Shell):
    buckets = bucket_days(shell.period)
    keys = [key for key, _, _ in buckets]
    labels = [bucket_label(key, first, shell.period.bucket) for key, first, _ in buckets]
    return buckets, keys, labels


def _empty_reason(shell: Shell) -> str:
    if not brand_has_mentions(brand_id=shell.brand.pk):
        return f"No mentions of {shell.brand.name} yet: its sources have caught nothing."
    return (
        f"No mentions of {shell.brand.name} from {shell.period.first:%Y-%m-%d} "
        f"to {shell.period.last:%Y-%m-%d}."
    )


def _breakdown_chart(
    shell: Shell,
    counts: dict,
    param: str,
    chart_id: str,
    title: str,
    names: dict | None = None,
    empty: str = "",
) -> Chart:
    """Mentions per platform, source or language, most first; ``param`` is the explorer's
    filter of that breakdown (an unknown platform or language gets no link: the explorer
    cannot ask for "none")."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    colour = brand_colour(shell.brand.pk)
    first, last = shell.period.first, shell.period.last
    labels, values, links = [], [], []
    for key, count in ordered:
        if names is not None:
            labels.append(names.get(key, str(key)))
        else:
            labels.append(str(key) or "unknown")
        values.append(count)
        links.append(
            drill_link(shell.explorer, shell.brand.pk, first, last, **{param: key or ""})
            if (key or param == "source")
            else ""
        )
    return Chart(
        chart_id, title, "hbar", labels, [Series("Mentions", colour, values, links)], empty=empty
    )


TERMS_LISTED = 10
SPIKE_COLOUR = "#24292f"


def _term_charts(shell: Shell, *, empty: str) -> list[Chart]:
    """Top matched terms and top hashtags of the period (TermRollup, two queries). A term
    drills down with the explorer's term filter; a hashtag by searching its word."""
    period, brand = shell.period, shell.brand
    zone = timezone.get_current_timezone()
    terms: list[tuple[str, int]] = []
    hashtags: list[tuple[str, int]] = []
    if not empty:
        every = terms_top(
            brand_ids=[brand.pk],
            start=period.first,
            end=period.last,
            tz=zone,
            limit=TERMS_LISTED * 3,
        )
        terms = [(term, n) for term, n in every if not term.startswith("#")][:TERMS_LISTED]
        hashtags = terms_top(
            brand_ids=[brand.pk],
            start=period.first,
            end=period.last,
            tz=zone,
            hashtags_only=True,
            limit=TERMS_LISTED,
        )
    colour = brand_colour(brand.pk)

    def link(**filters: str) -> str:
        return drill_link(shell.explorer, brand.pk, period.first, period.last, **filters)

    return [
        Chart(
            "terms",
            "Top matched terms",
            "hbar",
            [term for term, _ in terms],
            [
                Series(
                    "Mentions",
                    colour,
                    [n for _, n in terms],
                    [link(term=term) for term, _ in terms],
                )
            ],
            empty=empty,
            note="The words of the brand's query that the mentions matched.",
        ),
        Chart(
            "hashtags",
            "Top hashtags",
            "hbar",
            [tag for tag, _ in hashtags],
            [
                Series(
                    "Mentions",
                    colour,
                    [n for _, n in hashtags],
                    [link(q=tag.lstrip("#")) for tag, _ in hashtags],
                )
            ],
            empty=empty or ("" if hashtags else "No hashtag in these mentions."),
        ),
    ]


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Mention volume, sentiment, reach and engagement of a brand over a period, and where
    the mentions came from; every figure links to the mentions behind it."""
    with timezone.override(user_zone(request)):
        shell = _shell(request, "overview")
        period = shell.period
        facts = mention_facts(
            brand_ids=[shell.brand.pk],
            since=period.since,
            until=period.until,
            bucket=period.bucket,
            tz=timezone.get_current_timezone(),
        )
        # The buckets cover the period exactly: its totals are theirs.
        totals = facts_totals(facts)
        previous = mention_totals(
            brand_ids=[shell.brand.pk], since=period.previous_since, until=period.previous_until
        )[shell.brand.pk]
        empty = "" if facts else _empty_reason(shell)
        buckets, keys, labels = _time_axis(shell)
        by_bucket = totals_by(facts, "bucket")
        brand_id, base = shell.brand.pk, shell.explorer

        def column(key: date, name: str) -> int:
            return by_bucket.get(key, {}).get(name, 0)

        volume = Chart(
            "volume",
            "Mentions",
            "bar",
            labels,
            [
                Series(
                    "Mentions",
                    brand_colour(brand_id),
                    [column(key, "mentions") for key in keys],
                    [drill_link(base, brand_id, first, last) for _, first, last in buckets],
                )
            ],
            keys=[f.isoformat() for _, f, _ in buckets],
            empty=empty,
            note=f"One bar per {period.bucket}, in {shell.zone}.",
        )
        spikes = (
            period_spikes(brand=shell.brand, period=period, explorer=shell.explorer)
            if not empty
            else []
        )
        spike_days = {spike.day for spike in spikes}
        if spike_days:
            volume.colours = [
                SPIKE_COLOUR
                if any(first <= day <= last for day in spike_days)
                else brand_colour(brand_id)
                for _, first, last in buckets
            ]
            volume.note += " Dark bars hold a spike (listed below the charts)."
        sentiment = Chart(
            "sentiment",
            "Sentiment",
            "stacked",
            labels,
            [
                Series(
                    label.capitalize(),
                    LABEL_COLOURS[label],
                    [column(key, label) for key in keys],
                    [
                        drill_link(base, brand_id, first, last, label=label)
                        for _, first, last in buckets
                    ],
                )
                for label in LABELS
            ],
            keys=[f.isoformat() for _, f, _ in buckets],
            empty=empty,
            note="The effective label: an agent's correction counts, not the first score."
            + (
                f" {totals.unscored:,} mention{pluralize(totals.unscored)} in languages Earshot"
                " does not score are counted in volume and reach, not here."
                if totals.unscored
                else ""
            ),
        )
        net = Chart(
            "net",
            "Net sentiment",
            "line",
            labels,
            [
                Series(
                    "Net sentiment",
                    brand_colour(brand_id),
                    [
                        ratio(
                            column(key, "positive") - column(key, "negative"),
                            sum(column(key, label) for label in LABELS),
                        )
                        for key in keys
                    ],
                    [drill_link(base, brand_id, first, last) for _, first, last in buckets],
                )
            ],
            unit="percent",
            keys=[f.isoformat() for _, f, _ in buckets],
            empty=empty,
            note="(positive - negative) / scored mentions, in percent: -100 to 100.",
            bounds=(-100, 100),
        )
        sources = source_names(source_ids={fact.source_id for fact in facts})

        def mentions_by(attribute: str) -> dict:
            return {key: sums["mentions"] for key, sums in totals_by(facts, attribute).items()}

        languages = dict(
            sorted(mentions_by("language").items(), key=lambda item: (-item[1], item[0]))
        )
        charts = [
            volume,
            sentiment,
            net,
            _breakdown_chart(
                shell, mentions_by("platform"), "platform", "platforms", "By platform", empty=empty
            ),
            _breakdown_chart(
                shell,
                mentions_by("source_id"),
                "source",
                "sources",
                "By source",
                names=sources,
                empty=empty,
            ),
            _breakdown_chart(shell, languages, "lang", "languages", "By language", empty=empty),
            *_term_charts(shell, empty=empty),
        ]
        figures = headline_figures(totals=totals, previous=previous)
        engaged = engaged_panel(
            brand_id=brand_id,
            brand_name=shell.brand.name,
            since=period.since,
            until=period.until,
            first=period.first,
            last=period.last,
            zone=timezone.get_current_timezone(),
            mentions=totals.mentions,
            empty=empty,
        )
        return _render_page(
            request,
            "dashboard/overview.html",
            shell,
            {
                "charts": charts,
                "figures": figures,
                "totals": totals,
                "spikes": spikes,
                "engaged": engaged,
                "table_panels": [engaged],
            },
        )


def _seconds_series(name: str, colour: str, figures: list[dict], key: str) -> Series:
    return Series(name, colour, [f[key] for f in figures])


@require_GET
@login_required
def care(request: HttpRequest) -> HttpResponse:
    """The brand's care figures over a period, as `manage.py care_report` computes them
    (engagement/selectors/care_report.py), over time, per agent and against the previous
    period; the backlog of open cases by age as of now."""
    with timezone.override(user_zone(request)):
        shell = _shell(request, "care")
        period = shell.period
        now = timezone.now()
        brand = shell.brand
        report = care_figures_of_period(
            brand=brand, since=period.since, until=period.until, now=now
        )
        previous = care_figures_of_period(
            brand=brand, since=period.previous_since, until=period.previous_until, now=now
        )
        buckets, keys, labels = _time_axis(shell)
        bounds = [day_start(first) for _, first, _ in buckets] + [period.until]
        over_time = care_figures_over_time(brand=brand, bounds=bounds, now=now)
        enabled = care_enabled(brand_id=brand.pk)
        if report.figures["cases"]:
            empty = ""
        elif not enabled:
            empty = f"Care is off for {brand.name}: its mentions open no cases."
        else:
            empty = (
                f"No care case of {brand.name} opened from {period.first:%Y-%m-%d} "
                f"to {period.last:%Y-%m-%d}."
            )
        iso = [f.isoformat() for _, f, _ in buckets]
        colour = brand_colour(brand.pk)
        backlog = care_backlog(brand_id=brand.pk, now=now)
        outcomes = report.figures["outcomes"]
        charts = [
            Chart(
                "first_response",
                "First response time",
                "line",
                labels,
                [
                    _seconds_series("Median", colour, over_time, "first_response_median_s"),
                    _seconds_series(
                        "90th percentile", SECOND_COLOUR, over_time, "first_response_p90_s"
                    ),
                ],
                unit="seconds",
                keys=iso,
                empty=empty or ("" if report.figures["answered"] else "No case was answered."),
                note="From the customer post that needed an answer to the first reply.",
            ),
            Chart(
                "resolution",
                "Resolution time",
                "line",
                labels,
                [_seconds_series("Median", colour, over_time, "resolution_median_s")],
                unit="seconds",
                keys=iso,
                empty=empty,
                note="From opening to resolution, over the cases resolved.",
            ),
            Chart(
                "sla",
                "First responses within the SLA",
                "line",
                labels,
                [_seconds_series("Within SLA", colour, over_time, "sla_first_response_met_pct")],
                unit="percent",
                bounds=(0, 100),
                keys=iso,
                empty=empty,
                note="Among cases answered or past their due time.",
            ),
            Chart(
                "outcomes",
                "Outcomes of answered cases",
                "hbar",
                [CASE_OUTCOME_NAMES[key] for key in OUTCOME_KEYS],
                [Series("Cases", colour, [outcomes[key] for key in OUTCOME_KEYS])],
                empty=empty or ("" if report.figures["answered"] else "No case was answered."),
                note="How the author spoke after the brand answered.",
            ),
            Chart(
                "backlog",
                "Open cases by age, now",
                "hbar",
                [label for label, _ in backlog],
                [Series("Open cases", colour, [n for _, n in backlog])],
                empty="" if enabled else f"Care is off for {brand.name}.",
                note="Cases still being worked, whatever the period.",
            ),
        ]
        if charts[-1].empty == "Nothing to chart in this period.":
            charts[-1].empty = f"No open case of {brand.name}: the backlog is empty."
        return _render_page(
            request,
            "dashboard/care.html",
            shell,
            {
                "charts": charts,
                "figures": report.figures,
                "previous": previous.figures,
                "agents": report.agents,
                "care_is_empty": empty,
                "outcome_names": CASE_OUTCOME_NAMES,
            },
        )


@require_GET
@login_required
def share(request: HttpRequest) -> HttpResponse:
    """The brand against its competitors, on what the brand's own sources caught: share of
    mentions, of positive mentions and of reach over time, and net sentiment per brand."""
    with timezone.override(user_zone(request)):
        shell = _shell(request, "share")
        period = shell.period
        brand, competitors = brand_with_competitors(brand_id=shell.brand.pk)
        rivals = [brand, *competitors]
        ids = [b.pk for b in rivals]
        facts = mention_facts(
            brand_ids=ids,
            since=period.since,
            until=period.until,
            bucket=period.bucket,
            tz=timezone.get_current_timezone(),
            caught_by=brand.pk,
        )
        totals = mention_totals(
            brand_ids=ids, since=period.since, until=period.until, caught_by=brand.pk
        )
        if not competitors:
            empty = f"{brand.name} watches no competitor: an admin can add them to the brand."
        elif not facts:
            empty = (
                f"{brand.name}'s sources caught no mention of it or its competitors from "
                f"{period.first:%Y-%m-%d} to {period.last:%Y-%m-%d}."
            )
        else:
            empty = ""
        buckets, keys, labels = _time_axis(shell)
        cells: dict[tuple[int, date], dict[str, int]] = {}
        for fact in facts:
            cell = cells.setdefault((fact.brand_id, fact.bucket), {"mentions": 0, "reach": 0})
            cell["mentions"] += fact.mentions
            cell["reach"] += fact.reach
            cell[fact.label] = cell.get(fact.label, 0) + fact.mentions

        def share_chart(chart_id: str, title: str, measure: str, label: str = "") -> Chart:
            series = []
            for rival in rivals:
                values, links = [], []
                for key, first, last in buckets:
                    whole = sum(cells.get((b.pk, key), {}).get(measure, 0) for b in rivals)
                    part = cells.get((rival.pk, key), {}).get(measure, 0)
                    values.append(ratio(part, whole))
                    links.append(
                        drill_link(shell.explorer, brand.pk, first, last, label=label)
                        + (f"&matched={rival.pk}" if rival.pk != brand.pk else "")
                    )
                series.append(Series(rival.name, brand_colour(rival.pk), values, links))
            return Chart(
                chart_id,
                title,
                "line",
                labels,
                series,
                bounds=(0, 100),
                unit="percent",
                keys=[f.isoformat() for _, f, _ in buckets],
                empty=empty,
            )

        net = Chart(
            "net_by_brand",
            "Net sentiment per brand",
            "hbar",
            [rival.name for rival in rivals],
            [
                Series(
                    "Net sentiment",
                    NEUTRAL_COLOUR,
                    [totals[rival.pk].net_sentiment for rival in rivals],
                )
            ],
            unit="percent",
            empty=empty,
            note="(positive - negative) / scored mentions over the whole period.",
            bounds=(-100, 100),
        )
        net.colours = [brand_colour(rival.pk) for rival in rivals]
        charts = [
            share_chart("share_mentions", "Share of mentions", "mentions"),
            share_chart("share_positive", "Share of positive mentions", "positive", "positive"),
            share_chart("share_reach", "Share of reach", "reach"),
            net,
        ]
        grand = sum(totals[r.pk].mentions for r in rivals)
        rows = [
            {
                "brand": rival,
                "colour": brand_colour(rival.pk),
                "totals": totals[rival.pk],
                "share": ratio(totals[rival.pk].mentions, grand),
            }
            for rival in rivals
        ]
        return _render_page(
            request, "dashboard/share.html", shell, {"charts": charts, "rows": rows}
        )


# A page's address with its filters is far shorter; a longer "next" is not one of ours.
NEXT_MAX_CHARS = 2000


@require_POST
@login_required
def timezone_set(request: HttpRequest) -> HttpResponse:
    """Keep the chosen time zone in the session and go back to the page it was chosen on."""
    name = request.POST.get("tz", "")
    if not is_zone(name):
        return HttpResponse("Unknown time zone.", status=400, content_type="text/plain")
    request.session[SESSION_KEY] = name
    target = request.POST.get("next", "")
    # Only a path of this site, of a sane length. Not redirect(): it would try a bare word
    # ("x", or U+FFFD that invalid UTF-8 decodes to) as a view name and answer 500.
    if not (
        target.startswith("/")
        and len(target) <= NEXT_MAX_CHARS
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        target = reverse("dashboard:overview")
    return HttpResponseRedirect(target)


AUTHORS_LISTED = 20


@require_GET
@login_required
def authors(request: HttpRequest) -> HttpResponse:
    """Who speaks about the brand: its advocates and detractors (the standing the queue
    keeps), and the authors with the most mentions and the largest audience in the period."""
    with timezone.override(user_zone(request)):
        shell = _shell(request, "authors")
        period, brand = shell.period, shell.brand
        by_volume, by_reach = top_author_ids(
            brand_id=brand.pk, since=period.since, until=period.until, limit=AUTHORS_LISTED
        )
        advocates = standing_author_ids(
            brand_id=brand.pk, standing=AuthorStanding.Standing.ADVOCATE, limit=AUTHORS_LISTED
        )
        detractors = standing_author_ids(
            brand_id=brand.pk, standing=AuthorStanding.Standing.DETRACTOR, limit=AUTHORS_LISTED
        )
        everyone = list(dict.fromkeys(by_volume + by_reach + advocates + detractors))
        rows = {
            row.author.pk: row
            for row in author_rows(
                brand_id=brand.pk,
                author_ids=everyone,
                since=period.since,
                until=period.until,
                previous_since=period.previous_since,
                previous_until=period.previous_until,
            )
        }

        def listed(ids: list[int]) -> list:
            return [rows[pk] for pk in ids if pk in rows]

        def linked(ids: list[int]) -> list:
            return [(row, explorer_of(row)) for row in listed(ids)]

        def explorer_of(row) -> str:
            return drill_link(
                shell.explorer, brand.pk, period.first, period.last, author=row.author.handle
            )

        top = listed(by_volume)[:10]
        chart = Chart(
            "top_authors",
            "Most mentions",
            "hbar",
            [row.author.display_name or row.author.handle for row in top],
            [
                Series(
                    "Mentions",
                    brand_colour(brand.pk),
                    [row.mentions for row in top],
                    [explorer_of(row) for row in top],
                )
            ],
            empty="" if top else _empty_reason(shell),
            note="The ten authors with the most mentions in the period.",
        )
        tables = [
            (
                "advocates",
                "Advocates",
                "Authors the queue counts as advocates: mostly positive about the brand, "
                "over all their mentions (not only this period's).",
                linked(advocates),
                f"No advocate of {brand.name} yet.",
            ),
            (
                "detractors",
                "Detractors",
                "Authors the queue counts as detractors: mostly negative, over all their mentions.",
                linked(detractors),
                f"No detractor of {brand.name} yet.",
            ),
            (
                "volume",
                "Most mentions in the period",
                "Trend: mentions in the previous period of equal length.",
                linked(by_volume),
                _empty_reason(shell),
            ),
            (
                "reach",
                "Largest audience in the period",
                "Reach: the author's largest follower count at the time of a mention.",
                linked(by_reach),
                _empty_reason(shell),
            ),
        ]
        return _render_page(
            request,
            "dashboard/authors.html",
            shell,
            {
                "charts": [chart],
                "tables": tables,
                "can_open_authors": can(request.user, brand.pk, Action.VIEW_AUTHORS),
            },
        )


FUNNEL_STEPS = (
    (
        "awareness",
        "Awareness",
        "Authors who mentioned the brand in the period.",
    ),
    (
        "engagement",
        "Engagement",
        "Of those, authors who mentioned it more than once in the period, or whom the brand "
        "answered in the period (a care case's first response).",
    ),
    (
        "persuasion",
        "Persuasion",
        "Of those, authors whose latest mention in the period is positive (the effective "
        "label), or who asked about buying: a mention with a word such as buy, price, how "
        "much, discount, subscribe or free trial (English only).",
    ),
    (
        "conversion",
        "Conversion",
        "Authors of the period (Awareness) who are customers by its end: confirmed as a "
        "customer of the brand whose first order (or, with no order, the confirmation) came "
        "before the period's end, or who bought through a tracked link before it. Not "
        "connected until the brand imports customers or makes tracked links.",
    ),
    (
        "retention",
        "Retention",
        "Converted authors whose conversion is 30 days or more before the period's end and "
        "who, by then, still speak (their latest mention is 30 days or more after the "
        "conversion) or are still positive (that latest mention's effective label).",
    ),
)


@require_GET
@login_required
def funnel(request: HttpRequest) -> HttpResponse:
    """The five phases of the brand's engagement funnel in unique authors, each with its
    definition, the rate from the phase before and the previous period beside it."""
    with timezone.override(user_zone(request)):
        shell = _shell(request, "funnel")
        period, brand = shell.period, shell.brand
        now = brand_funnel(brand_id=brand.pk, since=period.since, until=period.until)
        before = brand_funnel(
            brand_id=brand.pk, since=period.previous_since, until=period.previous_until
        )
        # The converted authors are customers: only those who may see customers get the list.
        converted_link = (
            f"{reverse('dashboard:funnel-converted')}?{shell.query()}"
            if now.conversion and can(request.user, brand.pk, Action.VIEW_CUSTOMERS)
            else ""
        )
        links = {"awareness": shell.explorer_link, "conversion": converted_link}
        steps = []
        previous_count: int | None = None
        for key, name, definition in FUNNEL_STEPS:
            count = getattr(now, key)
            steps.append(
                {
                    "key": key,
                    "name": name,
                    "definition": definition,
                    "link": links.get(key, ""),
                    "count": count,
                    "previous": getattr(before, key),
                    "rate": (
                        ratio(count, previous_count)
                        if count is not None and previous_count is not None
                        else None
                    ),
                }
            )
            previous_count = count
        connected = [step for step in steps if step["count"] is not None]
        chart = Chart(
            "funnel",
            "Unique authors per phase",
            "hbar",
            [step["name"] for step in connected],
            [
                Series(
                    "Authors",
                    brand_colour(brand.pk),
                    [step["count"] for step in connected],
                    [step["link"] for step in connected],
                )
            ],
            empty="" if now.awareness else _empty_reason(shell),
            note=(
                ""
                if now.conversion is not None
                else "Conversion and retention are not connected yet, so they are not drawn."
            ),
        )
        return _render_page(
            request, "dashboard/funnel.html", shell, {"charts": [chart], "steps": steps}
        )
