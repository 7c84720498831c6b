"""The Reddit connector against a real local server serving real recorded Reddit listings.

Bodies come from /work/shared/data/api_reddit/responses (extracted verbatim from PRAW's
cassettes; served from there, never copied). Pages the recordings lack are built at test time
from the recorded children, or under fixtures/reddit/*_built.json in the Listing shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from listening.connectors.base import ConfigError, SourceState
from listening.connectors.http import RateLimited
from listening.connectors.reddit import MalformedResponse, RedditConnector, search_query
from listening.connectors.registry import connector_for
from tests.feedserver import LocalFeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "reddit"
TERMS = ("acme", "acme mobile", "#acmemobile", "globex")
SEARCH = "/search.json"
NEW = "TestSubredditListings_test_new__01_GET_oauth_reddit_com_r_askreddit_new.json"
COMMENTS = "TestSubredditListings_test_comments__01_GET_oauth_reddit_com_r_askreddit_comments.json"
ALL_NEW = "TestSubredditStreams_test_submissions__01_GET_oauth_reddit_com_r_all_new.json"
ALL_NEWER = "TestSubredditStreams_test_submissions__02_GET_oauth_reddit_com_r_all_new.json"
EMPTY = (
    "TestSubredditStreams_test_comments_with_pause__02_GET_oauth_reddit_com_r_kakapo_comments.json"
)
SEARCHED = "TestSubreddit_test_search__01_GET_oauth_reddit_com_r_all_search.json"
TOKEN = "TestSubreddit_test_search__00_POST_www_reddit_com_api_v1_access_token.json"


@pytest.fixture
def reddit_data(shared_data: Path) -> Path:
    return shared_data / "api_reddit" / "responses"


@pytest.fixture
def connector() -> RedditConnector:
    RedditConnector.rate_limits.clear()
    yield RedditConnector()
    RedditConnector.rate_limits.clear()


def _serve(server: LocalFeedServer, path: str, body: bytes, **kwargs: object) -> None:
    server.add(path, body, content_type="application/json; charset=UTF-8", **kwargs)  # type: ignore[arg-type]


def _state(server: LocalFeedServer, **kwargs: object) -> SourceState:
    values: dict[str, object] = {
        "source_id": 1,
        "kind": "reddit",
        "url": server.url(""),
        "search_terms": TERMS,
    }
    values.update(kwargs)
    return SourceState(**values)  # type: ignore[arg-type]


def _params(server: LocalFeedServer, path: str) -> list[dict[str, str]]:
    return [
        {key: values[0] for key, values in parse_qs(urlsplit(r.path).query).items()}
        for r in server.requests_for(path)
    ]


def _children(path: Path) -> list[dict]:
    return json.loads(path.read_bytes())["data"]["children"]


def _listing(children: list[dict], after: str | None) -> bytes:
    return json.dumps(
        {"kind": "Listing", "data": {"modhash": "", "children": children, "after": after}}
    ).encode()


def test_registry_maps_reddit_to_the_reddit_connector() -> None:
    connector = connector_for("reddit")
    assert isinstance(connector, RedditConnector)
    assert connector.platform == "reddit"
    assert connector.default_url == "https://www.reddit.com"


def test_search_terms_are_ored_with_phrases_quoted() -> None:
    assert search_query(TERMS) == ('acme OR "acme mobile" OR acmemobile OR globex', [])


def test_a_search_maps_every_field_of_a_recorded_self_post(feed_server, connector, reddit_data):
    _serve(feed_server, SEARCH, (reddit_data / SEARCHED).read_bytes())

    page = connector.fetch(_state(feed_server))

    assert page.http_status == 200
    assert page.warnings == []
    assert len(page.items) == 6
    item = page.items[0]
    assert item.external_id == "t3_3gpbiu"
    assert item.url == (
        "https://www.reddit.com/r/redditdev/comments/3gpbiu/"
        "prawoauth2util_problem_using_get_banned_raise/?ref=search_posts"
    )
    assert item.title.startswith("[PRAW][OAuth2Util] Problem using get_banned()")
    # raw_json=1: the HTML arrives unescaped.
    assert item.body.startswith('<!-- SC_OFF --><div class="md"><h1>solved</h1>')
    assert item.author_handle == "dClauzel"
    assert item.author_url == "https://www.reddit.com/user/dClauzel/"
    assert item.author_followers is None  # listings carry no follower count
    assert item.published_at == datetime.fromtimestamp(1439370514, UTC)
    assert item.thread_id == "t3_3gpbiu"
    assert item.in_reply_to == ""
    assert item.like_count == 0
    assert item.reply_count == 21

    [params] = _params(feed_server, SEARCH)
    assert params == {
        "q": 'acme OR "acme mobile" OR acmemobile OR globex',
        "sort": "new",
        "limit": "100",
        "raw_json": "1",
    }


def test_a_link_post_says_what_it_links_to(feed_server, connector, reddit_data) -> None:
    _serve(feed_server, SEARCH, (reddit_data / ALL_NEW).read_bytes())

    page = connector.fetch(_state(feed_server))

    item = page.items[0]
    assert item.external_id == "t3_5jo13y"
    assert item.title == "Farewell Rush - We will never forget your stream"
    assert item.body == "https://www.youtube.com/watch?v=w5aNSHEUfJE"
    assert item.url == (
        "https://www.reddit.com/r/LeagueOfVideos/comments/5jo13y/"
        "farewell_rush_we_will_never_forget_your_stream/"
    )


def test_a_subreddit_reads_its_new_posts_and_comments(feed_server, connector, reddit_data):
    _serve(feed_server, "/r/askreddit/new.json", (reddit_data / NEW).read_bytes())
    _serve(feed_server, "/r/askreddit/comments.json", (reddit_data / COMMENTS).read_bytes())

    page = connector.fetch(_state(feed_server, config={"subreddit": "askreddit"}))

    assert len(page.items) == 200
    comment = next(i for i in page.items if i.external_id == "t1_d4y8bdp")
    assert comment.title == ""
    assert comment.body == (
        '<div class="md"><p>great, life is so much better when you can do what you enjoy '
        "for a living</p>\n</div>"
    )
    assert comment.author_handle == "preppypuppy"
    assert comment.in_reply_to == "t3_4r4inc"
    assert comment.thread_id == "t3_4r4inc"
    assert comment.like_count == 1
    assert comment.reply_count is None
    assert comment.published_at == datetime.fromtimestamp(1467590690, UTC)
    # Recorded comment listings have no permalink: the short form resolves to the comment.
    assert comment.url == "https://www.reddit.com/r/AskReddit/comments/4r4inc/_/d4y8bdp/"
    post = page.items[0]
    assert post.external_id.startswith("t3_") and post.thread_id == post.external_id
    # No search in a subreddit: everything posted there is read.
    assert all("q" not in p for p in _params(feed_server, "/r/askreddit/new.json"))


def test_backfill_stops_at_backfill_since(feed_server, connector, reddit_data) -> None:
    body = (reddit_data / NEW).read_bytes()
    children = _children(reddit_data / NEW)
    since = datetime.fromtimestamp(children[49]["data"]["created_utc"], UTC)
    _serve(feed_server, SEARCH, body)

    page = connector.fetch(_state(feed_server, backfill_since=since))

    # backfill_since is inclusive: the 50th post, posted at that second, is kept.
    assert len(page.items) == 50
    assert all(i.published_at >= since for i in page.items)
    # The recorded page has an `after`, but history before backfill_since is not wanted.
    assert page.has_more is False
    assert len(feed_server.requests) == 1


def test_backfill_follows_after_until_the_listing_runs_out(feed_server, connector, reddit_data):
    _serve(feed_server, SEARCH, (reddit_data / NEW).read_bytes())
    since = datetime(2016, 1, 1, tzinfo=UTC)

    first = connector.fetch(_state(feed_server, backfill_since=since))

    assert len(first.items) == 100
    assert first.has_more is True
    assert json.loads(first.cursor or "")["posts"]["after"] == "t3_48f6io"

    _serve(feed_server, SEARCH, (reddit_data / EMPTY).read_bytes())  # a real empty listing
    second = connector.fetch(_state(feed_server, cursor=first.cursor))

    assert second.items == []
    assert second.has_more is False
    assert second.progress == "up to date"
    assert _params(feed_server, SEARCH)[1]["after"] == "t3_48f6io"
    posts = json.loads(second.cursor or "")["posts"]
    newest = _children(reddit_data / NEW)[0]["data"]
    assert (posts["newest"], posts["newest_name"]) == (newest["created_utc"], newest["name"])
    assert posts["after"] is None


def test_a_later_poll_stops_at_the_newest_item_seen(feed_server, connector, reddit_data):
    _serve(feed_server, SEARCH, (reddit_data / ALL_NEW).read_bytes())
    first = connector.fetch(_state(feed_server))
    assert first.has_more is False  # no backfill asked: just the newest page

    # Later, Reddit's first page holds the 4 newer posts recorded by PRAW, then the old ones
    # (three of which were posted in the same second as the newest one seen).
    newer = _children(reddit_data / ALL_NEWER)
    older = _children(reddit_data / ALL_NEW)
    _serve(feed_server, SEARCH, _listing(newer + older[:96], after="t3_5jo0zz"))
    later = connector.fetch(_state(feed_server, cursor=first.cursor))

    assert [i.external_id for i in later.items] == [
        "t3_5jo144",
        "t3_5jo143",
        "t3_5jo141",
        "t3_5jo140",
    ]
    assert later.has_more is False
    # One request from the top of the listing: nothing older was asked for.
    assert [p.get("after") for p in _params(feed_server, SEARCH)] == [None, None]
    assert json.loads(later.cursor or "")["posts"]["newest_name"] == "t3_5jo144"


def test_a_subreddit_mid_backfill_reads_only_the_listing_still_paging(
    feed_server, connector, reddit_data
) -> None:
    _serve(feed_server, "/r/askreddit/new.json", (reddit_data / NEW).read_bytes())
    comments = _children(reddit_data / COMMENTS)
    _serve(feed_server, "/r/askreddit/comments.json", _listing(comments[:10], after=None))
    state = _state(
        feed_server,
        config={"subreddit": "askreddit"},
        backfill_since=datetime(2016, 1, 1, tzinfo=UTC),
    )
    first = connector.fetch(state)
    assert first.has_more is True

    second = connector.fetch(_state(feed_server, config=state.config, cursor=first.cursor))

    assert len(feed_server.requests_for("/r/askreddit/comments.json")) == 1
    assert _params(feed_server, "/r/askreddit/new.json")[1]["after"] == "t3_48f6io"
    assert second.has_more is True


def test_low_rate_limit_remaining_stops_paging_with_a_warning(feed_server, connector, reddit_data):
    headers = {"X-Ratelimit-Remaining": "1.0", "X-Ratelimit-Used": "599", "X-Ratelimit-Reset": "42"}
    _serve(feed_server, SEARCH, (reddit_data / NEW).read_bytes(), headers=headers)

    page = connector.fetch(_state(feed_server, backfill_since=datetime(2016, 1, 1, tzinfo=UTC)))

    assert len(page.items) == 100
    assert page.has_more is False
    [warning] = page.warnings
    assert "1 request(s) left" in warning and "resets in 42 s" in warning
    # The place is kept: the next poll continues the backfill after this page.
    assert json.loads(page.cursor or "")["posts"]["after"] == "t3_48f6io"


def test_a_429_raises_rate_limited_with_retry_after(feed_server, connector) -> None:
    _serve(feed_server, SEARCH, b'{"message": "Too Many Requests", "error": 429}', status=429,
           headers={"Retry-After": "17"})  # fmt: skip

    with pytest.raises(RateLimited) as caught:
        connector.fetch(_state(feed_server))

    assert caught.value.retry_after == 17


def test_a_429_without_retry_after_waits_for_the_ratelimit_reset(
    feed_server, connector, reddit_data
) -> None:
    _serve(feed_server, SEARCH, (reddit_data / SEARCHED).read_bytes(),
           headers={"X-Ratelimit-Remaining": "300", "X-Ratelimit-Reset": "120"})  # fmt: skip
    connector.fetch(_state(feed_server))
    _serve(feed_server, SEARCH, b'{"message": "Too Many Requests", "error": 429}', status=429)

    with pytest.raises(RateLimited) as caught:
        connector.fetch(_state(feed_server))

    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_invalid_json_is_a_malformed_response(feed_server, connector, reddit_data) -> None:
    _serve(feed_server, SEARCH, (reddit_data / NEW).read_bytes()[:5000])  # cut short

    with pytest.raises(MalformedResponse, match="invalid JSON") as caught:
        connector.fetch(_state(feed_server))

    assert caught.value.error_class == "malformed_response"


def test_json_that_is_not_a_listing_is_malformed(feed_server, connector, reddit_data) -> None:
    _serve(feed_server, SEARCH, (reddit_data / TOKEN).read_bytes())  # the OAuth token answer

    with pytest.raises(MalformedResponse, match="not a Listing"):
        connector.fetch(_state(feed_server))


def test_bad_children_are_skipped_and_deleted_authors_lose_their_handle(
    feed_server, connector
) -> None:
    _serve(feed_server, SEARCH, (FIXTURES / "listing_partial_built.json").read_bytes())

    page = connector.fetch(_state(feed_server))

    post, comment = page.items
    assert post.body == "https://acme.example/review"
    assert post.like_count == 0  # a score of -3: no likes, not a negative count
    assert comment.external_id == "t1_f00001"
    assert comment.author_handle == "" and comment.author_url == ""
    assert comment.url == "https://www.reddit.com/r/gadgets/comments/9zz002/_/f00001/"
    assert page.warnings == ["Skipped 2 of 4 Reddit posts missing name, kind or created_utc."]


def test_no_search_terms_and_no_subreddit_makes_no_request(feed_server, connector) -> None:
    page = connector.fetch(_state(feed_server, search_terms=()))

    assert page.items == []
    assert "No search terms" in page.warnings[0]
    assert feed_server.requests == []


@pytest.mark.parametrize("given", ["python", "r/python", "/r/python/", " python "])
def test_a_subreddit_name_is_cleaned(given: str) -> None:
    assert RedditConnector().validate_config("", {"subreddit": given}) == {"subreddit": "python"}


def test_the_subreddit_is_optional() -> None:
    assert RedditConnector().validate_config("https://www.reddit.com", {}) == {}


@pytest.mark.parametrize("given", ["a", "has space", "x" * 22, "r/python/new", "dé"])
def test_a_bad_subreddit_name_is_refused_with_the_rule(given: str) -> None:
    with pytest.raises(ConfigError, match="not a subreddit name: 2 to 21 letters"):
        RedditConnector().validate_config("", {"subreddit": given})


# --- through the service ----------------------------------------------------------------


@pytest.mark.django_db
def test_polling_twice_stores_each_post_once_and_asks_only_for_newer(
    feed_server, reddit_data
) -> None:
    from listening.models import Mention, Source
    from listening.services import brand_create, source_poll

    brand = brand_create(name="PRAW", query="praw")
    # The recordings are from 2016: backfill far enough to reach them.
    source = Source.objects.create(
        brand=brand, kind="reddit", url=feed_server.url(""), backfill_days=36500
    )
    _serve(feed_server, SEARCH, (reddit_data / SEARCHED).read_bytes())

    source_poll(source_id=source.pk)
    stored = set(Mention.objects.filter(source=source).values_list("external_id", flat=True))
    source_poll(source_id=source.pk)

    assert "t3_3gpbiu" in stored
    assert Mention.objects.filter(source=source).count() == len(stored)
    # Both polls read the top of the search once; the second stopped at the newest seen.
    assert [p.get("after") for p in _params(feed_server, SEARCH)] == [None, None]
    mention = Mention.objects.get(source=source, external_id="t3_3gpbiu")
    assert (mention.thread_id, mention.reply_count, mention.platform) == ("t3_3gpbiu", 21, "reddit")
    assert mention.author_followers is None


@pytest.mark.django_db
def test_a_first_poll_pages_through_the_backfill(feed_server, reddit_data) -> None:
    from urllib.parse import urlencode

    from listening.models import FetchLog, Source
    from listening.services import brand_create, source_poll

    brand = brand_create(name="Acme", query="acme OR globex")
    source = Source.objects.create(
        brand=brand, kind="reddit", url=feed_server.url(""), backfill_days=36500
    )
    _serve(feed_server, SEARCH, (reddit_data / NEW).read_bytes())
    q = search_query(("acme", "globex"))[0]
    second = urlencode(
        {"q": q, "sort": "new", "limit": "100", "raw_json": "1", "after": "t3_48f6io"}
    )
    _serve(feed_server, f"{SEARCH}?{second}", (reddit_data / EMPTY).read_bytes())

    source_poll(source_id=source.pk)

    assert [p.get("after") for p in _params(feed_server, SEARCH)] == [None, "t3_48f6io"]
    log = FetchLog.objects.get(source=source)
    assert log.items_seen == 100 and log.error_class == ""
    source.refresh_from_db()
    assert json.loads(source.cursor)["posts"]["after"] is None
    assert source.backfill_status == "up to date"
