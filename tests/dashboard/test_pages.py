"""The charted dashboard pages (issue 12): the period and its buckets, the overview's figures
by hand, local days in any time zone, the care page against `care_report`, share of voice,
who may open them."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand, Membership
from dashboard.charts import Chart, Series, bucket_days, explorer_url
from dashboard.forms import PeriodForm, period_of
from dashboard.selectors import mention_facts, mention_totals
from dashboard.spikes import spikes_find
from dashboard.spikes import threshold as spikes_threshold
from dashboard.templatetags.dashboard_extras import chart_rows, duration, zone_options
from dashboard.timezones import SESSION_KEY
from engagement.models import AuthorStanding, Case
from engagement.services import sentiment_correct
from listening.models import Author, Source
from listening.rollups import rollups_rebuild
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

OVERVIEW = reverse("dashboard:overview")
CARE = reverse("dashboard:care")
SHARE = reverse("dashboard:share")
KOLKATA = ZoneInfo("Asia/Kolkata")


def chart(response, chart_id: str) -> dict:
    return next(c for c in response.context["charts"] if c.id == chart_id)


def table(response, chart_id: str) -> dict[str, list]:
    """A chart's table view: {row label: [values of each series]}."""
    return {
        label: [value for value, _ in cells] for label, cells in chart(response, chart_id).rows()
    }


def as_session_zone(client, name: str) -> None:
    session = client.session
    session[SESSION_KEY] = name
    session.save()


# -- the period ----------------------------------------------------------------------------


def test_a_preset_ends_today_and_compares_with_as_many_days_before():
    with timezone.override(UTC):
        today = timezone.localdate()
        form = PeriodForm({"range": "7d"})
        assert form.is_valid()
        period = form.period()
    assert (period.first, period.last) == (today - timedelta(days=6), today)
    assert (period.previous_first, period.previous_last) == (
        today - timedelta(days=13),
        today - timedelta(days=7),
    )
    assert period.bucket == "day"


def test_the_bucket_grows_with_the_range():
    assert period_of(date(2026, 1, 1), date(2026, 1, 31)).bucket == "day"
    assert period_of(date(2026, 1, 1), date(2026, 3, 31)).bucket == "week"
    assert period_of(date(2025, 1, 1), date(2025, 12, 31)).bucket == "month"


def test_a_custom_range_is_whole_local_days_even_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    with timezone.override(berlin):
        form = PeriodForm({"range": "custom", "since": "2026-03-28", "until": "2026-03-29"})
        assert form.is_valid(), form.errors
        period = form.period()
    assert period.since == datetime(2026, 3, 28, tzinfo=berlin)
    assert period.until == datetime(2026, 3, 30, tzinfo=berlin)
    # 47 hours: the clocks went forward on the 29th.
    assert period.until.astimezone(UTC) - period.since.astimezone(UTC) == timedelta(hours=47)
    assert period.previous_first == date(2026, 3, 26)


def test_a_reversed_custom_range_is_an_error():
    form = PeriodForm({"range": "custom", "since": "2026-03-28", "until": "2026-03-01"})
    assert not form.is_valid()


def test_week_buckets_start_on_monday_and_are_clipped_to_the_period():
    period = period_of(date(2026, 1, 1), date(2026, 2, 15))  # a Thursday to a Sunday
    buckets = bucket_days(period)
    assert buckets[0] == (date(2025, 12, 29), date(2026, 1, 1), date(2026, 1, 4))
    assert buckets[1] == (date(2026, 1, 5), date(2026, 1, 5), date(2026, 1, 11))
    assert buckets[-1] == (date(2026, 2, 9), date(2026, 2, 9), date(2026, 2, 15))


def test_durations_are_written_for_people():
    assert duration(None) == "–"
    assert duration(42.5) == "42.5 s"
    assert duration(600) == "10 min"
    assert duration(3 * 3600 + 300) == "3 h 05 min"
    assert duration(50 * 3600) == "2 d 2 h"


def test_a_chart_table_escapes_labels_and_links_only_figures():
    chart = Chart(
        id="t",
        title="T",
        kind="line",
        labels=["<b>Mon</b>", "Tue"],
        series=[
            Series("n", "#000", [1234, None], links=["/x?a=1&b=<2>", "/y"]),
            Series("s", "#000", [90.4, 3.0]),
        ],
        unit="seconds",
    )
    html = str(chart_rows(chart))
    assert html.count("<tr>") == 2
    assert '<th scope="row">&lt;b&gt;Mon&lt;/b&gt;</th>' in html
    assert '<a href="/x?a=1&amp;b=&lt;2&gt;">1234 s</a>' in html
    assert '<td class="num">–</td>' in html  # no figure, no link to nothing
    assert '<td class="num">90 s</td>' in html
    printed = str(chart_rows(chart, links=False, durations=True))
    assert "<a " not in printed
    assert '<td class="num">20 min</td>' in printed
    chart.unit = "percent"
    assert '<td class="num">90.4 %</td>' in str(chart_rows(chart))


def test_the_zone_list_selects_the_chosen_zone_only():
    options = str(zone_options("Asia/Kolkata"))
    assert options.count(" selected") == 1
    assert "<option selected>Asia/Kolkata</option>" in options
    assert "<option>Europe/Berlin</option>" in options


# -- figures by hand -----------------------------------------------------------------------


@pytest.fixture
def week(social_source):
    """Three mentions yesterday (UTC), one in the week before."""
    now = timezone.now()
    return {
        "happy": store_mention(
            social_source,
            "I love acme, great service",
            followers=100,
            reply_count=2,
            repost_count=3,
            published_at=now - timedelta(days=1),
        ),
        "angry": store_mention(
            social_source,
            "acme is awful and broken",
            followers=None,
            reply_count=5,
            published_at=now - timedelta(days=1, minutes=5),
        ),
        "plain": store_mention(
            social_source,
            "acme opens a shop on Main street",
            followers=40,
            published_at=now - timedelta(days=1, minutes=10),
        ),
        "before": store_mention(
            social_source,
            "acme is wonderful",
            followers=7,
            published_at=now - timedelta(days=9),
        ),
    }


def test_the_overview_totals_are_counted_by_hand(client, marketer, acme, week):
    assert [week[k].label for k in ("happy", "angry", "plain")] == [
        "positive",
        "negative",
        "neutral",
    ]
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    assert response.status_code == 200
    figures = {f["name"]: f for f in response.context["figures"]}
    assert figures["Mentions"]["value"] == 3
    assert figures["Mentions"]["previous"] == 1
    assert figures["Mentions"]["change"] == 200.0
    assert figures["Estimated reach"]["value"] == 140  # 100 + unknown (0) + 40
    assert figures["Estimated reach"]["previous"] == 7
    assert figures["Engagement"]["value"] == 10  # 2 + 3 + 5
    assert figures["Net sentiment"]["value"] == 0.0  # (1 - 1) / 3
    assert figures["Net sentiment"]["previous"] == 100.0
    assert figures["Net sentiment"]["points"] == -100.0
    body = response.content.decode()
    assert "+200.0 %" in body and "-100.0 points" in body


def test_the_overview_charts_put_each_mention_on_its_day_and_label(client, marketer, acme, week):
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    volume = table(response, "volume")
    assert len(volume) == 7
    assert volume[yesterday] == [3]
    assert sum(v[0] for v in volume.values()) == 3
    assert table(response, "sentiment")[yesterday] == [1, 1, 1]
    assert table(response, "net")[yesterday] == [0.0]
    assert not chart(response, "net").empty  # a balanced day is a figure, drawn
    assert table(response, "platforms") == {"mastodon": [3]}
    assert table(response, "languages") == {"en": [3]}
    assert table(response, "sources") == {"mastodon https://social.example": [3]}
    assert table(response, "terms") == {"acme": [3]}
    assert chart(response, "hashtags").empty == "No hashtag in these mentions."


def test_an_unscored_mention_counts_in_volume_and_reach_but_in_no_sentiment_share(
    client, marketer, acme, social_source, week
):
    # Written for this test; plain VADER reads it as negative (its "no"), Earshot leaves it
    # unscored (Spanish, issue 13).
    spanish = store_mention(
        social_source,
        "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo servicio.",
        followers=60,
        language="",
        published_at=timezone.now() - timedelta(days=1, minutes=15),
    )
    assert (spanish.label, spanish.our_label) == ("negative", "unscored")
    client.force_login(marketer)

    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})

    figures = {f["name"]: f for f in response.context["figures"]}
    assert figures["Mentions"]["value"] == 4
    assert figures["Estimated reach"]["value"] == 200  # 100 + 0 + 40 + 60
    assert figures["Net sentiment"]["value"] == 0.0  # (1 - 1) / 3 scored, not / 4
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert table(response, "volume")[yesterday] == [4]
    assert table(response, "sentiment")[yesterday] == [1, 1, 1]
    assert table(response, "net")[yesterday] == [0.0]
    assert table(response, "languages") == {"en": [3], "es": [1]}
    assert "1 mention in languages Earshot does not score" in chart(response, "sentiment").note
    since = timezone.now() - timedelta(days=3)
    totals = mention_totals(
        brand_ids=[acme.pk],
        since=since.replace(hour=0, minute=0, second=0, microsecond=0),
        until=(timezone.now() + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        ),
    )[acme.pk]
    assert (totals.mentions, totals.unscored, totals.neutral, totals.net_sentiment) == (
        4,
        1,
        1,
        0.0,
    )


def test_the_overview_lists_hashtags_and_links_them(client, marketer, acme, social_source):
    for text in ("acme #Launch day", "acme #launch again #promo", "acme plain"):
        store_mention(social_source, text, published_at=timezone.now() - timedelta(hours=2))
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    assert table(response, "hashtags") == {"#launch": [2], "#promo": [1]}
    _, link = dict(chart(response, "hashtags").rows())["#launch"][0]
    assert "q=launch" in link
    explored = client.get(link).content.decode()
    assert "acme #Launch day" in explored and "acme plain" not in explored
    _, link = dict(chart(response, "terms").rows())["acme"][0]
    assert "term=acme" in link
    assert "acme plain" in client.get(link).content.decode()


def test_every_chart_point_links_to_the_explorer_with_its_filter(client, marketer, acme, week):
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    day = timezone.localdate() - timedelta(days=1)
    rows = dict(chart(response, "sentiment").rows())
    _, negative_link = rows[day.isoformat()][2]
    assert negative_link == (
        f"{explorer_url()}?brand={acme.pk}&label=negative"
        f"&since={day.isoformat()}&until={day.isoformat()}"
    )
    source = Source.objects.get(brand=acme)
    _, source_link = dict(chart(response, "sources").rows())["mastodon https://social.example"][0]
    assert f"source={source.pk}" in source_link
    assert f'href="{negative_link.replace("&", "&amp;")}"' in response.content.decode()
    spec = json.loads(
        response.content.decode()
        .split('id="chart-data" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert negative_link in spec["sentiment"]["links"][2]


def test_an_agents_correction_moves_the_mention_to_its_new_label(
    client, marketer, agent, acme, week
):
    sentiment_correct(
        mention=week["angry"], brand=acme, user=agent, label="positive", reason="sarcasm"
    )
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert table(response, "sentiment")[yesterday] == [2, 1, 0]
    figures = {f["name"]: f for f in response.context["figures"]}
    assert figures["Net sentiment"]["value"] == 66.7  # (2 - 0) / 3


def test_a_mention_at_2330_utc_is_on_the_next_day_in_kolkata(client, marketer, acme, social_source):
    # 23:30 UTC on 1 March is 05:00 on 2 March in India (+5:30).
    store_mention(
        social_source, "acme late post", published_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    )
    facts = mention_facts(
        brand_ids=[acme.pk],
        since=datetime(2026, 2, 1, tzinfo=UTC),
        until=datetime(2026, 4, 1, tzinfo=UTC),
        bucket="day",
        tz=KOLKATA,
    )
    assert [f.bucket for f in facts] == [date(2026, 3, 2)]
    in_utc = mention_facts(
        brand_ids=[acme.pk],
        since=datetime(2026, 2, 1, tzinfo=UTC),
        until=datetime(2026, 4, 1, tzinfo=UTC),
        bucket="day",
        tz=UTC,
    )
    assert [f.bucket for f in in_utc] == [date(2026, 3, 1)]

    client.force_login(marketer)
    as_session_zone(client, "Asia/Kolkata")
    response = client.get(
        OVERVIEW,
        {"brand": acme.pk, "range": "custom", "since": "2026-03-01", "until": "2026-03-02"},
    )
    assert table(response, "volume") == {"2026-03-01": [0], "2026-03-02": [1]}
    # The 1st alone in Kolkata ends at 18:30 UTC: the mention is not in it.
    response = client.get(
        OVERVIEW,
        {"brand": acme.pk, "range": "custom", "since": "2026-03-01", "until": "2026-03-01"},
    )
    assert "No mentions of Acme from 2026-03-01 to 2026-03-01." in response.content.decode()


def test_a_quarter_hour_zone_also_gets_whole_days(acme, social_source):
    # Nepal is +5:45: 18:14 UTC is 23:59 on the 1st, 18:15 UTC is 00:00 on the 2nd.
    for minute in (14, 15):
        store_mention(
            social_source,
            f"acme nepal {minute}",
            published_at=datetime(2026, 3, 1, 18, minute, tzinfo=UTC),
        )
    facts = mention_facts(
        brand_ids=[acme.pk],
        since=datetime(2026, 2, 1, tzinfo=UTC),
        until=datetime(2026, 4, 1, tzinfo=UTC),
        bucket="day",
        tz=ZoneInfo("Asia/Kathmandu"),
    )
    assert sorted((f.bucket, f.mentions) for f in facts) == [
        (date(2026, 3, 1), 1),
        (date(2026, 3, 2), 1),
    ]


def test_an_empty_overview_says_why(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(OVERVIEW, {"brand": acme.pk}).content.decode()
    assert "No mentions of Acme yet: its sources have caught nothing." in body
    assert "<canvas" not in body


def test_the_time_zone_is_kept_in_the_session(client, marketer, acme):
    client.force_login(marketer)
    next_url = f"{OVERVIEW}?brand={acme.pk}"
    response = client.post(reverse("dashboard:timezone"), {"tz": "Asia/Kolkata", "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    assert client.session[SESSION_KEY] == "Asia/Kolkata"
    page = client.get(OVERVIEW, {"brand": acme.pk})
    assert page.context["shell"].zone == "Asia/Kolkata"
    assert "<option selected>Asia/Kolkata</option>" in page.content.decode()
    bad = client.post(reverse("dashboard:timezone"), {"tz": "Mars/Olympus"})
    assert bad.status_code == 400
    away = client.post(
        reverse("dashboard:timezone"), {"tz": "UTC", "next": "https://evil.example/"}
    )
    assert away["Location"] == OVERVIEW


# -- care: the same figures as care_report -------------------------------------------------


@pytest.fixture
def cases(acme, agent, social_source):
    """Cases opened yesterday (UTC noon) with hand-picked times."""
    noon = datetime.combine(timezone.localdate() - timedelta(days=1), datetime.min.time())
    noon = timezone.make_aware(noon) + timedelta(hours=12)
    other_agent = make_user("bob", acme, Membership.Role.AGENT)
    specs = [
        # (assignee, first response after, resolved after, outcome)
        (agent, timedelta(minutes=10), timedelta(hours=2), Case.Outcome.IMPROVED),
        (agent, timedelta(minutes=30), None, Case.Outcome.CONVERTED),
        (other_agent, timedelta(hours=3), timedelta(hours=5), Case.Outcome.WORSENED),
        (None, None, None, Case.Outcome.PENDING),
    ]
    made = []
    for i, (who, first, resolved, outcome) in enumerate(specs):
        made.append(
            Case.objects.create(
                brand=acme,
                assignee=who,
                opened_at=noon + timedelta(minutes=i),
                status=Case.Status.RESOLVED if resolved else Case.Status.OPEN,
                first_response_at=noon + timedelta(minutes=i) + first if first else None,
                first_response_due=noon + timedelta(minutes=i, hours=1),
                resolved_at=noon + timedelta(minutes=i) + resolved if resolved else None,
                outcome=outcome,
                priority=10.0,
                priority_band="low",
            )
        )
    return made


def test_the_care_page_equals_care_report(client, marketer, acme, cases):
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    out = io.StringIO()
    call_command(
        "care_report",
        "--brand",
        acme.name,
        "--since",
        day,
        "--until",
        day,
        "--format",
        "json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    client.force_login(marketer)
    response = client.get(CARE, {"brand": acme.pk, "range": "custom", "since": day, "until": day})
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures == {key: value for key, value in report.items() if key in figures}
    assert set(figures) <= set(report)
    agents = [{"agent": name, **f} for name, f in response.context["agents"]]
    assert agents == report["agents"]
    # By hand too: first responses 600, 1800, 10800 s; median 1800; resolution 2 h and 5 h.
    assert figures["first_response_median_s"] == 1800.0
    assert figures["resolution_median_s"] == 12600.0
    assert figures["cases"] == 4 and figures["answered"] == 3
    body = response.content.decode()
    assert '<td class="num" data-figure="first_response_median_s">30 min</td>' in body
    assert "Nobody (unassigned)" in body
    agents = {name: f for name, f in response.context["agents"]}
    assert agents["bob"]["first_response_median_s"] == 10800.0
    over_time = table(response, "first_response")
    assert over_time[day] == [1800.0, figures["first_response_p90_s"]]
    outcomes = table(response, "outcomes")
    assert outcomes["Improved"] == [1] and outcomes["Converted"] == [1]


def test_an_empty_care_page_says_why(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(CARE, {"brand": acme.pk}).content.decode()
    assert "No care case of Acme opened from" in body
    assert "No open case of Acme: the backlog is empty." in body


# -- share of voice --------------------------------------------------------------------------


def test_share_of_voice_compares_the_brand_with_its_competitors(
    client, marketer, acme, social_source
):
    assert [b.name for b in acme.competitors.all()] == ["Globex"]  # tests/brands/conftest.py
    yesterday = timezone.now() - timedelta(days=1)
    for text in ("I love acme", "acme is awful", "globex is great"):
        store_mention(social_source, text, published_at=yesterday)
    client.force_login(marketer)
    response = client.get(SHARE, {"brand": acme.pk, "range": "7d"})
    assert response.status_code == 200
    rows = {row["brand"].name: row for row in response.context["rows"]}
    assert rows["Acme"]["totals"].mentions == 2 and rows["Acme"]["share"] == 66.7
    assert rows["Globex"]["totals"].mentions == 1 and rows["Globex"]["share"] == 33.3
    day = timezone.localdate() - timedelta(days=1)
    assert table(response, "share_mentions")[day.isoformat()] == [66.7, 33.3]
    assert table(response, "share_positive")[day.isoformat()] == [50.0, 50.0]
    assert table(response, "net_by_brand") == {"Acme": [0.0], "Globex": [100.0]}


def test_share_of_voice_without_competitors_says_so(client, marketer, acme):
    acme.competitors.clear()
    client.force_login(marketer)
    body = client.get(SHARE, {"brand": acme.pk}).content.decode()
    assert "Acme watches no competitor" in body


# -- who may open them ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [OVERVIEW, CARE, SHARE, reverse("dashboard:authors"), reverse("dashboard:funnel")]
)
def test_marketers_and_admins_may_open_the_pages_agents_may_not_outsiders_get_404(
    client, url, acme, marketer, admin_user, agent, outsider
):
    for user, status in ((marketer, 200), (admin_user, 200), (agent, 403), (outsider, 404)):
        client.force_login(user)
        assert client.get(url, {"brand": acme.pk}).status_code == status, user


def test_the_brand_list_offers_only_the_users_brands(client, marketer, acme, other_brand):
    client.force_login(marketer)
    body = client.get(OVERVIEW).content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in body
    assert other_brand.name not in body


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        (OVERVIEW, 13),  # 2 of them: the most engaged mentions, then their authors
        (SHARE, 9),
        (CARE, 13),
        (reverse("dashboard:authors"), 18),
        # 1 of them per funnel (the period's, the previous one's): connected or not (issue 14).
        (reverse("dashboard:funnel"), 13),
    ],
)
def test_a_page_costs_the_same_queries_whatever_the_data(
    client, django_assert_num_queries, marketer, acme, social_source, week, url, queries
):
    client.force_login(marketer)
    client.get(url, {"brand": acme.pk})  # the session and the user, loaded once
    cache.clear()  # cold: the figures cached per state of the data are counted too
    with django_assert_num_queries(queries):
        assert client.get(url, {"brand": acme.pk, "range": "90d"}).status_code == 200
    for day in range(20):
        store_mention(
            social_source,
            f"acme globex day {day}",
            published_at=timezone.now() - timedelta(days=day * 4),
        )
    cache.clear()
    with django_assert_num_queries(queries):
        assert client.get(url, {"brand": acme.pk, "range": "90d"}).status_code == 200


def test_strangers_text_in_a_breakdown_stays_text(client, marketer, acme, week):
    # A feed names its own language: it reaches the page as a label and a link parameter.
    hostile = "<b>x</b>&amp;"  # 20 characters at most
    Mention = type(week["happy"])
    Mention.objects.filter(pk=week["happy"].pk).update(language=hostile)
    # The rollups keep the language ingest stored: a change behind their back needs a recount.
    rollups_rebuild(brand_id=acme.pk)
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    body = response.content.decode()
    assert hostile not in body
    assert "&lt;b&gt;x&lt;/b&gt;&amp;amp;" in body  # the table view
    assert "\\u003Cb\\u003Ex\\u003C/b\\u003E\\u0026amp;" in body  # the chart data
    assert table(response, "languages") == {hostile: [1], "en": [2]}


def test_a_bad_custom_range_says_so_and_shows_the_default(client, marketer, acme, week):
    client.force_login(marketer)
    response = client.get(
        OVERVIEW,
        {"brand": acme.pk, "range": "custom", "since": "2026-03-05", "until": "2026-03-01"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "The start date is after the end date." in body
    assert response.context["shell"].period.days == 30


def test_the_tabs_keep_the_brand_and_the_custom_range(client, marketer, acme):
    client.force_login(marketer)
    response = client.get(
        CARE, {"brand": acme.pk, "range": "custom", "since": "2026-03-01", "until": "2026-03-05"}
    )
    tabs = {label: href for _, label, href in response.context["shell"].tabs}
    query = f"brand={acme.pk}&range=custom&since=2026-03-01&until=2026-03-05"
    assert tabs["Overview"] == f"{OVERVIEW}?{query}"
    assert tabs["Share of voice"] == f"{SHARE}?{query}"
    assert tabs["Mentions"] == f"{explorer_url()}?brand={acme.pk}&since=2026-03-01&until=2026-03-05"


# -- authors ---------------------------------------------------------------------------------

AUTHORS = reverse("dashboard:authors")


@pytest.fixture
def speakers(acme, social_source):
    now = timezone.now()
    for days, text in ((1, "I love acme"), (2, "acme is great"), (10, "acme is fine")):
        store_mention(
            social_source,
            text,
            author_handle="carol@social.example",
            followers=50,
            published_at=now - timedelta(days=days),
        )
    store_mention(
        social_source,
        "acme is awful",
        author_handle="dave@social.example",
        author_name="<b>Dave</b>",
        followers=9000,
        published_at=now - timedelta(days=1),
    )
    return {a.handle: a for a in Author.objects.all()}


def test_the_authors_page_ranks_by_volume_and_by_reach(client, marketer, acme, speakers):
    carol = speakers["carol@social.example"]
    AuthorStanding.objects.update_or_create(
        author=carol, brand=acme, defaults={"standing": "advocate", "positive_count": 3}
    )
    client.force_login(marketer)
    response = client.get(AUTHORS, {"brand": acme.pk, "range": "7d"})
    assert response.status_code == 200
    tables = {key: rows for key, _, _, rows, _ in response.context["tables"]}
    volume = [
        (r.author.handle, r.mentions, r.previous_mentions, r.positive, r.negative, r.reach)
        for r, _ in tables["volume"]
    ]
    assert volume == [
        ("carol@social.example", 2, 1, 2, 0, 50),
        ("dave@social.example", 1, 0, 0, 1, 9000),
    ]
    assert [r.author.handle for r, _ in tables["reach"]] == [
        "dave@social.example",
        "carol@social.example",
    ]
    assert [r.author.handle for r, _ in tables["advocates"]] == ["carol@social.example"]
    assert tables["detractors"] == []
    body = response.content.decode()
    assert "No detractor of Acme yet." in body
    assert "&lt;b&gt;Dave&lt;/b&gt;" in body and "<b>Dave</b>" not in body
    _, link = tables["volume"][0]
    assert "author=carol%40social.example" in link
    # Marketers open author pages too, read-only (issue 12).
    assert f'href="/authors/{carol.pk}/?brand={acme.pk}">Author page</a>' in body


def test_an_admin_gets_links_to_the_author_pages(client, admin_user, acme, speakers):
    client.force_login(admin_user)
    body = client.get(AUTHORS, {"brand": acme.pk, "range": "7d"}).content.decode()
    carol = speakers["carol@social.example"]
    assert f"{reverse('engagement:author', args=[carol.pk])}?brand={acme.pk}" in body


# -- funnel ----------------------------------------------------------------------------------

FUNNEL = reverse("dashboard:funnel")


def test_the_funnel_counts_unique_authors_by_hand(client, marketer, acme, social_source):
    now = timezone.now()

    def say(handle: str, text: str, days_ago: float) -> None:
        store_mention(
            social_source,
            text,
            author_handle=f"{handle}@social.example",
            published_at=now - timedelta(days=days_ago),
        )

    say("carol", "acme is fine", 3)
    say("carol", "I love acme, great service", 1)  # twice, latest positive: persuaded
    say("dave", "acme is awful and broken", 2)  # answered below: engaged, not persuaded
    say("erin", "how much does acme cost", 2)  # once, not answered: aware only
    say("frank", "I love acme", 3)
    say("frank", "acme price is awful", 1)  # twice, latest negative but asks a price
    say("gina", "acme rocks", 20)  # answered in the period, but silent in it
    authors = {a.handle.split("@")[0]: a for a in Author.objects.all()}
    for who in ("dave", "gina"):
        Case.objects.create(
            brand=acme,
            author=authors[who],
            opened_at=now - timedelta(days=2),
            first_response_at=now - timedelta(days=1),
            status=Case.Status.OPEN,
            priority=1.0,
            priority_band="low",
        )
    client.force_login(marketer)
    response = client.get(FUNNEL, {"brand": acme.pk, "range": "7d"})
    assert response.status_code == 200
    steps = {step["key"]: step for step in response.context["steps"]}
    assert [steps[k]["count"] for k in ("awareness", "engagement", "persuasion")] == [4, 3, 2]
    assert steps["engagement"]["rate"] == 75.0
    assert steps["persuasion"]["rate"] == 66.7
    assert steps["conversion"]["count"] is None and steps["retention"]["count"] is None
    assert steps["awareness"]["previous"] == 0
    body = response.content.decode()
    assert body.count("not connected</span>") == 4  # conversion, retention; now and before
    assert "Authors who mentioned the brand in the period." in body


def test_an_empty_funnel_says_why(client, marketer, acme):
    client.force_login(marketer)
    body = client.get(FUNNEL, {"brand": acme.pk}).content.decode()
    assert "No mentions of Acme yet" in body


# -- spikes ----------------------------------------------------------------------------------


def test_the_spike_rule_by_hand():
    first = date(2026, 3, 1)
    # 28 quiet days: 2 mentions a day (1 negative), then 3 on the 1st, 12 on the 2nd.
    daily = {first - timedelta(days=i): (2, 1) for i in range(1, 29)}
    daily[first] = (3, 1)
    daily[first + timedelta(days=1)] = (12, 1)
    daily[first + timedelta(days=2)] = (6, 6)
    found = spikes_find(daily=daily, first=first, last=first + timedelta(days=2))
    # Median 2, MAD 0: the threshold is 2 + 3 x 1 (the floor) = 5.
    assert [(s.day.day, s.kind, s.value, s.baseline) for s in found] == [
        (2, "volume", 12.0, 2.0),
        (3, "volume", 6.0, 2.0),
        (3, "negative", 100.0, 50.0),
    ]
    assert spikes_threshold([2.0] * 28, 1.0) == (2.0, 5.0)
    # A noisy baseline raises the bar: median 5, MAD 3, 5 + 3 x 1.4826 x 3 = 18.34.
    assert spikes_threshold([2.0, 8.0] * 14, 1.0) == (5.0, pytest.approx(18.3434))


def test_the_overview_finds_a_spike_and_what_drove_it(client, marketer, acme, social_source):
    today = timezone.localdate()
    noon = timezone.make_aware(datetime.combine(today - timedelta(days=1), datetime.min.time()))
    for back in range(2, 30):
        store_mention(social_source, f"acme note {back}", published_at=noon - timedelta(days=back))
    for n in range(8):
        store_mention(
            social_source,
            f"acme outage #down {n}",
            author_handle="loud@social.example" if n < 3 else f"p{n}@social.example",
            published_at=noon + timedelta(hours=12, minutes=n),
        )
    client.force_login(marketer)
    response = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"})
    spikes = response.context["spikes"]
    # The outage is also a spike of negative share: Earshot's scorer reads "outage" as bad
    # news, where plain VADER read it as neutral.
    assert [(s.day, s.kind, s.mentions) for s in spikes] == [
        (today - timedelta(days=1), "volume", 8),
        (today - timedelta(days=1), "negative", 8),
    ]
    assert spikes[0].terms == [("#down", 8)]
    assert [(a.handle, n) for a, n in spikes[0].authors] == [("loud@social.example", 3)]
    body = response.content.decode()
    assert "8 mentions (usually 1 a day)" in body
    spike_day = (today - timedelta(days=1)).isoformat()
    assert f"since={spike_day}&amp;until={spike_day}" in body
    volume = chart(response, "volume")
    assert volume.colours.count("#24292f") == 1


def test_a_quiet_overview_says_there_is_no_spike(client, marketer, acme, week):
    client.force_login(marketer)
    body = client.get(OVERVIEW, {"brand": acme.pk, "range": "7d"}).content.decode()
    assert "No spike in this period" in body
