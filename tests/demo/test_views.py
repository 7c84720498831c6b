"""The demo's views (demo/views.py): the feeds Earshot serves itself and the HN and Mastodon
stand-in APIs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from django.test import Client
from django.urls import reverse

from demo import content
from listening.connectors.mastodon import parse_link_header

FIXED_NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FEED_FORMATS = {"tech-news": "rss20", "community": "atom10", "reviews": "json11"}


def feed_path(spec: content.FeedSpec) -> str:
    return reverse("demo:feed", kwargs={"name": spec.name, "ext": spec.ext})


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Pin the view's clock: ETags change when an item's time passes."""
    monkeypatch.setattr("demo.views.timezone.now", lambda: FIXED_NOW)
    return FIXED_NOW


# --- Serving --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", content.FEEDS.values(), ids=lambda spec: spec.filename)
def test_feed_renders_as_a_valid_feed(client: Client, frozen_now: datetime, spec) -> None:
    from listening.connectors.rss import parse_feed

    response = client.get(feed_path(spec))

    assert response.status_code == 200
    assert response["Content-Type"] == spec.content_type
    expected = content.feed_items(spec, frozen_now)
    if spec.format == "json":
        # feedparser 6.0 does not read JSON Feed: check the spec's required fields directly.
        data = json.loads(response.content)
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert data["title"] and data["feed_url"].endswith(feed_path(spec))
        assert [entry["id"] for entry in data["items"]] == [item.id for item in expected]
        for entry in data["items"]:
            assert entry["content_html"] and entry["url"].startswith("https://")
            assert datetime.fromisoformat(entry["date_published"]) <= frozen_now
    else:
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == FEED_FORMATS[spec.name]
        assert [entry.id for entry in parsed.entries] == [item.id for item in expected]
        assert all(entry.title and entry.summary and entry.link for entry in parsed.entries)

    page = parse_feed(response.content, content_type=response["Content-Type"])
    assert page.format == FEED_FORMATS[spec.name]
    assert [item.external_id for item in page.items] == [item.id for item in expected]
    for raw, item in zip(page.items, expected, strict=True):
        assert raw.published_at == item.published
        assert raw.url == item.url
        assert raw.author_name == (item.author.name if item.author else "")


def test_feed_bytes_are_stable_across_renders(client: Client, frozen_now: datetime) -> None:
    for spec in content.FEEDS.values():
        assert client.get(feed_path(spec)).content == client.get(feed_path(spec)).content


def test_conditional_get_answers_304(client: Client, frozen_now: datetime) -> None:
    for spec in content.FEEDS.values():
        first = client.get(feed_path(spec))
        assert first["ETag"] and first["Last-Modified"]

        by_etag = client.get(feed_path(spec), HTTP_IF_NONE_MATCH=first["ETag"])
        by_date = client.get(feed_path(spec), HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
        stale = client.get(feed_path(spec), HTTP_IF_NONE_MATCH='"something-else"')

        assert by_etag.status_code == 304 and not by_etag.content
        assert by_date.status_code == 304
        assert stale.status_code == 200


def test_new_item_changes_the_etag(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = content.FEEDS["tech-news"]
    monkeypatch.setattr("demo.views.timezone.now", lambda: FIXED_NOW)
    etag = client.get(feed_path(spec))["ETag"]
    monkeypatch.setattr(
        "demo.views.timezone.now", lambda: FIXED_NOW + timedelta(hours=spec.step_hours * 2)
    )
    response = client.get(feed_path(spec), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response["ETag"] != etag


@pytest.mark.parametrize(
    "path",
    [
        "/listening/demo/feeds/nope.xml",
        "/listening/demo/feeds/tech-news.json",
        "/listening/demo/feeds/reviews.xml",
        "/listening/demo/feeds/community.atom.xml",
    ],
)
def test_unknown_feed_is_404(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_feed_is_get_only(client: Client) -> None:
    assert client.post(feed_path(content.FEEDS["reviews"])).status_code == 405


# --- The Hacker News (Algolia) stand-in -----------------------------------------------------

HN_SEARCH = "/listening/demo/hn/api/v1/search_by_date"
HIT_KEYS = {
    "objectID", "created_at", "created_at_i", "title", "url", "author", "points",
    "story_text", "comment_text", "story_id", "parent_id", "num_comments", "_tags",
}  # fmt: skip


def hn_search(client: Client, **params: str) -> dict:
    response = client.get(HN_SEARCH, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_hn_search_answers_in_algolias_shape(client: Client, frozen_now: datetime) -> None:
    data = hn_search(client, hitsPerPage="50")

    assert {"hits", "nbHits", "page", "nbPages", "hitsPerPage"} <= data.keys()
    assert data["page"] == 0 and data["hitsPerPage"] == 50 and len(data["hits"]) == 50
    assert data["nbHits"] == len(content.hn_items(frozen_now)) > 250
    assert data["nbPages"] == -(-data["nbHits"] // 50)
    times = [hit["created_at_i"] for hit in data["hits"]]
    assert times == sorted(times, reverse=True) and times[0] <= frozen_now.timestamp()
    for hit in data["hits"]:
        assert hit.keys() >= HIT_KEYS
        assert hit["objectID"].isdigit() and hit["author"]
        assert datetime.fromisoformat(hit["created_at"]).timestamp() == hit["created_at_i"]
        if "story" in hit["_tags"]:
            assert hit["title"] and hit["comment_text"] is None and hit["points"] >= 1
            assert hit["story_id"] == int(hit["objectID"]) and hit["num_comments"] >= 0
        else:
            assert "comment" in hit["_tags"] and hit["comment_text"] and hit["title"] is None
            assert hit["parent_id"] and hit["story_id"] <= hit["parent_id"]
    # Deterministic: the same answer twice.
    assert hn_search(client, hitsPerPage="50") == data


def test_hn_search_honours_filters_and_pages(client: Client, frozen_now: datetime) -> None:
    everything = hn_search(client, hitsPerPage="1000")["hits"]
    low, high = everything[200]["created_at_i"], everything[20]["created_at_i"]

    window = hn_search(
        client, numericFilters=f"created_at_i>{low},created_at_i<={high}", hitsPerPage="1000"
    )["hits"]
    assert [hit["objectID"] for hit in window] == [h["objectID"] for h in everything[20:200]]
    strict = hn_search(client, numericFilters=f"created_at_i>{low},created_at_i<{high}")
    assert strict["nbHits"] == 179

    first = hn_search(client, hitsPerPage="30")
    second = hn_search(client, hitsPerPage="30", page="1")
    assert [h["objectID"] for h in first["hits"] + second["hits"]] == [
        h["objectID"] for h in everything[:60]
    ]
    assert hn_search(client, page="99")["hits"] == []

    stories = hn_search(client, tags="story", hitsPerPage="1000")["hits"]
    comments = hn_search(client, tags="comment", hitsPerPage="1000")["hits"]
    both = hn_search(client, tags="(story,comment)", hitsPerPage="1000")["hits"]
    assert stories and comments and len(stories) + len(comments) == len(both) == len(everything)
    story_id = stories[5]["objectID"]
    thread = hn_search(client, tags=f"comment,story_{story_id}")["hits"]
    assert all(hit["story_id"] == int(story_id) for hit in thread)
    assert len(thread) == stories[5]["num_comments"]

    # The query matches loosely: any one of its words, case-insensitive.
    globex = hn_search(client, query="GLOBEX nothingmatches", hitsPerPage="1000")["hits"]
    assert 20 < len(globex) < len(everything)
    assert all("globex" in json.dumps(hit).lower() for hit in globex)
    assert hn_search(client, query="zzzqqq")["nbHits"] == 0

    assert client.get(HN_SEARCH, {"numericFilters": "created_at_i~1"}).status_code == 400
    assert client.get(HN_SEARCH, {"page": "x"}).status_code == 400


def test_hn_user_answers_karma(client: Client) -> None:
    response = client.get("/listening/demo/hn/api/v1/users/rf_engineer")
    assert response.status_code == 200
    assert response.json()["username"] == "rf_engineer" and response.json()["karma"] > 10_000
    karmas = [content.hn_karma(name) for name in content.HN_USERS]
    assert all(isinstance(k, int) for k in karmas) and min(karmas) < 300
    assert client.get("/listening/demo/hn/api/v1/users/nobody_here").status_code == 404


# --- The Mastodon stand-in --------------------------------------------------------------------

MASTODON_TAG = "/listening/demo/mastodon/api/v1/timelines/tag/{}"
STATUS_KEYS = {
    "id", "created_at", "content", "url", "account", "replies_count", "reblogs_count",
    "favourites_count", "in_reply_to_id", "language", "spoiler_text", "reblog",
}  # fmt: skip


def timeline(client: Client, tag: str = "acmemobile", **params: str):
    response = client.get(MASTODON_TAG.format(tag), params)
    assert response.status_code == 200, response.content
    return response.json(), parse_link_header(response.get("Link", ""))


def link_param(links: dict[str, str], rel: str, name: str) -> str:
    return parse_qs(urlsplit(links[rel]).query)[name][0]


def test_mastodon_timeline_answers_in_mastodons_shape(client: Client, frozen_now) -> None:
    statuses, links = timeline(client, limit="40")

    assert len(statuses) == 40
    ids = [int(status["id"]) for status in statuses]
    assert ids == sorted(ids, reverse=True)
    for status in statuses:
        assert status.keys() >= STATUS_KEYS and status["reblog"] is None
        assert "#<span>acmemobile</span>" in status["content"]
        assert datetime.fromisoformat(status["created_at"]) <= frozen_now
        account = status["account"]
        assert account["acct"].endswith("@demo.example") and account["display_name"]
        assert account["url"].startswith("https://demo.example/@")
        assert isinstance(account["followers_count"], int)
    # Link: rel="next" goes on below the oldest, rel="prev" above the newest.
    assert link_param(links, "next", "max_id") == statuses[-1]["id"]
    assert link_param(links, "prev", "min_id") == statuses[0]["id"]
    assert timeline(client, limit="40") == (statuses, links)
    assert len(timeline(client)[0]) == 20  # Mastodon's default limit


def test_mastodon_timeline_pages_by_id(client: Client, frozen_now: datetime) -> None:
    # Walking rel="next" reads the whole tag once, without a gap or a double.
    seen: list[dict] = []
    params = {"limit": "40"}
    while True:
        page, links = timeline(client, **params)
        if not page:
            assert not links
            break
        seen += page
        params = {"limit": "40", "max_id": link_param(links, "next", "max_id")}
    expected = [t for t in content.toots(frozen_now) if "acmemobile" in t.hashtags]
    assert [s["id"] for s in seen] == [t.id for t in expected]
    assert len(seen) > 200

    ids = [s["id"] for s in seen]
    pivot = ids[100]
    after_min, links = timeline(client, min_id=pivot, limit="5")
    assert [s["id"] for s in after_min] == ids[95:100]  # immediately above, newest first
    assert link_param(links, "prev", "min_id") == ids[95]
    after_since, _ = timeline(client, since_id=pivot, limit="5")
    assert [s["id"] for s in after_since] == ids[:5]  # the newest above it
    below, _ = timeline(client, max_id=pivot, limit="3")
    assert [s["id"] for s in below] == ids[101:104]
    between, _ = timeline(client, min_id=ids[10], max_id=ids[4], limit="40")
    assert [s["id"] for s in between] == ids[5:10]
    assert timeline(client, min_id=ids[0])[0] == []

    # Replies in the tag, with parents in it too; reach from a few followers to a lot.
    replies = [s for s in seen if s["in_reply_to_id"]]
    assert len(replies) > 30 and len({s["in_reply_to_id"] for s in replies} & set(ids)) > 20
    assert all(s["content"].startswith('<p><span class="h-card"') for s in replies)
    followers = [s["account"]["followers_count"] for s in seen]
    assert min(followers) < 50 and max(followers) > 100_000


def test_mastodon_other_tags_and_bad_ids(client: Client, frozen_now: datetime) -> None:
    globex, _ = timeline(client, "Globex", limit="40")
    assert globex and all("#<span>globex</span>" in s["content"] for s in globex)
    assert timeline(client, "nosuchtag") == ([], {})
    assert client.get(MASTODON_TAG.format("acmemobile"), {"max_id": "abc"}).status_code == 422
