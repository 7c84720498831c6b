"""The Hacker News connector against a real local server serving real Algolia responses.

Recorded responses come from /work/shared/data/api_hackernews_algolia (served from there, never
copied); multi-page and partly-bad pages are built to Algolia's documented shape under
fixtures/hn/*_built.json.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from listening.connectors.base import ConfigError, SourceState
from listening.connectors.hn import HackerNewsConnector, MalformedResponse, search_words
from listening.connectors.http import RateLimited
from listening.connectors.registry import connector_for
from tests.feedserver import LocalFeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "hn"
SEARCH = "/api/v1/search_by_date"
TERMS = ("acme", "acme mobile", "#acmemobile", "globex")


@pytest.fixture
def hn_data(shared_data: Path) -> Path:
    return shared_data / "api_hackernews_algolia" / "responses"


@pytest.fixture
def connector() -> HackerNewsConnector:
    HackerNewsConnector.karma_cache.clear()
    yield HackerNewsConnector()
    HackerNewsConnector.karma_cache.clear()


def _built(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _serve(server: LocalFeedServer, path: str, body: bytes, **kwargs: object) -> None:
    server.add(path, body, content_type="application/json; charset=utf-8", **kwargs)  # type: ignore[arg-type]


def _state(server: LocalFeedServer, **kwargs: object) -> SourceState:
    values: dict[str, object] = {
        "source_id": 1,
        "kind": "hn",
        "url": server.url(""),
        "search_terms": TERMS,
        "config": {"tags": "(story,comment)"},
    }
    values.update(kwargs)
    return SourceState(**values)  # type: ignore[arg-type]


def _search_params(server: LocalFeedServer) -> list[dict[str, str]]:
    return [
        {key: values[0] for key, values in parse_qs(urlsplit(r.path).query).items()}
        for r in server.requests_for(SEARCH)
    ]


def test_registry_maps_hn_to_the_hacker_news_connector() -> None:
    connector = connector_for("hn")
    assert isinstance(connector, HackerNewsConnector)
    assert connector.platform == "hackernews"
    assert connector.default_url == "https://hn.algolia.com"


def test_search_terms_become_optional_words_so_any_term_matches() -> None:
    assert search_words(TERMS) == ["acme", "mobile", "acmemobile", "globex"]


def test_a_recorded_comment_maps_every_field(feed_server, connector, hn_data) -> None:
    _serve(
        feed_server,
        SEARCH,
        (hn_data / "11_search_by_date_hitsPerPage_1_tags_comment_2Cauthor_pg.json").read_bytes(),
    )
    _serve(feed_server, "/api/v1/users/pg", (hn_data / "09_users_pg_.json").read_bytes())

    page = connector.fetch(_state(feed_server))

    assert page.http_status == 200
    assert page.warnings == []
    [item] = page.items
    assert item.external_id == "7494555"
    assert item.url == "https://news.ycombinator.com/item?id=7494555"
    assert item.title == ""
    assert item.body == "Is there a forum that doesn&#x27;t ban people?"  # HTML as given
    assert item.author_handle == "pg"
    assert item.author_url == "https://news.ycombinator.com/user?id=pg"
    assert item.author_followers == 154666  # karma from the recorded users/pg response
    assert item.published_at == datetime.fromtimestamp(1396138355, UTC)
    assert item.in_reply_to == "7494175"
    assert item.thread_id == "7493856"
    assert item.like_count == 8
    assert item.reply_count is None
    assert item.platform == ""  # the connector's platform, hackernews

    [params] = _search_params(feed_server)
    assert params["query"] == "acme mobile acmemobile globex"
    assert params["optionalWords"] == "acme,mobile,acmemobile,globex"
    assert params["tags"] == "(story,comment)"
    assert params["hitsPerPage"] == "100"
    assert "numericFilters" not in params  # no cursor and no backfill: just the newest page


def test_a_recorded_link_story_keeps_the_hn_page_as_its_url(feed_server, connector, hn_data):
    _serve(
        feed_server,
        SEARCH,
        (hn_data / "07_search_by_date_hitsPerPage_1_tags_story.json").read_bytes(),
    )

    page = connector.fetch(_state(feed_server))

    [item] = page.items
    assert item.external_id == "7919424"
    assert item.url == "https://news.ycombinator.com/item?id=7919424"
    assert item.title == "Judge says concerned about Apple, Google hiring settlement"
    # A link story has no text: the link stands for it.
    assert item.body.startswith("http://in.reuters.com/article/2014/06/19/apple-google")
    assert item.thread_id == "7919424"
    assert item.in_reply_to == ""
    assert item.like_count == 1
    assert item.reply_count == 0
    # No recorded users response for bradleyjg: the lookup fails, the item stays.
    assert item.author_followers is None
    assert any("karma of bradleyjg" in w for w in page.warnings)


def test_a_recorded_poll_keeps_its_html_text(feed_server, connector, hn_data) -> None:
    _serve(
        feed_server,
        SEARCH,
        (hn_data / "03_search_by_date_hitsPerPage_1_tags_poll.json").read_bytes(),
    )

    [item] = connector.fetch(_state(feed_server)).items

    assert item.title == 'Poll: Do you experience "The Hum"?'
    assert item.body.startswith("According to this article")
    assert "&quot;The Hum&quot;" in item.body
    assert item.reply_count == 1
    assert item.like_count == 3


def test_backfill_pages_back_to_backfill_since_then_stops(feed_server, connector) -> None:
    since = datetime.fromtimestamp(1760000000 - 3600, UTC)
    _serve(feed_server, SEARCH, _built("search_page1_built.json"))

    first = connector.fetch(_state(feed_server, backfill_since=since))

    assert [i.external_id for i in first.items] == ["9000005", "9000004", "9000003"]
    assert first.has_more is True
    assert "fetching back to" in first.progress
    assert json.loads(first.cursor or "")["upper"] == 1760000300

    _serve(feed_server, SEARCH, _built("search_page2_built.json"))
    second = connector.fetch(_state(feed_server, cursor=first.cursor))

    assert [i.external_id for i in second.items] == ["9000002", "9000001"]
    assert second.has_more is False
    assert second.progress.startswith("up to date")
    cursor = json.loads(second.cursor or "")
    assert cursor["newest"] == 1760000500
    assert cursor["upper"] is None

    p1, p2 = _search_params(feed_server)
    assert p1["numericFilters"] == f"created_at_i>{int(since.timestamp())}"
    # The second page is the same window below the oldest hit of the first.
    assert p2["numericFilters"] == f"created_at_i>{int(since.timestamp())},created_at_i<=1760000300"


def test_a_later_poll_asks_only_for_items_newer_than_the_cursor(feed_server, connector) -> None:
    _serve(feed_server, SEARCH, _built("search_page2_built.json"))
    since = datetime.fromtimestamp(1760000000, UTC)
    first = connector.fetch(_state(feed_server, backfill_since=since))
    assert first.has_more is False
    assert json.loads(first.cursor or "")["newest"] == 1760000300

    _serve(feed_server, SEARCH, _built("search_newer_built.json"))
    later = connector.fetch(_state(feed_server, cursor=first.cursor))

    assert [i.external_id for i in later.items] == ["9000007", "9000006"]
    assert later.has_more is False
    assert _search_params(feed_server)[-1]["numericFilters"] == "created_at_i>1760000300"
    assert json.loads(later.cursor or "")["newest"] == 1760000900


def test_a_restart_mid_backfill_resumes_the_window_it_was_draining(feed_server, connector):
    # The saved cursor of a drain interrupted after page 1: a new process picks it up.
    cursor = json.dumps(
        {"v": 1, "newest": None, "upper": 1760000300, "floor": 1759990000, "top": 1760000500}
    )
    _serve(feed_server, SEARCH, _built("search_page2_built.json"))

    page = connector.fetch(_state(feed_server, cursor=cursor))

    assert _search_params(feed_server)[0]["numericFilters"] == (
        "created_at_i>1759990000,created_at_i<=1760000300"
    )
    assert json.loads(page.cursor or "")["newest"] == 1760000500


def test_a_429_raises_rate_limited_with_retry_after(feed_server, connector) -> None:
    _serve(
        feed_server, SEARCH, b'{"message":"slow down"}', status=429, headers={"Retry-After": "30"}
    )

    with pytest.raises(RateLimited) as caught:
        connector.fetch(_state(feed_server))

    assert caught.value.retry_after == 30
    assert caught.value.is_transient


def test_invalid_json_is_a_malformed_response(feed_server, connector) -> None:
    _serve(feed_server, SEARCH, b'{"hits": [{"objectID": "1", ')

    with pytest.raises(MalformedResponse, match="invalid JSON") as caught:
        connector.fetch(_state(feed_server))

    assert caught.value.error_class == "malformed_response"


def test_json_that_is_not_a_search_response_is_malformed(feed_server, connector, hn_data):
    # The users endpoint's answer where a search answer was expected.
    _serve(feed_server, SEARCH, (hn_data / "09_users_pg_.json").read_bytes())

    with pytest.raises(MalformedResponse, match="'hits' list"):
        connector.fetch(_state(feed_server))


def test_hits_missing_required_keys_are_skipped_with_a_warning(feed_server, connector) -> None:
    _serve(feed_server, SEARCH, _built("search_partial_built.json"))
    _serve(feed_server, "/api/v1/users/pg", b'{"username":"pg","karma":1}')

    page = connector.fetch(_state(feed_server))

    assert [i.external_id for i in page.items] == ["9000003"]
    assert "Skipped 2 of 3 HN hit(s)" in page.warnings[0]


def test_karma_lookups_are_bounded_per_fetch_and_cached(feed_server, connector, hn_data) -> None:
    users = (hn_data / "09_users_pg_.json").read_bytes()
    for n in range(12):
        _serve(feed_server, f"/api/v1/users/user{n:02d}", users)
    _serve(feed_server, SEARCH, _built("search_busy_built.json"))

    first = connector.fetch(_state(feed_server))

    lookups = [r for r in feed_server.requests if r.path.startswith("/api/v1/users/")]
    assert len(lookups) == connector.max_karma_lookups == 10
    by_id = {i.external_id: i.author_followers for i in first.items}
    assert by_id["9100000"] == 154666
    assert by_id["9100099"] == 154666  # the same author again: no second lookup
    assert by_id["9100011"] is None  # past the budget: looked up on a later fetch
    assert first.warnings == []

    second = connector.fetch(_state(feed_server))

    lookups = [r for r in feed_server.requests if r.path.startswith("/api/v1/users/")]
    # Only the two postponed authors; the ten others come from the cache.
    assert sorted(r.path for r in lookups[10:]) == ["/api/v1/users/user10", "/api/v1/users/user11"]
    assert all(i.author_followers == 154666 for i in second.items)


def test_no_search_terms_makes_no_request(feed_server, connector) -> None:
    page = connector.fetch(_state(feed_server, search_terms=()))

    assert page.items == []
    assert "No search terms" in page.warnings[0]
    assert feed_server.requests == []


def test_tags_default_to_stories_and_comments() -> None:
    assert HackerNewsConnector().validate_config("https://hn.algolia.com", {}) == {
        "tags": "(story,comment)"
    }


def test_tags_accept_algolia_and_or_groups() -> None:
    cleaned = HackerNewsConnector().validate_config("", {"tags": "(story, comment),author_pg"})
    assert cleaned == {"tags": "(story,comment),author_pg"}


@pytest.mark.parametrize("tags", ["story comment", "(story,comment", "story;drop", "()"])
def test_malformed_tags_are_refused_with_an_example(tags: str) -> None:
    with pytest.raises(ConfigError, match=r"not an Algolia tag filter.*\(story,comment\)"):
        HackerNewsConnector().validate_config("", {"tags": tags})


def test_items_link_to_hacker_news_unless_the_source_names_a_site(feed_server, connector):
    _serve(feed_server, SEARCH, _built("search_partial_built.json"))
    _serve(feed_server, "/api/v1/users/pg", b'{"username":"pg","karma":1}')
    config = connector.validate_config("", {"site": " https://hn.example/ "})

    default = connector.fetch(_state(feed_server)).items
    own_site = connector.fetch(_state(feed_server, config=config)).items

    assert config == {"tags": "(story,comment)", "site": "https://hn.example"}
    assert [(i.url, i.author_url) for i in default] == [
        ("https://news.ycombinator.com/item?id=9000003", "https://news.ycombinator.com/user?id=pg")
    ]
    assert [(i.url, i.author_url) for i in own_site] == [
        ("https://hn.example/item?id=9000003", "https://hn.example/user?id=pg")
    ]


@pytest.mark.parametrize(
    "site", ["javascript:alert(1)", "hn.example", "https://", "https://hn.example/?a=1", "ftp://x"]
)
def test_a_site_that_is_not_a_web_address_is_refused(site: str) -> None:
    with pytest.raises(ConfigError, match="Option 'site' .* is not a web address"):
        HackerNewsConnector().validate_config("", {"site": site})


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="Unknown option"):
        HackerNewsConnector().validate_config("", {"subreddit": "python"})


# --- through the service ----------------------------------------------------------------


def _envelope(*names: str) -> bytes:
    """One single-page search answer holding the hits of the given built pages."""
    hits = [hit for name in names for hit in json.loads(_built(name))["hits"]]
    return json.dumps({"hits": hits, "nbHits": len(hits), "page": 0, "nbPages": 1}).encode()


@pytest.mark.django_db
def test_polling_twice_stores_each_mention_once_with_threads_and_karma(
    feed_server, connector, hn_data
) -> None:
    from listening.models import FetchLog, Mention, Source
    from listening.services import brand_create, source_poll

    brand = brand_create(name="Acme", query="acme OR globex")
    source = Source.objects.create(
        brand=brand, kind="hn", url=feed_server.url(""), config={"tags": "(story,comment)"}
    )
    _serve(feed_server, "/api/v1/users/pg", (hn_data / "09_users_pg_.json").read_bytes())
    _serve(feed_server, SEARCH, _envelope("search_page2_built.json"))

    source_poll(source_id=source.pk)

    source.refresh_from_db()
    assert json.loads(source.cursor)["newest"] == 1760000300
    # The first poll backfills: its window starts backfill_days ago.
    first_filters = _search_params(feed_server)[0]["numericFilters"]
    assert first_filters.startswith("created_at_i>")

    # A fresh poll later (a new process: only the saved cursor carries over) sees two new
    # hits and the two it already stored.
    connector.karma_cache.clear()
    _serve(feed_server, SEARCH, _envelope("search_newer_built.json", "search_page2_built.json"))
    source_poll(source_id=source.pk)

    assert _search_params(feed_server)[-1]["numericFilters"] == "created_at_i>1760000300"
    mentions = {m.external_id: m for m in Mention.objects.filter(source=source)}
    assert sorted(mentions) == ["9000001", "9000002", "9000006", "9000007"]
    assert Mention.objects.filter(source=source).count() == 4
    log = FetchLog.objects.filter(source=source).order_by("-pk").first()
    assert (log.items_new, log.items_duplicate, log.error_class) == (2, 2, "")
    reply = mentions["9000007"]
    assert (reply.thread_id, reply.in_reply_to) == ("9000001", "9000001")
    assert reply.author_followers == 154666  # pg's karma
    assert reply.platform == "hackernews"
    assert mentions["9000001"].thread_id == "9000001"
    assert mentions["9000001"].like_count == 10
    assert mentions["9000006"].author_followers is None  # no users answer for patio11


def test_an_empty_backfill_still_moves_the_floor_forward(feed_server, connector) -> None:
    _serve(feed_server, SEARCH, b'{"hits":[],"nbHits":0,"page":0,"nbPages":0,"hitsPerPage":100}')
    since = datetime.fromtimestamp(1760000000, UTC)

    first = connector.fetch(_state(feed_server, backfill_since=since))
    connector.fetch(_state(feed_server, cursor=first.cursor))

    assert first.items == [] and first.has_more is False
    assert _search_params(feed_server)[1]["numericFilters"] == "created_at_i>1760000000"
