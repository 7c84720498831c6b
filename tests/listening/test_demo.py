"""The demo: its content, the feeds Earshot serves itself, load_demo, and a real fetch round."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from listening import demo
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


# --- load_demo ------------------------------------------------------------------------------


def load_demo(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_load_demo_creates_everything_once(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1:8000"]
    first, first_err = load_demo()
    second, _ = load_demo()

    assert "earshot-demo" in first and "local use only" in first
    assert not first_err
    assert "nothing to change" in second
    acme = Brand.objects.get(name="Acme Mobile")
    assert set(acme.competitors.values_list("name", flat=True)) == {"Globex", "Initech Telecom"}
    assert Brand.objects.count() == 3
    sources = Source.objects.filter(brand=acme)
    assert sources.count() == 3 and Source.objects.count() == 3
    assert {s.url for s in sources} == {
        f"http://127.0.0.1:8000/listening/demo/feeds/{spec.filename}"
        for spec in demo.FEEDS.values()
    }
    assert {s.poll_interval for s in sources} == {300}
    user = get_user_model().objects.get(username="demo")
    assert user.is_superuser and user.check_password("earshot-demo")


@pytest.mark.django_db
def test_load_demo_moves_sources_to_a_new_base_url_and_warns(settings) -> None:
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    load_demo()
    out, err = load_demo("--base-url", "http://localhost:8123/")

    assert Source.objects.count() == 3
    assert all(s.url.startswith("http://localhost:8123/listening/") for s in Source.objects.all())
    assert "Moved source" in out
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in err and "localhost:8123" in err


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
    assert len(logs) == 3 and all(log.is_success for log in logs), [
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

    stored = Mention.objects.count()
    load_demo("--base-url", live_server.url, "--fetch")
    assert Mention.objects.count() == stored
    assert sum(log.items_new for log in FetchLog.objects.all()) == stored
