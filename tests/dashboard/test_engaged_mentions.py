"""The overview's most engaged mentions (issue 12): the top ten by hand, ties, local days in
another time zone, hostile text and links, the empty states, the CSV figures, the drill-down
to the explorer and the index the query walks; on real PostgreSQL, mentions stored through
listening's items_store (so the rollups the overview reads are kept too)."""

# The engagement fixtures are imported by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from dashboard.explorer import explorer_url
from dashboard.selectors_mentions import (
    WALK_FROM_MENTIONS,
    engaged_matches,
    engaged_mentions_top,
)
from dashboard.timezones import SESSION_KEY
from engagement.services import sentiment_correct
from listening.connectors.base import RawItem
from listening.models import Author, Mention, Source
from listening.services import BrandMatcher, items_store, source_brands
from tests.engagement.conftest import acme, agent, marketer, other_brand, social_source

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("dashboard:overview")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+5:45
_ids = itertools.count(1)


def store(
    source: Source,
    text: str,
    *,
    at: datetime,
    likes: int | None = None,
    replies: int | None = None,
    reposts: int | None = None,
    handle: str = "carol@social.example",
    name: str = "Carol",
    followers: int | None = 120,
) -> Mention:
    """One mention through items_store: real matching, scoring and rollups."""
    external_id = f"e{next(_ids)}"
    item = RawItem(
        external_id=external_id,
        url=f"https://social.example/@carol/{external_id}",
        body=text,
        author_handle=handle,
        author_name=name,
        author_followers=followers,
        published_at=at,
        language="en",
        thread_id=external_id,
        like_count=likes,
        reply_count=replies,
        repost_count=reposts,
    )
    matcher = BrandMatcher.for_brands(source_brands(source))
    items_store(source=source, items=[item], matcher=matcher, platform="mastodon")
    return Mention.objects.get(source=source, external_id=external_id)


def overview(client, user, **params):
    client.force_login(user)
    return client.get(OVERVIEW, params)


def panel(response) -> str:
    body = response.content.decode()
    match = re.search(r'<section class="panel" id="panel-engaged".*?</section>', body, re.S)
    assert match, "no engaged panel on the page"
    return match.group(0)


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-mention="(\d+)"', panel(response))]


def csv_spec(response) -> dict:
    specs = json.loads(
        re.search(r'id="chart-data"[^>]*>(.*?)</script>', response.content.decode(), re.S).group(1)
    )
    return specs["engaged"]


# Engagement per mention, stored in this order (so ids ascend): (likes, replies, reposts).
# None is a count the platform did not give (counts 0).
COUNTS = {
    "a": (5, 0, 0),  # 5
    "b": (None, 3, 2),  # 5, newer than a: before it
    "c": (10, None, None),  # 10
    "d": (0, 0, 0),  # 0: not listed
    "e": (None, None, None),  # 0: not listed
    "f": (1, 1, 1),  # 3
    "g": (2, 0, 0),  # 2
    "h": (7, 1, 0),  # 8
    "i": (4, 4, 0),  # 8, newer than h: before it
    "j": (1, 0, 0),  # 1
    "k": (6, 0, 0),  # 6
    "l": (0, 0, 4),  # 4
    "m": (0, 1, 0),  # 1, newer than j: before it, and j is eleventh
}
# By hand: 10 c, 8 i h, 6 k, 5 b a, 4 l, 3 f, 2 g, 1 m (j, also 1 but older, is cut).
TOP_TEN = ["c", "i", "h", "k", "b", "a", "l", "f", "g", "m"]


@pytest.fixture
def engaged(acme, other_brand, social_source):
    now = timezone.now()
    stored = {
        key: store(
            social_source,
            f"acme mention {key}",
            at=now - timedelta(hours=2, minutes=i),
            likes=likes,
            replies=replies,
            reposts=reposts,
        )
        for i, (key, (likes, replies, reposts)) in enumerate(COUNTS.items())
    }
    # Outside the panel: before the period, a competitor's mention, another brand's.
    store(social_source, "acme long ago", at=now - timedelta(days=40), likes=900)
    store(social_source, "globex is everywhere", at=now - timedelta(hours=1), likes=500)
    initech = Source.objects.create(brand=other_brand, kind="mastodon", url="https://i.example")
    store(initech, "initech mention", at=now - timedelta(hours=1), likes=700)
    return stored


def test_the_top_ten_is_by_engagement_then_the_newer_mention(client, acme, marketer, engaged):
    response = overview(client, marketer, brand=acme.pk, range="7d")

    assert response.status_code == 200
    assert listed(response) == [engaged[key].pk for key in TOP_TEN]
    html = panel(response)
    assert "acme long ago" not in html and "globex" not in html and "initech" not in html
    # Engagement and reach cells of the first row, and the effective label.
    first = re.search(r"<tr data-mention=.*?</tr>", html, re.S).group(0)
    assert '<td class="num" title="10 likes, ? replies, ? reposts">10</td>' in first
    assert '<td class="num">120</td>' in first


@pytest.mark.parametrize(
    ("mentions", "queries"),
    [(0, 2), (WALK_FROM_MENTIONS, 2), (None, 3)],
    ids=["sort", "walk", "count"],
)
def test_both_plans_give_the_same_top_ten(acme, engaged, mentions, queries):
    """Few mentions in the period: read and sorted; many: the index walked; unknown: counted
    first. The rows and the number of queries (rows, then their authors) are the same."""
    now = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        rows = engaged_mentions_top(
            brand_id=acme.pk,
            since=now - timedelta(days=7),
            until=now + timedelta(days=1),
            mentions=mentions,
        )
    assert [row.mention_id for row in rows] == [engaged[key].pk for key in TOP_TEN]
    assert [row.engagement for row in rows] == [10, 8, 8, 6, 5, 5, 4, 3, 2, 1]
    assert (rows[0].likes, rows[0].replies, rows[0].reposts) == (10, None, None)
    assert rows[0].author_handle == "carol@social.example"
    assert rows[0].link == engaged["c"].url
    assert len(captured) == queries


def test_days_are_the_users_local_days(client, acme, marketer, social_source):
    """A custom day in Kathmandu (UTC+5:45) runs from 18:15 UTC the day before."""
    day = timezone.now().astimezone(KATHMANDU).date() - timedelta(days=3)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=KATHMANDU)
    before = store(social_source, "acme just before", at=midnight - timedelta(seconds=1), likes=4)
    first = store(social_source, "acme at midnight", at=midnight, likes=1)
    last = store(
        social_source, "acme at the end", at=midnight + timedelta(days=1, seconds=-1), likes=2
    )
    after = store(social_source, "acme next day", at=midnight + timedelta(days=1), likes=3)
    assert first.published_at.astimezone(UTC).strftime("%H:%M") == "18:15"
    client.force_login(marketer)
    session = client.session
    session[SESSION_KEY] = "Asia/Kathmandu"
    session.save()

    response = client.get(
        OVERVIEW, {"brand": acme.pk, "range": "custom", "since": day, "until": day}
    )

    assert listed(response) == [last.pk, first.pk]
    html = panel(response)
    assert f"{day:%Y-%m-%d} 00:00" in html and f"{day:%Y-%m-%d} 23:59" in html
    assert "Times in Asia/Kathmandu" in html
    assert csv_spec(response)["series"][0]["values"] == [
        f"{day:%Y-%m-%d}T23:59:59+05:45",
        f"{day:%Y-%m-%d}T00:00:00+05:45",
    ]
    assert before.pk not in listed(response) and after.pk not in listed(response)


def test_hostile_text_and_names_are_escaped_and_only_web_links_link(
    client, acme, marketer, social_source
):
    now = timezone.now()
    hostile = store(
        social_source,
        "acme <script>alert('text')</script>",
        at=now - timedelta(hours=1),
        likes=9,
        handle="mallory@social.example",
        name="<script>alert('name')</script>",
    )
    fine = store(social_source, "acme fine", at=now - timedelta(hours=2), likes=1)
    # Ingest already strips markup from text and refuses such URLs (outside.py); the panel
    # must not rely on it (rows stored before a rule, another import path).
    Mention.objects.filter(pk=hostile.pk).update(
        text="acme <script>alert('text')</script>", url="javascript:alert('url')"
    )
    Author.objects.filter(pk=hostile.author_id).update(
        display_name="<script>alert('name')</script>"
    )

    response = overview(client, marketer, brand=acme.pk, range="7d")

    body = response.content.decode()
    html = panel(response)
    assert "<script>alert(" not in body
    assert "&lt;script&gt;alert(&#x27;text&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in html
    assert "javascript:" not in html
    assert html.count('rel="noopener noreferrer nofollow"') == 1
    assert f'href="{fine.url}"' in html
    # The CSV figures ride in json_script: escaped for a <script> block, and still the text.
    spec = csv_spec(response)
    assert spec["series"][1]["values"][0] == "<script>alert('name')</script>"
    assert spec["series"][11]["values"] == ["", fine.url]


def test_an_empty_period_says_why(client, acme, marketer, social_source):
    response = overview(client, marketer, brand=acme.pk, range="7d")
    assert "No mentions of Acme yet" in panel(response)
    assert "Download CSV" not in panel(response)

    store(social_source, "acme quiet", at=timezone.now() - timedelta(hours=1), likes=0)
    store(social_source, "acme unknown counts", at=timezone.now() - timedelta(hours=2))
    response = overview(client, marketer, brand=acme.pk, range="7d")
    html = panel(response)
    assert "has any engagement (likes, replies or reposts)" in html
    assert listed(response) == []
    assert "engaged" not in json.loads(
        re.search(r'id="chart-data"[^>]*>(.*?)</script>', response.content.decode(), re.S).group(1)
    )


def test_the_csv_carries_the_effective_label_and_reach(
    client, acme, marketer, agent, social_source
):
    mention = store(
        social_source,
        "acme is wonderful",
        at=timezone.now() - timedelta(hours=1),
        likes=3,
        followers=4567,
    )
    assert mention.label == "positive"
    sentiment_correct(mention=mention, brand=acme, user=agent, label="negative", reason="irony")

    response = overview(client, marketer, brand=acme.pk, range="7d")

    spec = csv_spec(response)
    columns = {s["label"]: s["values"] for s in spec["series"]}
    assert columns["effective_label"] == ["negative"]
    assert columns["reach"] == [4567]
    assert columns["Engagement"] == [3]
    assert spec["labels"] == ["1"]
    assert "<td>negative</td>" in panel(response)
    assert 'data-csv="engaged"' in panel(response)
    assert re.search(
        r'data-filename="acme-most-engaged-[\d-]+-[\d-]+-[\w-]+\.csv"', panel(response)
    )


def test_the_panel_drills_down_to_the_explorer_sorted_by_engagement(
    client, acme, marketer, engaged
):
    response = overview(client, marketer, brand=acme.pk, range="7d")
    period = response.context["shell"].period
    link = explorer_url(brand=acme.pk, since=period.first, until=period.last, sort="engagement")
    assert f'href="{link.replace("&", "&amp;")}"' in panel(response)

    explorer = client.get(link)

    assert explorer.status_code == 200
    rows = re.findall(
        r'<tr class="mention [a-z]+" data-row="\d+">.*?</tr>', explorer.content.decode(), re.S
    )
    assert "acme mention c" in rows[0]
    assert "acme mention i" in rows[1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's")
def test_the_top_ten_can_walk_the_engagement_index_without_sorting(acme, engaged):
    now = timezone.now()
    qs = engaged_matches(brand_id=acme.pk, since=now - timedelta(days=90), until=now, walk=True)[
        :10
    ]
    with connection.cursor() as cursor:
        # A few rows make reading them all and sorting cheapest; forbid that to see that the
        # index gives the whole order (the ORDER BY is its expression, ties by id DESC).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        plan = qs.explain()
    assert "explorer_mention_engagement_idx" in plan, plan
    assert "Sort" not in plan, plan
    # The "> 0" is an index condition: the walk stops where engagement ends.
    assert re.search(r"Index Cond: .*> '?0'?::numeric", plan), plan
