"""The demo makes every dashboard page meaningful (issue 12): after loading, fetching and
routing the demo, each page of the last 30 days (the default range) shows what it is for,
read as a marketer of the demo brand reads it, through the real views. And, from the content
alone, that this holds whatever the day: the spike rule finds every outage and launch day of
a year, and the Mastodon stand-in never holds more than one poll reads."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from brands.models import Membership
from dashboard.spikes import spikes_find
from demo import content
from demo.views import MASTODON_MAX_LIMIT
from listening.connectors.mastodon import PAGE_LIMIT
from tests.brands.conftest import make_user
from tests.demo.loaded import demo_loaded, demo_marketer

ANGRY_REGULARS = {r.account.handle for r in content.REGULARS if r.intent == "negative"}
HAPPY_REGULARS = {r.account.handle for r in content.REGULARS if r.intent == "positive"}
ACME = content.ACME.name


# --- From the content alone, any day ---------------------------------------------------------


def acme_days(since: datetime, until: datetime) -> dict:
    """(mentions, negative ones) of Acme per UTC day over [since, until), from every demo
    source, taking each item's written intent for its label (VADER agrees with over 90%
    of them: tests/demo/test_content.py)."""
    daily: Counter = Counter()
    negative: Counter = Counter()

    def count(published: datetime, intent: str, brands: tuple[str, ...]) -> None:
        if since <= published < until and ACME in brands:
            daily[published.date()] += 1
            negative[published.date()] += intent == "negative"

    for spec in (*content.FEEDS.values(), content.HN_SPEC):
        step = timedelta(hours=spec.step_hours)
        for k in range((since - content.EPOCH) // step - 1, (until - content.EPOCH) // step + 1):
            item = content.hn_item_at(k) if spec is content.HN_SPEC else content.item_at(spec, k)
            count(item.published, item.intent, item.brands)
    for day in range(content.day_number(since), content.day_number(until) + 1):
        for item in content.hn_extra_items_of_day(day):
            count(item.published, item.intent, item.brands)
    # The Mastodon source reads the #acmemobile tag; a window every 80 days covers them all.
    seen = set()
    moment = since + content.DEMO_WINDOW
    while moment < until + content.DEMO_WINDOW:
        for toot in content.toots(moment):
            if "acmemobile" in toot.hashtags and toot.id not in seen:
                seen.add(toot.id)
                count(toot.published, toot.intent, (ACME,))
        moment += timedelta(days=80)
    return {day: (n, negative[day]) for day, n in daily.items()}


def test_over_a_year_the_spike_rule_finds_every_outage_and_launch_day() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = since + timedelta(days=365)
    daily = acme_days(since - timedelta(days=30), until)
    found = spikes_find(daily=daily, first=since.date(), last=(until - timedelta(days=1)).date())
    negative = {spike.day for spike in found if spike.kind == "negative"}
    volume = {spike.day for spike in found if spike.kind == "volume"}
    outages = {day.date() for day in content.event_days("outage", since, until)}
    launches = {day.date() for day in content.event_days("launch", since, until)}
    assert len(outages) >= 14 and len(launches) >= 14
    assert outages <= negative, sorted(outages - negative)
    assert launches <= volume, sorted(launches - volume)
    # And they stand out: few other days are spikes.
    assert len((negative | volume) - outages - launches) <= 12


def test_the_mastodon_tag_fits_in_one_poll_on_any_day() -> None:
    # The first poll must read the whole 90 days (test_load_demo: a second poll adds nothing).
    one_poll = settings.EARSHOT_MAX_PAGES_PER_POLL * min(PAGE_LIMIT, MASTODON_MAX_LIMIT)
    moment = datetime(2026, 1, 1, 5, 17, tzinfo=UTC)
    for _ in range(60):
        tagged = [t for t in content.toots(moment) if "acmemobile" in t.hashtags]
        assert 200 < len(tagged) <= one_poll - 20, (moment, len(tagged))
        moment += timedelta(days=6, hours=7)


# --- Through the pages, after loading the demo today ----------------------------------------


@pytest.fixture
def marketer_client(demo_marketer, db) -> Client:
    client = Client()
    client.force_login(demo_marketer)
    return client


def page(client: Client, name: str, brand, **params: str):
    response = client.get(f"/dashboard/{name}/", {"brand": brand.pk, **params})
    assert response.status_code == 200, response.content[:300]
    return response


def handle(author) -> str:
    return author.handle.split("@")[0]


def test_the_overview_finds_an_outage_and_a_launch_with_what_drove_them(
    marketer_client, demo_loaded
) -> None:
    response = page(marketer_client, "overview", demo_loaded.brand)
    spikes = response.context["spikes"]
    period = response.context["shell"].period
    assert len({spike.day for spike in spikes}) >= 2

    # The outage: every mention negative that day, #acmedown trending, the same few people
    # commenting again and again.
    outages = [
        s
        for s in spikes
        if s.kind == "negative" and any(term == "#acmedown" for term, _ in s.terms)
    ]
    assert outages, [(s.day, s.kind, s.terms) for s in spikes]
    outage = outages[0]
    assert outage.value >= 90 and outage.negative >= 20
    assert {handle(a) for a, _ in outage.authors} <= set(content.HN_OUTAGE_USERS)
    assert len(outage.authors) >= 2

    # The launch: a volume spike driven by the new product's hashtag and the press.
    launch_tags = {f"#{tag}" for _, tag in content.LAUNCHES}
    launches = [
        s for s in spikes if s.kind == "volume" and launch_tags & {term for term, _ in s.terms}
    ]
    assert launches, [(s.day, s.kind, s.terms) for s in spikes]
    launch = launches[0]
    assert launch.mentions >= 2 * launch.baseline and len(launch.authors) >= 2
    assert launch.day != outage.day

    # Both on the demo's calendar, inside the period.
    for spike, kind in ((outage, "outage"), (launch, "launch")):
        days = content.event_days(kind, period.since, period.until)
        assert spike.day in {day.date() for day in days}

    # What the marketer reads.
    html = response.content.decode()
    assert "#acmedown" in html and f'data-spike="{outage.day.isoformat()}"' in html


def test_the_overview_shows_several_languages_platforms_and_sources(
    marketer_client, demo_loaded
) -> None:
    charts = {
        c.id: c for c in page(marketer_client, "overview", demo_loaded.brand).context["charts"]
    }
    assert {"en", "es", "de"} <= set(charts["languages"].labels)
    assert {"web", "hackernews", "mastodon"} <= set(charts["platforms"].labels)
    assert len(charts["sources"].labels) == 5


def test_the_share_page_compares_three_brands_of_different_standing(
    marketer_client, demo_loaded
) -> None:
    rows = {
        row["brand"].name: row
        for row in page(marketer_client, "share", demo_loaded.brand).context["rows"]
    }
    acme, globex, initech = (rows[b.name] for b in content.BRANDS)
    # Different shares of voice: Acme leads, Globex is the bigger rival.
    assert acme["share"] > 50 > globex["share"] > initech["share"] > 5
    # Different moods: Globex's customers are the happy ones, Initech's the angry ones.
    globex_net, initech_net = globex["totals"].net_sentiment, initech["totals"].net_sentiment
    assert initech_net < 0 and globex_net - initech_net >= 20
    assert len({row["totals"].net_sentiment for row in (acme, globex, initech)}) == 3


def test_the_authors_page_lists_advocates_and_detractors(marketer_client, demo_loaded) -> None:
    tables = {
        t[0]: t[3] for t in page(marketer_client, "authors", demo_loaded.brand).context["tables"]
    }
    advocates = [handle(row.author) for row, _ in tables["advocates"]]
    detractors = [handle(row.author) for row, _ in tables["detractors"]]
    assert len(advocates) >= 3 and len(detractors) >= 3
    assert set(advocates) >= HAPPY_REGULARS and set(detractors) >= ANGRY_REGULARS
    assert all(row.standing == "advocate" for row, _ in tables["advocates"])
    assert all(row.standing == "detractor" for row, _ in tables["detractors"])


def test_the_funnel_narrows_phase_by_phase(marketer_client, demo_loaded) -> None:
    steps = {
        s["key"]: s["count"]
        for s in page(marketer_client, "funnel", demo_loaded.brand).context["steps"]
    }
    assert steps["awareness"] > steps["engagement"] > steps["persuasion"] > 0


def test_the_care_page_shows_every_outcome_and_times_over_the_period(
    marketer_client, demo_loaded
) -> None:
    response = page(marketer_client, "care", demo_loaded.brand)
    figures = response.context["figures"]
    outcomes = figures["outcomes"]
    for outcome in ("converted", "improved", "unchanged", "worsened", "no_further_word"):
        assert outcomes[outcome] >= 1, outcomes
    assert figures["answered"] >= 10 and 0 < figures["sla_first_response_met_pct"] < 100
    charts = {c.id: c for c in response.context["charts"]}
    for chart_id in ("first_response", "resolution", "sla", "outcomes"):
        assert not charts[chart_id].empty, chart_id
    # Answers and resolutions spread over the period: points on many days, not one.
    for chart_id in ("first_response", "resolution"):
        points = [v for v in charts[chart_id].series[0].values if v is not None]
        assert len(points) >= 6 and len(set(points)) >= 4, (chart_id, points)
    html = response.content.decode()
    assert "Converted" in html and "No further word" in html


def test_the_explorer_lists_the_outage_day_s_mentions(marketer_client, demo_loaded) -> None:
    # The last outage day that is over (a day starting over 24 hours ago).
    now = timezone.now()
    outage = content.event_days("outage", now - timedelta(days=30), now - timedelta(days=1))[-1]
    day = outage.date().isoformat()
    response = marketer_client.get(
        "/dashboard/explorer/", {"brand": demo_loaded.brand.pk, "since": day, "until": day}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("data-row=") >= 20 and "#acmedown" in html


# --- Customers, tracked links and the ROI report (issue 14 in the demo) ----------------------


@pytest.fixture
def admin_client(demo_loaded, db) -> Client:
    """A brand admin: the only role that sees customers."""
    client = Client()
    client.force_login(make_user("ada", demo_loaded.brand, Membership.Role.ADMIN))
    return client


def test_the_roi_report_has_loyalists_referrals_and_contact_cost_moved(demo_loaded) -> None:
    out = io.StringIO()
    call_command("roi_report", "--brand", ACME, "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["loyalists"] >= settings.EARSHOT_LOYALTY_MIN_GROUP
    assert report["base_customers"] >= settings.EARSHOT_LOYALTY_MIN_GROUP
    # Loyalists spend more on average than the base (the demo's orders say so).
    assert Decimal(report["loyalist_avg_spend"]["USD"]) > Decimal(report["base_avg_spend"]["USD"])
    assert report["referral_clicks"] > 0 and report["referral_bot_clicks"] > 0
    assert report["conversions"] > report["verified_conversions"] > 0
    assert Decimal(report["conversion_revenue"]["USD"]) > 0
    # Configured, so a figure, never "missing". Its cases are the live ones: the demo files
    # the cases from before it was loaded as history (demo/services.py), which the report
    # shows apart, so the figure grows from 0.00 as the demo runs.
    assert report["contact_cost"] == {"USD": "6.50"}
    assert report["contact_cost_moved"] is not None and "USD" in report["contact_cost_moved"]
    assert report["history_cases_not_counted"] > 0
    assert report["returning_customers"] > 0


def test_the_roi_page_shows_referrals_and_contact_cost_moved(marketer_client, demo_loaded) -> None:
    response = page(marketer_client, "roi", demo_loaded.brand)
    report = response.context["report"]
    assert report.referrals.clicks > 0 and report.referrals.conversions > 0
    assert report.contact_cost_moved is not None
    assert '<strong class="missing">' not in response.content.decode()


def test_the_funnel_counts_conversions_and_retention(marketer_client, demo_loaded) -> None:
    response = page(marketer_client, "funnel", demo_loaded.brand)
    steps = {s["key"]: s["count"] for s in response.context["steps"]}
    assert isinstance(steps["conversion"], int) and steps["conversion"] > 0
    assert isinstance(steps["retention"], int)
    assert "not connected" not in response.content.decode()


def test_an_admin_has_suggestions_to_confirm(admin_client, demo_loaded) -> None:
    response = admin_client.get(
        "/customers/matches/", {"brand": demo_loaded.brand.pk, "status": "suggested"}
    )
    assert response.status_code == 200
    listed = response.context["page"]
    assert listed.object_list and b'value="confirm">Confirm</button>' in response.content
    # The advocates and detractors, on record by name only, are suggested by that name
    # (on this page or the next ones).
    suggested = {(m.customer.name, m.rule) for m in listed.paginator.object_list}
    assert {(a.name, "display_name") for a in (*content.ADVOCATES, *content.DETRACTORS)} <= (
        suggested
    )


def test_the_loyalty_and_before_after_pages_compare(admin_client, demo_loaded) -> None:
    params = {"brand": demo_loaded.brand.pk}
    loyalty = admin_client.get("/customers/loyalty/", params)
    assert loyalty.status_code == 200
    assert b"too few to compare" not in loyalty.content
    before_after = admin_client.get("/customers/before-after/", params)
    assert before_after.status_code == 200
