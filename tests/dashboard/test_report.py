"""The printable report (issue 12): the overview's, share of voice's, care's, authors' and
funnel's figures for the same brand and range, who may open it, the weekly e-mail's
subscription form."""

# The engagement and page fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.models import ReportSubscription
from dashboard.timezones import SESSION_KEY
from engagement.models import AuthorStanding
from tests.dashboard.test_pages import cases, week
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

pytestmark = pytest.mark.django_db

REPORT = reverse("dashboard:report")
SUBSCRIBE = reverse("dashboard:report-subscription")


def cells(body: str) -> dict[str, str]:
    """The care figures a reader sees: {data-figure: text of the cell}."""
    return dict(re.findall(r'<td class="num" data-figure="([a-z_0-9]+)">([^<]*)</td>', body))


def figure_boxes(body: str) -> dict[str, str]:
    """The report's headline boxes: {figure: the value as written}."""
    found = re.findall(
        r'<div class="figure" data-figure="([a-z-]+)">\s*<h3>[^<]*</h3>\s*'
        r'<p class="value">([^<]*)</p>',
        body,
    )
    return dict(found)


def test_the_report_shows_the_overview_and_care_figures(client, marketer, acme, week, cases):
    client.force_login(marketer)
    query = {"brand": acme.pk, "range": "7d"}
    overview = client.get(reverse("dashboard:overview"), query)
    care = client.get(reverse("dashboard:care"), query)
    report = client.get(REPORT, query)
    assert report.status_code == 200
    body = report.content.decode()

    # The same figures as the pages, and as the pages were counted by hand (test_pages).
    assert report.context["overview"]["figures"] == overview.context["figures"]
    assert figure_boxes(body) == {
        "mentions": "3",
        "estimated-reach": "140",
        "engagement": "10",
        "net-sentiment": "0.0 %",
    }
    assert "+200.0 %" in body and "-100.0 points" in body
    assert cells(body) == cells(care.content.decode())
    assert cells(body)["first_response_median_s"] == "30 min"
    assert cells(body)["cases"] == "4"

    # Each chart of the report has its table: one row per day of the week, by label.
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    rows = {
        label: [value for value, _ in cells]
        for label, cells in report.context["volume_table"]["rows"]
    }
    assert len(rows) == 7
    assert rows[yesterday] == [3, 1, 1, 1, 0.0]
    care_rows = dict(report.context["care_table"]["rows"])
    assert care_rows[yesterday][0] == (1800.0, "seconds")
    time_table = re.search(r'id="report-time-table".*?</table>', body, re.S).group(0)
    assert re.search(rf'<th scope="row">{yesterday}</th>\s*<td class="num">3</td>', time_table)
    care_table = re.search(r'id="report-care-table".*?</table>', body, re.S).group(0)
    assert re.search(
        rf"<th scope=\"row\">{yesterday}</th>\s*<td class=\"num\">30 min</td>", care_table
    )
    for section in ("headline", "volume", "spikes", "share", "authors", "care", "funnel"):
        assert f'id="report-{section}"' in body
    assert "data-print" in body  # the print button (static JS: no inline script)
    assert "<script>" not in body.replace('<script id="chart-data"', "")


def test_the_report_prints_share_of_voice_and_the_funnel(
    client, marketer, acme, week, social_source
):
    store_mention(social_source, "globex is great")
    client.force_login(marketer)
    body = client.get(REPORT, {"brand": acme.pk, "range": "7d"}).content.decode()
    share = re.search(r'id="report-share".*?</section>', body, re.S).group(0)
    assert "Globex" in share and "Acme" in share
    funnel = re.search(r'<tr data-step="awareness">.*?</tr>', body, re.S).group(0)
    assert '<td class="num">1</td>' in funnel  # Carol, the one author


def test_the_report_lists_advocates_and_detractors_and_escapes_their_names(
    client, marketer, acme, social_source
):
    happy = store_mention(
        social_source, "I love acme", author_handle="fan@social.example", author_name="Fan"
    )
    angry = store_mention(
        social_source,
        "acme is awful",
        author_handle="x@social.example",
        author_name="<script>alert(1)</script>",
    )
    for mention, standing in (
        (happy, AuthorStanding.Standing.ADVOCATE),
        (angry, AuthorStanding.Standing.DETRACTOR),
    ):
        AuthorStanding.objects.update_or_create(
            brand=acme, author=mention.author, defaults={"standing": standing}
        )
    client.force_login(marketer)
    body = client.get(REPORT, {"brand": acme.pk}).content.decode()
    advocates = re.search(r'id="report-advocates".*?</div>', body, re.S).group(0)
    detractors = re.search(r'id="report-detractors".*?</div>', body, re.S).group(0)
    assert "Fan" in advocates and "alert" not in advocates
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detractors
    assert "<script>alert" not in body


def test_the_report_lists_the_spikes_and_what_drove_them(client, marketer, acme, social_source):
    today = timezone.localdate()
    noon = timezone.make_aware(datetime.combine(today - timedelta(days=1), datetime.min.time()))
    for back in range(2, 30):
        store_mention(social_source, f"acme note {back}", published_at=noon - timedelta(days=back))
    for n in range(8):
        store_mention(
            social_source,
            f"acme outage #down {n}",
            author_handle="loud@social.example" if n < 3 else f"p{n}@social.example",
            author_name="Loud" if n < 3 else f"P{n}",
            published_at=noon + timedelta(hours=12, minutes=n),
        )
    client.force_login(marketer)
    body = client.get(REPORT, {"brand": acme.pk, "range": "7d"}).content.decode()
    spikes = re.search(r'id="report-spikes".*?</section>', body, re.S).group(0)
    assert "8 mentions (usually 1 a day)" in spikes
    assert "#down" in spikes and "Loud" in spikes


def test_an_empty_brand_report_says_why(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(REPORT, {"brand": acme.pk}).content.decode()
    assert "No mentions of Acme yet: its sources have caught nothing." in body
    assert "No care case of Acme opened from" in body
    assert "No spike in this period" in body


def test_the_report_follows_the_custom_range_and_the_users_zone(client, marketer, acme, week):
    client.force_login(marketer)
    session = client.session
    session[SESSION_KEY] = "Asia/Kathmandu"
    session.save()
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.get(REPORT, {"brand": acme.pk, "range": "custom", "since": day, "until": day})
    body = response.content.decode()
    assert "in Asia/Kathmandu" in body
    assert response.context["shell"].period.days == 1
    assert 'class="tab dash-report-link is-active"' in body


def test_every_dashboard_page_links_to_its_report(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(
        reverse("dashboard:share"), {"brand": acme.pk, "range": "custom", "since": "2026-01-01"}
    ).content.decode()
    link = re.search(r'<a class="tab dash-report-link" href="([^"]+)">Printable report</a>', body)
    assert link is not None
    assert unescape(link.group(1)).startswith(
        f"{REPORT}?brand={acme.pk}&range=custom&since=2026-01-01"
    )


def test_marketers_and_admins_may_open_the_report_agents_may_not_outsiders_get_404(
    client, acme, marketer, admin_user, agent, outsider
):
    for user, status in ((marketer, 200), (admin_user, 200), (agent, 403), (outsider, 404)):
        client.force_login(user)
        assert client.get(REPORT, {"brand": acme.pk}).status_code == status, user


# -- the weekly e-mail's subscription ------------------------------------------------------


def test_a_marketer_subscribes_in_a_zone_and_unsubscribes(client, marketer, acme):
    client.force_login(marketer)
    back = f"{REPORT}?brand={acme.pk}&range=7d"
    response = client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "Asia/Kolkata", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    subscription = ReportSubscription.objects.get(user=marketer, brand=acme)
    assert subscription.time_zone == "Asia/Kolkata"
    body = client.get(back).content.decode()
    assert "every week, in Asia/Kolkata" in body  # the message
    assert "Stop the weekly e-mail" in body

    # Again with another zone: the one subscription changes.
    client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "Europe/Berlin"})
    assert ReportSubscription.objects.get(user=marketer, brand=acme).time_zone == "Europe/Berlin"
    assert ReportSubscription.objects.count() == 1

    client.post(SUBSCRIBE, {"brand": acme.pk, "unsubscribe": "on", "next": back})
    assert not ReportSubscription.objects.exists()
    assert "Send it to me weekly" in client.get(back).content.decode()


def test_an_unknown_zone_is_refused(client, marketer, acme):
    client.force_login(marketer)
    response = client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "Mars/Olympus"}, follow=True)
    assert "Choose a time zone from the list." in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_only_a_user_who_sees_the_dashboard_may_subscribe(client, acme, agent, outsider):
    client.force_login(agent)
    assert client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "UTC"}).status_code == 403
    client.force_login(outsider)
    assert client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "UTC"}).status_code == 404
    assert client.post(SUBSCRIBE, {"brand": "x", "time_zone": "UTC"}).status_code == 404
    assert not ReportSubscription.objects.exists()


def test_subscribing_needs_the_csrf_token_and_a_post(marketer, acme):
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    assert client.post(SUBSCRIBE, {"brand": acme.pk, "time_zone": "UTC"}).status_code == 403
    assert client.get(SUBSCRIBE, {"brand": acme.pk, "time_zone": "UTC"}).status_code == 405
    assert not ReportSubscription.objects.exists()


def test_the_form_never_sends_the_user_off_site(client, marketer, acme):
    client.force_login(marketer)
    response = client.post(
        SUBSCRIBE, {"brand": acme.pk, "time_zone": "UTC", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"{REPORT}?brand={acme.pk}"
