"""The demo: its content, the feeds Earshot serves itself, load_demo, and a real fetch round."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from listening import demo
from listening.connectors.mastodon import parse_link_header
from listening.models import Brand, FetchLog, Mention, MentionMatch, Source
from listening.query import MatchDocument, compile_query
from listening.sentiment import score_text
from listening.text import item_text

# Fixed clocks, so the content assertions do not depend on the day the tests run; one of them
# is "now" to catch anything that only breaks with the real clock.
NOWS = [
    datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 7, 14, 3, 30, 17, tzinfo=UTC),
    datetime.now(UTC).replace(microsecond=0),
]
FIXED_NOW = NOWS[0]
FEED_FORMATS = {"tech-news": "rss20", "community": "atom10", "reviews": "json11"}


def feed_path(spec: demo.FeedSpec) -> str:
    return reverse("listening:demo-feed", kwargs={"name": spec.name, "ext": spec.ext})


def all_items(now: datetime) -> list[demo.DemoItem]:
    return [item for spec in demo.FEEDS.values() for item in demo.feed_items(spec, now)]


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Pin the view's clock: ETags change when an item's time passes."""
    monkeypatch.setattr("listening.views.timezone.now", lambda: FIXED_NOW)
    return FIXED_NOW


# --- Content --------------------------------------------------------------------------------


@pytest.mark.parametrize("now", NOWS)
def test_feeds_list_the_last_90_days_only(now: datetime) -> None:
    total = 0
    for spec in demo.FEEDS.values():
        items = demo.feed_items(spec, now)
        assert 100 <= len(items) <= demo.MAX_FEED_ITEMS
        assert all(now - demo.DEMO_WINDOW < item.published <= now for item in items)
        # Nothing missing at either edge: the neighbours just outside are outside.
        first, last = items[-1].index, items[0].index
        assert demo.item_time(spec, first - 1) <= now - demo.DEMO_WINDOW
        assert demo.item_time(spec, last + 1) > now
        assert [item.index for item in items] == list(range(last, first - 1, -1))
        total += len(items)
    assert 450 <= total <= 600


def test_items_are_stable_and_new_ones_appear_over_time() -> None:
    later = FIXED_NOW + timedelta(days=2)
    for spec in demo.FEEDS.values():
        before = {item.id: item for item in demo.feed_items(spec, FIXED_NOW)}
        after = {item.id: item for item in demo.feed_items(spec, later)}
        shared = before.keys() & after.keys()
        assert len(shared) > 100
        assert all(before[key] == after[key] for key in shared)
        # About two days' worth of items arrived, and as many aged out.
        assert 2 <= len(after.keys() - before.keys()) <= 6
        assert before == {item.id: item for item in demo.feed_items(spec, FIXED_NOW)}
        assert all(key.startswith(f"urn:earshot-demo:{spec.name}:") for key in before)


def test_content_mix_scores_as_written_under_vader() -> None:
    items = all_items(FIXED_NOW)
    on_topic = [item for item in items if item.intent != "noise"]
    labels = Counter()
    agree = 0
    for item in on_topic:
        label = score_text(item_text(item.title, item.body_html)).label
        labels[label] += 1
        agree += label == item.intent
    scored = [item for item in on_topic if item.intent in ("negative", "positive", "neutral")]
    assert agree / len(scored) > 0.9
    shares = {label: count / len(on_topic) for label, count in labels.items()}
    assert 0.28 <= shares["negative"] <= 0.42
    assert 0.28 <= shares["positive"] <= 0.42
    assert 0.20 <= shares["neutral"] <= 0.38
    assert 0.05 <= (len(items) - len(on_topic)) / len(items) <= 0.15


def test_content_matches_the_brand_queries_it_is_about() -> None:
    queries = {brand.name: compile_query(brand.query) for brand in demo.BRANDS}
    per_brand: Counter[str] = Counter()
    for item in all_items(FIXED_NOW):
        doc = MatchDocument(item_text(item.title, item.body_html))
        matched = {name for name, query in queries.items() if query.match(doc)}
        assert matched == set(item.brands), item
        per_brand.update(matched)
    acme, globex, initech = (per_brand[b.name] for b in demo.BRANDS)
    assert acme > globex + initech
    assert globex > 60 and initech > 60


def test_content_has_markup_emoji_regulars_and_anonymous_posts() -> None:
    items = all_items(FIXED_NOW)
    bodies = [item.body_html for item in items]
    assert any("&amp;" in body for body in bodies)
    assert any("<b>" in body for body in bodies)
    assert any(not body.isascii() for body in bodies)
    authors = Counter(item.author.handle for item in items if item.author)
    assert authors.most_common(1)[0][1] >= 8
    assert sum(item.author is None for item in items) >= 10
    # Links stay on fictional domains.
    assert all(urlsplit(item.url).hostname.endswith(".example") for item in items)


# --- Serving --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", demo.FEEDS.values(), ids=lambda spec: spec.filename)
def test_feed_renders_as_a_valid_feed(client: Client, frozen_now: datetime, spec) -> None:
    from listening.connectors.rss import parse_feed

    response = client.get(feed_path(spec))

    assert response.status_code == 200
    assert response["Content-Type"] == spec.content_type
    expected = demo.feed_items(spec, frozen_now)
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
    for spec in demo.FEEDS.values():
        assert client.get(feed_path(spec)).content == client.get(feed_path(spec)).content


def test_conditional_get_answers_304(client: Client, frozen_now: datetime) -> None:
    for spec in demo.FEEDS.values():
        first = client.get(feed_path(spec))
        assert first["ETag"] and first["Last-Modified"]

        by_etag = client.get(feed_path(spec), HTTP_IF_NONE_MATCH=first["ETag"])
        by_date = client.get(feed_path(spec), HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
        stale = client.get(feed_path(spec), HTTP_IF_NONE_MATCH='"something-else"')

        assert by_etag.status_code == 304 and not by_etag.content
        assert by_date.status_code == 304
        assert stale.status_code == 200


def test_new_item_changes_the_etag(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = demo.FEEDS["tech-news"]
    monkeypatch.setattr("listening.views.timezone.now", lambda: FIXED_NOW)
    etag = client.get(feed_path(spec))["ETag"]
    monkeypatch.setattr(
        "listening.views.timezone.now", lambda: FIXED_NOW + timedelta(hours=spec.step_hours * 2)
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
    assert client.post(feed_path(demo.FEEDS["reviews"])).status_code == 405


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
    assert data["nbHits"] == len(demo.hn_items(frozen_now)) > 250
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


def test_hn_threads_hold_together(frozen_now: datetime) -> None:
    items = {item.object_id: item for item in demo.hn_items(frozen_now)}
    comments = [item for item in items.values() if item.kind == "comment"]
    nested = [c for c in comments if c.parent_id != c.story_id]
    assert len(comments) > 100 and len(nested) > 20
    for comment in comments:
        parent = demo.hn_item_at(comment.parent_id - demo.HN_ID_BASE)
        assert parent.published < comment.published
        assert parent.story_id == comment.story_id


def test_hn_user_answers_karma(client: Client) -> None:
    response = client.get("/listening/demo/hn/api/v1/users/rf_engineer")
    assert response.status_code == 200
    assert response.json()["username"] == "rf_engineer" and response.json()["karma"] > 10_000
    karmas = [demo.hn_karma(name) for name in demo.HN_USERS]
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
    expected = [t for t in demo.toots(frozen_now) if "acmemobile" in t.hashtags]
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


@pytest.mark.parametrize("source", ["hn", "mastodon"])
def test_api_content_scores_as_written(source: str) -> None:
    if source == "hn":
        texts = [
            (item.intent, item_text(item.title, item.story_text or item.comment_text or item.url))
            for item in demo.hn_items(FIXED_NOW)
        ]
    else:
        texts = [
            (toot.intent, item_text(toot.spoiler_text, demo.toot_html(toot)))
            for toot in demo.toots(FIXED_NOW)
        ]
    scored = [(intent, score_text(text).label) for intent, text in texts]
    written = [(i, label) for i, label in scored if i in ("negative", "positive", "neutral")]
    assert sum(i == label for i, label in written) / len(written) > 0.9
    labels = Counter(label for _, label in scored)
    assert all(labels[label] / len(scored) > 0.2 for label in ("negative", "positive", "neutral"))


# --- load_demo ------------------------------------------------------------------------------


def load_demo(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_load_demo_creates_everything_once(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1:8000"]
    settings.EARSHOT_DEMO = True  # A demo instance: the only kind that gets the demo user.
    first, first_err = load_demo()
    second, _ = load_demo()

    assert "earshot-demo" in first and "local use only" in first
    assert not first_err
    assert "nothing to change" in second
    acme = Brand.objects.get(name="Acme Mobile")
    assert set(acme.competitors.values_list("name", flat=True)) == {"Globex", "Initech Telecom"}
    assert Brand.objects.count() == 3
    sources = Source.objects.filter(brand=acme)
    assert sources.count() == 5 and Source.objects.count() == 5
    assert {(s.kind, s.url) for s in sources} == {
        ("rss", f"http://127.0.0.1:8000/listening/demo/feeds/{spec.filename}")
        for spec in demo.FEEDS.values()
    } | {
        ("hn", "http://127.0.0.1:8000/listening/demo/hn"),
        ("mastodon", "http://127.0.0.1:8000/listening/demo/mastodon"),
    }
    assert sources.get(kind="mastodon").config == {"hashtag": "acmemobile"}
    assert {s.poll_interval for s in sources} == {300}
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.check_password("earshot-demo")


@pytest.mark.django_db
def test_load_demo_moves_sources_to_a_new_base_url_and_warns(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    load_demo()
    out, err = load_demo("--base-url", "http://localhost:8123/")

    assert Source.objects.count() == 5
    assert all(s.url.startswith("http://localhost:8123/listening/") for s in Source.objects.all())
    assert "Moved source" in out
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in err and "localhost:8123" in err


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_load_demo_creates_no_demo_superuser_on_a_production_instance(settings, debug) -> None:
    settings.DEBUG = debug
    settings.EARSHOT_DEMO = False
    out, err = load_demo()
    exists = get_user_model().objects.filter(username="demo").exists()
    if debug:
        assert exists and "earshot-demo" in out
    else:
        assert not exists
        assert "earshot-demo" not in out
        assert "Skipped the 'demo' superuser: DEBUG is off and EARSHOT_DEMO is not true" in out
        # The rest of the demo is still there.
        assert Source.objects.count() == 5


@pytest.mark.django_db
def test_load_demo_keeps_an_existing_demo_user(settings) -> None:
    get_user_model().objects.create_user(username="demo", password="mine-not-yours")
    out, _ = load_demo()
    assert "earshot-demo" not in out
    assert get_user_model().objects.get(username="demo").check_password("mine-not-yours")


# --- End to end: served over HTTP, fetched, parsed, matched, scored, stored ------------------


@pytest.mark.django_db(transaction=True)
def test_load_demo_fetches_hundreds_of_mentions_over_http(live_server, settings) -> None:
    url = urlsplit(live_server.url)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [url.netloc, f"127.0.0.1:{url.port}"]

    out, err = load_demo("--base-url", live_server.url, "--fetch")

    assert not err, err
    logs = list(FetchLog.objects.all())
    assert len(logs) == 5 and all(log.is_success for log in logs), [
        (log.error_class, log.error_message) for log in logs
    ]
    assert sum(log.items_unmatched for log in logs) > 10
    assert Mention.objects.count() >= 350
    per_brand = Counter(MentionMatch.objects.values_list("brand__name", flat=True))
    assert set(per_brand) == {"Acme Mobile", "Globex", "Initech Telecom"}
    assert set(Mention.objects.values_list("label", flat=True)) == {
        "positive",
        "negative",
        "neutral",
    }
    days = {moment.date() for moment in Mention.objects.values_list("published_at", flat=True)}
    assert len(days) > 60

    # Three kinds of source, each fetched through its real connector over HTTP.
    acme_kinds = Counter(
        MentionMatch.objects.filter(brand__name="Acme Mobile").values_list(
            "mention__source__kind", flat=True
        )
    )
    assert set(acme_kinds) == {"rss", "hn", "mastodon"}
    assert all(count >= 100 for count in acme_kinds.values()), acme_kinds
    for kind in ("hn", "mastodon"):
        mentions = Mention.objects.filter(source__kind=kind)
        assert set(mentions.values_list("label", flat=True)) == {"positive", "negative", "neutral"}
        # Threads: replies name their parent and their thread, and some parents are stored.
        replies = mentions.exclude(in_reply_to="")
        assert replies.count() > 30
        assert not replies.filter(thread_id="").exists()
        ids = set(mentions.values_list("external_id", flat=True))
        assert len(ids & set(replies.values_list("in_reply_to", flat=True))) > 10
        # Reach: HN karma (looked up per author) and Mastodon followers counts.
        followers = [f for f in mentions.values_list("author_followers", flat=True) if f]
        assert len(followers) > mentions.count() / 2
        assert max(followers) > 10_000 and min(followers) < 100
    assert FetchLog.objects.get(source__kind="hn").items_unmatched > 0

    stored = Mention.objects.count()
    load_demo("--base-url", live_server.url, "--fetch")
    assert Mention.objects.count() == stored
    assert sum(log.items_new for log in FetchLog.objects.all()) == stored
