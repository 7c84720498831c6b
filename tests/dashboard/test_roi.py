"""The ROI report (dashboard/roi.py), its page, CSVs and `manage.py roi_report`, and the
funnel's Conversion and Retention steps (dashboard/conversions.py), against figures worked out
by hand on fixtures written for these tests: customers and orders through the customers
import, tracked links, clicks and sales through the tracking services, care cases with first
responses."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import AuthorMatch
from dashboard.forms import day_start
from dashboard.models import RoiSettings
from dashboard.roi import CASES_SHOWN, roi_report
from dashboard.selectors import brand_funnel
from engagement.models import Case
from listening.models import Author
from tests.customers.conftest import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    run_import,
)
from tests.engagement.conftest import (
    acme,
    admin_user,
    agent,
    make_user,
    marketer,
    other_brand,
    outsider,
    social_source,
    store_mention,
)
from tracking.models import Click
from tracking.services import Sale, click_record, conversion_record, link_create

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
BOT = "Twitterbot/1.0"
ROI = reverse("dashboard:roi")
ROI_CSV = reverse("dashboard:roi-export")
FUNNEL = reverse("dashboard:funnel")
CONVERTED = reverse("dashboard:funnel-converted")


def _iso(moment) -> str:
    return moment.astimezone(timezone.get_current_timezone()).isoformat()


@pytest.fixture
def period():
    """The last 30 days up to today (TIME_ZONE): what the tests ask the page and command for."""
    today = timezone.localdate()
    first = today - timedelta(days=29)
    return {
        "first": first,
        "last": today,
        "since": day_start(first),
        "until": day_start(today + timedelta(days=1)),
        "query": {"range": "custom", "since": first.isoformat(), "until": today.isoformat()},
    }


@pytest.fixture
def world(acme, social_source, agent, marketer):
    """Acme's customers, cases and tracked links, every figure worked out in the tests.

    Authors speaking now: carol and dave (customers C1 and C2 by their handles), erin (no
    customer; bought through a tracked link), frank (neither).
    Customers: C1 carol, C2 dave, C3 gina and C4 hank (no author: the base).
    Orders: C1 100.00 EUR 60 days ago (first order) and 30.00 EUR 10 days ago; C2 20.00 EUR
    5 days ago and 15.50 USD 3 days ago; C3 10.00 EUR 2 days ago; C4 none.
    Cases (care): A carol answered 20 days ago, negative before, converted; B dave answered
    2 days ago, negative before, still watched; C frank answered 1 day ago, positive
    before; D imported history answered 10 days ago; E erin answered 40 days ago (before).
    Links: one on erin's case E, clicked by a browser (sold 42.50 EUR, signed postback) and
    by a link preview bot; one campaign link clicked once (sold 10 USD, pixel).
    """
    now = timezone.now()
    acme.domains = "acme.example"
    acme.save(update_fields=["domains"])
    authors = {}
    for handle, text in (
        ("carol", "acme is lovely, thank you"),
        ("dave", "acme support is slow"),
        ("erin", "ordered from acme today"),
        ("frank", "acme store opening hours?"),
    ):
        mention = store_mention(
            social_source,
            text,
            author_handle=f"{handle}@social.example",
            author_name=handle.title(),
            published_at=now - timedelta(minutes=30),
        )
        authors[handle] = mention.author
    customers = csv_bytes(
        CUSTOMER_HEADER,
        [
            ["C1", "Carol", "carol@mail.example", "mastodon:@carol@social.example", "", ""],
            ["C2", "Dave", "dave@mail.example", "mastodon:@dave@social.example", "", ""],
            ["C3", "Gina", "gina@mail.example", "", "", ""],
            ["C4", "Hank", "hank@mail.example", "", "", ""],
        ],
    )

    def ago(days: float) -> str:
        return _iso(now - timedelta(days=days))

    orders = csv_bytes(
        ORDER_HEADER,
        [
            ["o1", "C1", ago(60), "100.00", "EUR"],
            ["o2", "C1", ago(10), "30.00", "EUR"],
            ["o3", "C2", ago(5), "20.00", "EUR"],
            ["o4", "C2", ago(3), "15.50", "USD"],
            ["o5", "C3", ago(2), "10.00", "EUR"],
        ],
    )
    record = run_import(acme, customers, orders)
    assert record.orders_stored == 5 and not record.errors
    assert AuthorMatch.objects.filter(brand=acme, status="confirmed").count() == 2

    def case(author, answered_days, *, before=None, outcome="", history=False):
        return Case.objects.create(
            brand=acme,
            author=author,
            kind=Case.Kind.CARE,
            opened_at=now - timedelta(days=answered_days + 0.5),
            first_response_at=now - timedelta(days=answered_days),
            status=Case.Status.RESOLVED,
            compound_before=before,
            outcome=outcome,
            is_history=history,
        )

    case(authors["carol"], 20, before=-0.5, outcome=Case.Outcome.CONVERTED)
    case(authors["dave"], 2, before=-0.3)
    case(authors["frank"], 1, before=0.2, outcome=Case.Outcome.UNCHANGED)
    case(authors["frank"], 10, history=True)
    erin_case = case(authors["erin"], 40, before=-0.1, outcome=Case.Outcome.IMPROVED)

    link = link_create(
        brand=acme, target_url="https://acme.example/shoes", case=erin_case, created_by=agent
    )
    click_record(code=link.code, ip="203.0.113.5", user_agent=BROWSER)
    click_record(code=link.code, ip="203.0.113.6", user_agent=BOT)
    human = Click.objects.get(link=link, is_bot=False)
    sale = Sale("shop-1", Decimal("42.50"), "EUR", now - timedelta(minutes=1))
    assert conversion_record(click=human, sale=sale, channel="postback") == "recorded"
    campaign = link_create(
        brand=acme, target_url="https://acme.example/", campaign="winter", created_by=marketer
    )
    click_record(code=campaign.code, ip="203.0.113.7", user_agent=BROWSER)
    pixel = Sale("shop-2", Decimal("10"), "USD", now - timedelta(minutes=1))
    assert (
        conversion_record(click=Click.objects.get(link=campaign), sale=pixel, channel="pixel")
        == "recorded"
    )
    return authors


EXPECTED = {
    "customers": 4,
    "loyalists": 2,
    "base_customers": 2,
    # Loyalists in the period: C1 30.00 + C2 20.00 EUR = 50.00 / 2; C2 15.50 USD / 2.
    # Base: C3 10.00 EUR / 2 customers (C4 counts as 0); no USD.
    "loyalist_avg_spend": {"EUR": "25.00", "USD": "7.75"},
    "base_avg_spend": {"EUR": "5.00", "USD": "0.00"},
    "loyalist_revenue": {"EUR": "50.00", "USD": "15.50"},
    "base_revenue": {"EUR": "10.00", "USD": "0.00"},
    "referral_clicks": 2,
    "referral_bot_clicks": 1,
    "conversions": 2,
    "verified_conversions": 1,
    "conversion_revenue": {"EUR": "42.50", "USD": "10.00"},
    "verified_conversion_revenue": {"EUR": "42.50"},
    # A, B, C answered in the period; D is history; E was answered before it.
    "cases_on_social": 3,
    "history_cases_not_counted": 1,
    "contact_cost": None,
    "contact_cost_moved": None,
    # A and B were negative before; B is still watched; A converted: 1 / (2 - 1).
    "detractors_answered": 2,
    "detractors_pending": 1,
    "detractors_converted": 1,
    "detractor_to_advocate_pct": 100.0,
    # C1 first answered 20 days ago, ordered 10 days ago: returning. C2 first answered 2
    # days ago, ordered 5 and 3 days ago (before the answer): not.
    "loyalists_answered": 2,
    "returning_customers": 1,
    "returning_pct": 50.0,
}


def _breakdowns(world, agent) -> dict[str, list]:
    """The referral breakdowns of the world, by hand: erin's case link (agent ana, no
    campaign): 1 click, 1 bot, 1 signed sale of 42.50 EUR; the "winter" campaign link
    (marketer, no case, so no agent): 1 click, 1 pixel sale of 10 USD. Ranked by revenue,
    currency by currency (EUR and USD sold once each: alphabetical), then clicks."""
    erin_case = Case.objects.get(author=world["erin"])
    erin = {
        "clicks": 1,
        "bot_clicks": 1,
        "conversions": 1,
        "verified_conversions": 1,
        "revenue": {"EUR": "42.50"},
        "verified_revenue": {"EUR": "42.50"},
    }
    winter = {
        "clicks": 1,
        "bot_clicks": 0,
        "conversions": 1,
        "verified_conversions": 0,
        "revenue": {"USD": "10.00"},
        "verified_revenue": {},
    }
    return {
        "referrals_by_campaign": [{"campaign": "", **erin}, {"campaign": "winter", **winter}],
        "referrals_by_agent": [{"agent": "ana", "agent_id": agent.pk, **erin}],
        "referrals_by_case": [{"case": erin_case.pk, **erin}],
    }


def test_every_figure_equals_the_hand_computed_value(acme, world, period, agent):
    report = roi_report(brand_id=acme.pk, since=period["since"], until=period["until"])

    assert report.as_json() == {**EXPECTED, **_breakdowns(world, agent)}


def test_the_contact_cost_moved_is_cases_times_the_configured_cost(acme, world, period):
    RoiSettings.objects.create(brand=acme, contact_cost=Decimal("4.20"), currency="EUR")

    figures = roi_report(brand_id=acme.pk, since=period["since"], until=period["until"]).as_json()

    assert figures["contact_cost"] == {"EUR": "4.20"}
    assert figures["contact_cost_moved"] == {"EUR": "12.60"}  # 3 cases x 4.20


def test_a_cost_row_without_a_cost_is_still_missing(acme, world, period):
    RoiSettings.objects.create(brand=acme, contact_cost=None, currency="EUR")

    figures = roi_report(brand_id=acme.pk, since=period["since"], until=period["until"]).as_json()

    assert figures["contact_cost_moved"] is None


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("roi_report", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_figures_as_json(acme, world, period, settings, agent):
    first, last = period["first"].isoformat(), period["last"].isoformat()

    document = json.loads(_command("--brand", "acme", "--since", first, "--until", last))

    # Every key of the contract unchanged, the breakdowns added after them.
    assert list(document)[: 4 + len(EXPECTED)] == [
        "brand",
        "since",
        "until",
        "time_zone",
        *EXPECTED,
    ]
    assert document == {
        "brand": "Acme",
        "since": first,
        "until": last,
        "time_zone": settings.TIME_ZONE,
        **EXPECTED,
        **_breakdowns(world, agent),
    }


def test_the_command_defaults_to_the_last_90_days(acme, world):
    document = json.loads(_command("--brand", "Acme"))

    today = timezone.localdate()
    assert document["until"] == today.isoformat()
    assert document["since"] == (today - timedelta(days=89)).isoformat()
    # 90 days hold erin's case E (40 days ago) too.
    assert document["cases_on_social"] == 4


def test_the_command_prints_csv_one_row_per_number_and_currency(acme, world, period):
    first, last = period["first"].isoformat(), period["last"].isoformat()

    text = _command("--brand", "Acme", "--since", first, "--until", last, "--format", "csv")

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["brand", "since", "until", "key", "currency", "value"]
    cells = {(key, currency): value for _, _, _, key, currency, value in rows[1:]}
    assert cells[("customers", "")] == "4"
    assert cells[("loyalist_avg_spend", "EUR")] == "25.00"
    assert cells[("loyalist_avg_spend", "USD")] == "7.75"
    assert cells[("conversion_revenue", "USD")] == "10.00"
    assert cells[("contact_cost_moved", "")] == ""
    erin_case = Case.objects.get(author=world["erin"]).pk
    assert cells[("referrals_by_campaign.winter.clicks", "")] == "1"
    assert cells[("referrals_by_campaign.winter.revenue", "USD")] == "10.00"
    assert cells[("referrals_by_campaign..bot_clicks", "")] == "1"
    assert cells[("referrals_by_agent.ana.verified_revenue", "EUR")] == "42.50"
    assert cells[(f"referrals_by_case.{erin_case}.conversions", "")] == "1"
    assert not [key for key, _ in cells if key.endswith(".agent_id")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--brand", "Nobody"], 'No brand named "Nobody"'),
        (["--brand", "Acme", "--since", "2026-13-01"], '--since "2026-13-01" is not a date'),
        (["--brand", "Acme", "--until", "yesterday"], '--until "yesterday" is not a date'),
        (["--brand", "Acme", "--since", "0001-01-01"], "outside the years 0002 to 9998"),
        (["--brand", "Acme", "--until", "9999-12-31"], "outside the years 0002 to 9998"),
        (
            ["--brand", "Acme", "--since", "2026-11-02", "--until", "2026-11-01"],
            "is before --since",
        ),
    ],
)
def test_the_command_refuses_a_bad_brand_or_date(acme, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("roi_report", *args, stdout=io.StringIO())


def _page_figures(body: str) -> dict[str, str]:
    """{data-figure key: the value cell's text} of the ROI page."""
    found = re.findall(
        r'<tr data-figure="([^"]+)">\s*<th scope="row">[^<]*</th>\s*'
        r'<td class="num roi-value">(.*?)</td>',
        body,
        re.S,
    )
    return {key: unescape(re.sub(r"<[^>]+>", "", value)).strip() for key, value in found}


def _as_shown(value) -> str:
    """A JSON figure as the page writes it."""
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return ", ".join(f"{amount} {currency}" for currency, amount in value.items()) or "none"
    if isinstance(value, float):
        return f"{value} %"
    return str(value)


@pytest.mark.parametrize("configured", [False, True])
def test_the_page_shows_the_commands_numbers(acme, world, period, admin_user, configured):
    if configured:
        RoiSettings.objects.create(brand=acme, contact_cost=Decimal("3.333"), currency="GBP")
    first, last = period["first"].isoformat(), period["last"].isoformat()
    document = json.loads(_command("--brand", "Acme", "--since", first, "--until", last))
    client = Client()
    client.force_login(admin_user)

    response = client.get(ROI, {"brand": acme.pk, **period["query"]})

    assert response.status_code == 200
    shown = _page_figures(response.content.decode())
    compared = 0
    for key, value in document.items():
        if isinstance(value, dict) and key not in ("contact_cost", "contact_cost_moved"):
            for currency, amount in value.items():
                if f"{key}.{currency}" in shown:
                    assert shown[f"{key}.{currency}"] == f"{amount} {currency}", key
                    compared += 1
            if key in shown:
                assert shown[key] == _as_shown(value), key
                compared += 1
        elif key in shown:
            assert shown[key] == _as_shown(value), key
            compared += 1
    assert compared >= 25
    if configured:
        # 3.333 is kept as 3.33 (two decimals in the setting): 3 x 3.33.
        assert (
            shown["contact_cost_moved"] == "9.99 GBP" == _as_shown(document["contact_cost_moved"])
        )
    else:
        assert shown["contact_cost_moved"] == "missing"
        assert shown["contact_cost"] == "missing"


def test_every_figure_shows_its_inputs_and_formula(acme, world, period, marketer):
    RoiSettings.objects.create(brand=acme, contact_cost=Decimal("4.20"), currency="EUR")
    client = Client()
    client.force_login(marketer)

    body = client.get(ROI, {"brand": acme.pk, **period["query"]}).content.decode()

    assert "3 cases x 4.20 EUR = 12.60 EUR" in body
    assert "1 converted / (2 answered - 1 still watched)" in body
    assert "1 returning / 2 answered" in body


def test_a_marketer_does_not_see_the_money_of_a_handful_of_customers(
    acme, world, period, marketer, admin_user, settings
):
    settings.EARSHOT_LOYALTY_MIN_GROUP = 3
    pages = {}
    for who in (marketer, admin_user):
        client = Client()
        client.force_login(who)
        body = client.get(ROI, {"brand": acme.pk, **period["query"]}).content.decode()
        pages[who.username] = _page_figures(body)

    assert pages[marketer.username]["loyalist_avg_spend.EUR"].startswith("hidden: fewer than 3")
    assert pages[marketer.username]["customers"] == "4"
    assert pages[admin_user.username]["loyalist_avg_spend.EUR"] == "25.00 EUR"


def test_each_table_downloads_as_csv_with_the_filters_in_its_name(acme, world, period, marketer):
    client = Client()
    client.force_login(marketer)

    response = client.get(ROI_CSV, {"brand": acme.pk, "table": "referrals", **period["query"]})

    assert response.status_code == 200
    assert response.streaming
    name = f"acme-roi-referrals-from-{period['first']:%Y-%m-%d}-to-{period['last']:%Y-%m-%d}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["figure", "value", "inputs and formula", "roi_report key"]
    assert rows[1][:2] == ["Referral clicks", "2"]
    assert rows[3][:2] == ["Conversion revenue", "42.50 EUR, 10.00 USD"]
    assert client.get(ROI_CSV, {"brand": acme.pk, "table": "nope"}).status_code == 404


# --- referrals per campaign, agent and case ----------------------------------------------------

HOSTILE = '<script>alert("x")</script>&=1+1'


def _breakdown_rows(body: str, key: str) -> list[list[str]]:
    """The cells' text of one breakdown table of the page, row by row."""
    table = re.search(rf'<table [^>]*data-table="{key}">(.*?)</table>', body, re.S).group(1)
    rows = re.findall(r"<tr data-row=[^>]*>(.*?)</tr>", table, re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def test_the_page_shows_referrals_per_campaign_agent_and_case(acme, world, period, marketer, agent):
    client = Client()
    client.force_login(marketer)

    body = client.get(ROI, {"brand": acme.pk, **period["query"]}).content.decode()

    erin_case = Case.objects.get(author=world["erin"]).pk
    assert _breakdown_rows(body, "referrals-by-campaign") == [
        ["(no campaign)", "1", "1", "1 / 1", "42.50 EUR", "42.50 EUR"],
        ["winter", "1", "0", "0 / 1", "none", "10.00 USD"],
    ]
    assert _breakdown_rows(body, "referrals-by-agent") == [
        ["ana", "1", "1", "1 / 1", "42.50 EUR", "42.50 EUR"],
    ]
    assert _breakdown_rows(body, "referrals-by-case") == [
        [f"#{erin_case}", "1", "1", "1 / 1", "42.50 EUR", "42.50 EUR"],
    ]


def test_a_hostile_campaign_name_is_escaped_on_the_page_and_in_the_csv(
    acme, world, period, marketer
):
    link = link_create(
        brand=acme, target_url="https://acme.example/", campaign=HOSTILE, created_by=marketer
    )
    click_record(code=link.code, ip="203.0.113.8", user_agent=BROWSER)
    click_record(code=link.code, ip="203.0.113.9", user_agent=BROWSER)
    client = Client()
    client.force_login(marketer)
    query = {"brand": acme.pk, **period["query"]}

    body = client.get(ROI, query).content.decode()
    download = client.get(ROI_CSV, {**query, "table": "referrals-by-campaign"})

    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;=1+1" in body
    rows = _breakdown_rows(body, "referrals-by-campaign")
    # Two clicks, no sale: after both rows with revenue.
    assert rows[-1] == [HOSTILE, "2", "0", "0 / 0", "none", "none"]
    name = (
        "acme-roi-referrals-by-campaign-"
        f"from-{period['first']:%Y-%m-%d}-to-{period['last']:%Y-%m-%d}.csv"
    )
    assert download["Content-Disposition"] == f'attachment; filename="{name}"'
    cells = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert cells[0] == [
        "campaign",
        "clicks",
        "bot clicks",
        "conversions",
        "verified conversions",
        "revenue EUR",
        "verified revenue EUR",
        "revenue USD",
        "verified revenue USD",
    ]
    assert cells[1] == ["(no campaign)", "1", "1", "1", "1", "42.50", "42.50", "", ""]
    assert cells[2] == ["winter", "1", "0", "1", "0", "", "", "10.00", ""]
    assert cells[3][:2] == [HOSTILE, "2"]  # starts with "<": no formula, kept as it is

    formula = link_create(
        brand=acme,
        target_url="https://acme.example/",
        campaign="=HYPERLINK(1)",
        created_by=marketer,
    )
    click_record(code=formula.code, ip="203.0.113.10", user_agent=BROWSER)
    download = client.get(ROI_CSV, {**query, "table": "referrals-by-campaign"})
    text = b"".join(download.streaming_content).decode()
    assert "'=HYPERLINK(1)" in text


def test_case_numbers_link_to_the_case_only_for_roles_that_may_open_cases(
    acme, world, period, marketer, admin_user
):
    erin_case = Case.objects.get(author=world["erin"]).pk
    href = reverse("engagement:case", args=[erin_case])
    bodies = {}
    for who in (admin_user, marketer):
        client = Client()
        client.force_login(who)
        bodies[who] = client.get(ROI, {"brand": acme.pk, **period["query"]}).content.decode()

    assert f'<a href="{href}">#{erin_case}</a>' in bodies[admin_user]
    assert href not in bodies[marketer]
    assert f"<bdi>#{erin_case}</bdi>" in bodies[marketer]


def test_the_breakdowns_say_why_they_are_empty(acme, period, marketer):
    client = Client()
    client.force_login(marketer)
    query = {"brand": acme.pk, **period["query"]}

    body = client.get(ROI, query).content.decode()

    assert 'data-table="referrals-by-campaign"' not in body
    empty = re.findall(r'<p class="empty" data-empty="([^"]+)">([^<]*)</p>', body)
    assert [key for key, _ in empty] == list(
        ("referrals-by-campaign", "referrals-by-agent", "referrals-by-case")
    )
    assert all(text.startswith("No tracked links yet") for _, text in empty)

    acme.domains = "acme.example"
    acme.save(update_fields=["domains"])
    link_create(brand=acme, target_url="https://acme.example/", created_by=marketer)
    body = client.get(ROI, query).content.decode()

    empty = {
        key: unescape(text)
        for key, text in re.findall(r'<p class="empty" data-empty="([^"]+)">([^<]*)</p>', body)
    }
    assert empty["referrals-by-campaign"] == (
        "No clicks or sales of the brand's tracked links in this period."
    )
    assert empty["referrals-by-case"] == (
        "No clicks or sales of links written on a case in this period."
    )


def test_the_page_lists_the_top_cases_and_reads_the_same_queries_for_many(
    acme, world, period, admin_user, agent, django_assert_max_num_queries
):
    client = Client()
    client.force_login(admin_user)
    query = {"brand": acme.pk, **period["query"]}
    with CaptureQueriesContext(connection) as before:
        assert client.get(ROI, query).status_code == 200
    erin = world["erin"]
    now = timezone.now()
    cases = Case.objects.bulk_create(
        Case(brand=acme, author=erin, opened_at=now - timedelta(hours=1))
        for _ in range(CASES_SHOWN + 1)
    )
    for n, case in enumerate(cases):
        link = link_create(
            brand=acme, target_url="https://acme.example/", case=case, created_by=agent
        )
        # The last case has two clicks: second, after erin's case with its sale.
        for _ in range(2 if n == len(cases) - 1 else 1):
            click_record(code=link.code, ip=f"198.51.100.{n}", user_agent=BROWSER)

    with django_assert_max_num_queries(len(before)):
        body = client.get(ROI, query).content.decode()

    rows = _breakdown_rows(body, "referrals-by-case")
    assert len(rows) == CASES_SHOWN
    first_case = Case.objects.get(author=erin, first_response_at__isnull=False).pk
    assert [rows[0][0], rows[1][0]] == [f"#{first_case}", f"#{cases[-1].pk}"]
    assert rows[1][1] == "2"
    # Erin's case and 51 more: 2 beyond the page, all in the CSV.
    assert "2 more cases with less revenue or fewer clicks are not shown here" in body
    assert "the CSV lists all 52" in body
    download = client.get(ROI_CSV, {**query, "table": "referrals-by-case"})
    assert len(list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))) == 53
    # The agent's row sums them all: 1 (erin's case) + 51 + 1 clicks.
    assert _breakdown_rows(body, "referrals-by-agent")[0][:2] == ["ana", "53"]


# --- the funnel's Conversion and Retention -----------------------------------------------------


def _funnel(acme, period):
    return brand_funnel(brand_id=acme.pk, since=period["since"], until=period["until"])


def test_conversion_and_retention_equal_the_hand_computed_authors(acme, world, period):
    funnel = _funnel(acme, period)

    # Awareness: carol, dave, erin, frank. Converted: carol (first order 60 days ago), dave
    # (first order 5 days ago), erin (tracked-link sale a minute ago).
    assert funnel.awareness == 4
    assert funnel.conversion == 3
    # Retained: carol only (converted 60 days ago, spoke since); dave and erin converted
    # less than 30 days before the period's end.
    assert funnel.retention == 1


def test_an_author_who_first_bought_after_the_period_is_not_converted_in_it(acme, world):
    # Yesterday's period: dave's first order (5 days ago) is in it, erin's sale is not; but
    # they spoke only today, so yesterday's Awareness is empty.
    today = timezone.localdate()
    funnel = brand_funnel(
        brand_id=acme.pk,
        since=day_start(today - timedelta(days=40)),
        until=day_start(today - timedelta(days=4)),
    )
    assert (funnel.awareness, funnel.conversion, funnel.retention) == (0, 0, 0)


def test_the_steps_are_not_connected_until_the_brand_has_customers_or_links(
    acme, social_source, period, marketer
):
    store_mention(social_source, "acme hello", author_handle="zed@social.example")
    client = Client()
    client.force_login(marketer)

    funnel = _funnel(acme, period)
    body = client.get(FUNNEL, {"brand": acme.pk, **period["query"]}).content.decode()

    assert (funnel.conversion, funnel.retention) == (None, None)
    assert "not connected" in body

    acme.domains = "acme.example"
    acme.save(update_fields=["domains"])
    link_create(brand=acme, target_url="https://acme.example/", created_by=marketer)
    funnel = _funnel(acme, period)
    body = client.get(FUNNEL, {"brand": acme.pk, **period["query"]}).content.decode()

    # Connected: 0 is a figure now.
    assert (funnel.conversion, funnel.retention) == (0, 0)
    row = re.search(r'<tr data-step="conversion">.*?</tr>', body, re.S).group(0)
    assert "not connected" not in row
    assert re.search(r'<td class="num">0</td>', row)


def test_a_new_confirmed_match_or_sale_changes_the_cached_figure(acme, world, period, marketer):
    assert _funnel(acme, period).conversion == 3  # cached now
    # frank becomes a customer: a re-import with his handle (no order: the match's time).
    customers = csv_bytes(
        CUSTOMER_HEADER, [["C5", "Frank", "", "mastodon:@frank@social.example", "", ""]]
    )
    run_import(acme, customers)
    assert _funnel(acme, period).conversion == 4

    # A sale of a fresh author: a case link of a new author's case.
    mention = store_mention(acme.sources.first(), "acme shoes", author_handle="ivy@social.example")
    assert _funnel(acme, period).conversion == 4  # ivy speaks, has not bought
    case = Case.objects.create(brand=acme, author=mention.author, opened_at=mention.published_at)
    link = link_create(
        brand=acme, target_url="https://acme.example/", case=case, created_by=marketer
    )
    click_record(code=link.code, ip="203.0.113.9", user_agent=BROWSER)
    sale = Sale("shop-9", Decimal("1"), "EUR", timezone.now())
    conversion_record(click=Click.objects.get(link=link), sale=sale, channel="postback")

    assert _funnel(acme, period).conversion == 5


def test_the_conversion_step_drills_down_to_its_authors_for_admins_only(
    acme, world, period, admin_user, marketer
):
    admin_client, marketer_client = Client(), Client()
    admin_client.force_login(admin_user)
    marketer_client.force_login(marketer)
    query = {"brand": acme.pk, **period["query"]}

    admin_funnel = admin_client.get(FUNNEL, query).content.decode()
    marketer_funnel = marketer_client.get(FUNNEL, query).content.decode()
    listed = admin_client.get(CONVERTED, query)

    assert CONVERTED in admin_funnel
    assert CONVERTED not in marketer_funnel
    assert marketer_client.get(CONVERTED, query).status_code == 403
    assert listed.status_code == 200
    rows = re.findall(r'<tr data-author="(\d+)">(.*?)</tr>', listed.content.decode(), re.S)
    by_author = {int(pk): row for pk, row in rows}
    assert set(by_author) == {world["carol"].pk, world["dave"].pk, world["erin"].pk}
    assert "<td>yes</td>" in by_author[world["carol"].pk]
    assert "<td>customer record</td>" in by_author[world["carol"].pk]
    assert "<td>no</td>" in by_author[world["dave"].pk]
    assert "<td>tracked-link sale</td>" in by_author[world["erin"].pk]


def test_the_report_reads_the_same_queries_whatever_the_number_of_customers(
    acme, world, period, django_assert_max_num_queries
):
    with CaptureQueriesContext(connection) as before:
        roi_report(brand_id=acme.pk, since=period["since"], until=period["until"])
    rows = [[f"X{n}", f"X {n}", "", "", "", ""] for n in range(40)]
    orders = [[f"x{n}", f"X{n}", _iso(timezone.now()), "1.00", "EUR"] for n in range(40)]
    run_import(acme, csv_bytes(CUSTOMER_HEADER, rows), csv_bytes(ORDER_HEADER, orders))

    with django_assert_max_num_queries(len(before)):
        figures = roi_report(brand_id=acme.pk, since=period["since"], until=period["until"])
    assert figures.customers == 44
    assert figures.as_json()["base_revenue"]["EUR"] == "50.00"  # 10.00 + 40 x 1.00
