"""Bluesky: searchPosts polling and the Jetstream firehose, against real local servers.

Recorded real data (a searchPosts answer, 152 + 10 Jetstream v1 events) is served from
shared data where it lies; answers it does not have are built to the documented shapes in
tests/listening/fixtures/bluesky/*built*.json.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import ssl
import subprocess
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from listening.connectors.base import ConfigError, ConnectorError, SourceState, SourceUnavailable
from listening.connectors.bluesky import (
    BlueskyConnector,
    JetstreamConnector,
    build_query,
    link_facets,
    tid_decode,
    tid_encode,
)
from listening.connectors.http import (
    BadResponse,
    BlockedAddress,
    ConnectionFailed,
    InvalidURL,
    RateLimited,
)
from listening.connectors.websocket import safe_websocket_connect
from tests import bluesky_server

FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
PROFILES = "/xrpc/app.bsky.actor.getProfiles"
POST_CREATES_IN_EXPECTED = 17


def built(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def query_of(request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.path).query)


@pytest.fixture
def recorded_search(shared_data: Path) -> bytes:
    responses = shared_data / "api_bluesky/xrpc/responses"
    return (
        responses / "f_search__00_GET_bsky_social_xrpc_app_bsky_feed_searchPosts.json"
    ).read_bytes()


@pytest.fixture
def jetstream_events(shared_data: Path) -> list[str]:
    """The 152 consecutive real Jetstream v1 events, one JSON text per wire message."""
    path = shared_data / "api_bluesky/jetstream/expected_v1.jsonl"
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture
def golden_events(shared_data: Path) -> list[str]:
    path = shared_data / "api_bluesky/jetstream/golden_v1.jsonl"
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture
def appview(feed_server):
    """feed_server answering getProfiles for every author the fixtures use."""
    feed_server.add(PROFILES, built("getProfiles_built.json"), content_type="application/json")
    return feed_server


def state_for(server, **kwargs) -> SourceState:
    kwargs.setdefault("config", {"query": "acme"})
    if not kwargs.get("cursor"):
        # The fixtures are from 2025: a first poll must reach back that far to keep them.
        kwargs.setdefault("backfill_since", datetime(2025, 1, 1, tzinfo=UTC))
    return SourceState(source_id=1, kind="bluesky", url=server.url(""), **kwargs)


# --- a real local Jetstream --------------------------------------------------------------


class LocalJetstream:
    """A real WebSocket server on 127.0.0.1 replaying recorded Jetstream events.

    Like Jetstream it honours ?cursor=<time_us> (replays events with time_us >= cursor, in
    recorded order). It sends every event whatever wantedCollections says, a superset of what
    Jetstream sends, so the client's own filtering is exercised. drop_after=N closes the TCP
    connection abruptly after N events; otherwise the connection stays open, idle, until the
    client leaves.
    """

    def __init__(
        self,
        events: list[str],
        *,
        drop_after: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.events = events
        self.drop_after = drop_after
        self.paths: list[str] = []
        self._stopping = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0, close_timeout=1, ssl=ssl_context)
        self.port: int = self._server.socket.getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        self.url = f"{scheme}://127.0.0.1:{self.port}/subscribe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        self.paths.append(path)
        cursor = int(parse_qs(urlsplit(path).query).get("cursor", ["0"])[0])
        sent = 0
        for line in self.events:
            try:
                decoded = json.loads(line)
                time_us = decoded.get("time_us", 0) if isinstance(decoded, dict) else cursor
            except ValueError:
                time_us = cursor  # malformed lines are replayed in place
            if not isinstance(time_us, int) or time_us < cursor:
                continue
            if self.drop_after is not None and sent >= self.drop_after:
                connection.close_socket()
                return
            connection.send(line)
            sent += 1
        # Idle like a quiet firehose until the client (or the test) ends it.
        while not self._stopping.is_set():
            try:
                connection.recv(timeout=0.1)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def jetstream_server(settings):
    servers: list[LocalJetstream] = []

    def start(events: list[str], **kwargs) -> LocalJetstream:
        server = LocalJetstream(events, **kwargs)
        settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def jet_state(server: LocalJetstream, cursor: str = "") -> SourceState:
    return SourceState(source_id=7, kind="jetstream", url=server.url, cursor=cursor)


def collect(connector: JetstreamConnector, state: SourceState, *, until_items: int):
    """Run stream() until until_items items arrived (or it ends); returns the batches."""
    stop = threading.Event()
    batches = []
    seen = 0
    for batch in connector.stream(state, stop=stop):
        batches.append(batch)
        seen += len(batch.items)
        if seen >= until_items:
            stop.set()
    return batches


# --- searchPosts --------------------------------------------------------------------------


def test_search_posts_are_mapped_from_the_real_recorded_response(appview, recorded_search):
    appview.add(SEARCH, recorded_search, content_type="application/json")
    page = BlueskyConnector().fetch(state_for(appview, config={"query": "redistricting"}))

    assert len(page.items) == 25
    first = page.items[0]
    assert first.external_id == (
        "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    )
    assert first.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert first.body.startswith("Ends Versus Means: Public Opinion on Congressional")
    assert first.title == ""
    assert first.author_handle == "socpaperbot.bsky.social"
    assert first.author_name == "Sociology papers (journals + SocArXiv)"
    assert first.author_url == "https://bsky.app/profile/socpaperbot.bsky.social"
    # createdAt wins over indexedAt; six fractional digits parse.
    assert first.published_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)
    assert first.language == ""  # this post has no langs
    assert first.platform == "bluesky"
    assert (first.in_reply_to, first.thread_id) == ("", first.external_id)
    assert (first.like_count, first.reply_count, first.repost_count) == (0, 0, 0)
    # Followers came from getProfiles (built answer), not from the basic profile.
    assert isinstance(first.author_followers, int)
    assert all(item.author_followers is not None for item in page.items)

    reply = next(i for i in page.items if i.external_id.endswith("/3lpjzka2pzc2l"))
    assert reply.in_reply_to == (
        "at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjzgltpa22l"
    )
    assert reply.thread_id == (
        "at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpjy3eabqs2l"
    )
    assert reply.language == "en"
    assert sum(1 for i in page.items if i.in_reply_to) == 12

    (request,) = appview.requests_for(SEARCH)
    query = query_of(request)
    # The recorded request was ?q=redistricting: a plain term, no extra syntax.
    assert query["q"] == ["redistricting"]
    assert query["sort"] == ["latest"]
    assert query["limit"] == ["100"]
    assert request.header("Authorization") is None
    assert page.warnings == []


def test_the_default_query_ors_the_search_terms_and_quotes_phrases(appview):
    appview.add(SEARCH, b'{"posts": []}', content_type="application/json")
    state = state_for(appview, config={}, search_terms=("acme", "road runner", "acme"))
    BlueskyConnector().fetch(state)
    (request,) = appview.requests_for(SEARCH)
    assert query_of(request)["q"] == ['acme OR "road runner"']
    assert build_query(["or", 'say "hi"']) == '"or" OR "say  hi"'


def test_the_access_token_is_sent_as_a_bearer_token(appview):
    appview.add(SEARCH, built("searchPosts_built_forward.json"), content_type="application/json")
    BlueskyConnector().fetch(state_for(appview, config={"query": "acme", "access_token": "tok"}))
    assert appview.requests_for(SEARCH)[0].header("Authorization") == "Bearer tok"
    assert appview.requests_for(PROFILES)[0].header("Authorization") == "Bearer tok"


def test_no_query_and_no_search_terms_is_a_config_error(appview):
    with pytest.raises(ConfigError, match="Nothing to search for"):
        BlueskyConnector().fetch(state_for(appview, config={}))
    assert appview.requests == []


def test_backfill_follows_the_api_cursor_and_stops_at_backfill_since(appview):
    connector = BlueskyConnector()
    since = datetime(2025, 5, 1, tzinfo=UTC)
    appview.add(
        SEARCH, built("searchPosts_built_backfill_page1.json"), content_type="application/json"
    )
    page1 = connector.fetch(state_for(appview, backfill_since=since))
    assert [i.body for i in page1.items] == ["Acme rockets are great", "acme again"]
    assert page1.has_more
    assert page1.progress == "history back to 2025-05-15 (1 pages)"
    first_query = query_of(appview.requests_for(SEARCH)[0])
    assert first_query["since"] == ["2025-05-01T00:00:00.000000Z"]
    assert "cursor" not in first_query

    appview.add(
        SEARCH, built("searchPosts_built_backfill_page2.json"), content_type="application/json"
    )
    page2 = connector.fetch(state_for(appview, cursor=page1.cursor))
    second_query = query_of(appview.requests_for(SEARCH)[1])
    assert second_query["cursor"] == ["2"]
    assert second_query["since"] == ["2025-05-01T00:00:00.000000Z"]
    # The April post is older than backfill_since: dropped, and the walk ends there.
    assert [i.body for i in page2.items] == ["acme in May"]
    assert not page2.has_more
    assert page2.progress == "history back to 2025-05-01 complete (2 pages)"
    # Between runs the cursor keeps only the newest post seen (page 1's first).
    assert json.loads(page2.cursor) == {"newest": "2025-05-19T12:00:00.000000Z"}
    assert len(appview.requests_for(SEARCH)) == 2  # page 3 never asked for


def test_forward_polling_asks_for_posts_since_the_newest_seen(appview):
    appview.add(SEARCH, built("searchPosts_built_forward.json"), content_type="application/json")
    cursor = json.dumps({"newest": "2025-05-19T12:00:00.000000Z"})
    page = BlueskyConnector().fetch(state_for(appview, cursor=cursor))

    (request,) = appview.requests_for(SEARCH)
    # Two minutes of overlap for posts indexed a little late; repeats are dropped by id.
    assert request.path == (
        f"{SEARCH}?q=acme&sort=latest&limit=100&since=2025-05-19T11%3A58%3A00.000000Z"
    )
    assert [i.body for i in page.items] == ["acme news today"]
    assert not page.has_more
    assert json.loads(page.cursor) == {"newest": "2025-05-20T08:00:00.000000Z"}
    assert page.progress == ""


def test_an_empty_forward_poll_keeps_the_newest_seen(appview):
    appview.add(SEARCH, b'{"posts": []}', content_type="application/json")
    cursor = json.dumps({"newest": "2025-05-19T12:00:00.000000Z"})
    page = BlueskyConnector().fetch(state_for(appview, cursor=cursor))
    assert page.items == [] and not page.has_more
    assert json.loads(page.cursor) == {"newest": "2025-05-19T12:00:00.000000Z"}


def test_get_profiles_is_asked_25_actors_at_a_time_and_cached(appview):
    appview.add(SEARCH, built("searchPosts_built_30_authors.json"), content_type="application/json")
    connector = BlueskyConnector()
    page = connector.fetch(state_for(appview))
    requests = appview.requests_for(PROFILES)
    sizes = [len(query_of(r)["actors"]) for r in requests]
    assert sizes == [25, 5]
    asked = [a for r in requests for a in query_of(r)["actors"]]
    assert sorted(asked) == sorted({i.external_id.split("/")[2] for i in page.items})
    profiles = json.loads(built("getProfiles_built.json"))["profiles"]
    followers = {p["did"]: p["followersCount"] for p in profiles}
    for item in page.items:
        assert item.author_followers == followers[item.external_id.split("/")[2]]

    # Within the hour the counts come from the cache: no more getProfiles requests.
    again = connector.fetch(state_for(appview))
    assert len(appview.requests_for(PROFILES)) == 2
    assert [i.author_followers for i in again.items] == [i.author_followers for i in page.items]


def test_a_failed_profile_lookup_leaves_followers_unknown_with_a_warning(feed_server, caplog):
    feed_server.add(
        SEARCH, built("searchPosts_built_forward.json"), content_type="application/json"
    )
    feed_server.add(PROFILES, b"oops", status=502, content_type="text/plain")
    with caplog.at_level(logging.WARNING, logger="listening.connectors.bluesky"):
        page = BlueskyConnector().fetch(state_for(feed_server))
    assert [i.author_followers for i in page.items] == [None]
    assert page.warnings == [
        "Followers counts unavailable for some authors: 1 getProfiles request(s) failed."
    ]
    assert "getProfiles failed" in caplog.text


def test_malformed_posts_are_skipped_and_odd_fields_tolerated(appview):
    appview.add(SEARCH, built("searchPosts_built_partial.json"), content_type="application/json")
    page = BlueskyConnector().fetch(state_for(appview))
    assert [i.body for i in page.items] == ["acme ok", "acme with odd fields"]
    assert page.warnings == ["Skipped 3 malformed post(s) in the searchPosts answer."]
    odd = page.items[1]
    # handle.invalid (unverified handle): links use the DID, which bsky.app resolves.
    assert odd.url == "https://bsky.app/profile/did:plc:builtaaaaaaaaaaaaaaaaaa4/post/3built000010"
    assert odd.author_name == ""
    assert odd.published_at == datetime(2025, 5, 19, 9, 0, tzinfo=UTC)  # indexedAt fallback
    assert odd.language == ""
    assert odd.like_count is None  # "lots" is not a count
    # A cursor that is not a string is ignored: no further page.
    assert not page.has_more


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"error": "InvalidRequest"}', "without a 'posts' list"),
        (b'{"posts": {"uri": "x"}}', "without a 'posts' list"),
        (b'{"posts": [', "not JSON"),
    ],
)
def test_a_body_that_is_not_a_search_answer_is_a_bad_response(appview, body, message):
    appview.add(SEARCH, body, content_type="application/json")
    with pytest.raises(BadResponse, match=message) as caught:
        BlueskyConnector().fetch(state_for(appview))
    assert caught.value.http_status == 200


def test_http_429_raises_rate_limited_with_retry_after(appview):
    appview.add(
        SEARCH,
        b'{"error": "RateLimitExceeded"}',
        status=429,
        content_type="application/json",
        headers={"Retry-After": "30"},
    )
    with pytest.raises(RateLimited) as caught:
        BlueskyConnector().fetch(state_for(appview))
    assert caught.value.retry_after == 30
    assert caught.value.is_transient


def test_the_appview_url_must_be_http_and_the_jetstream_url_ws():
    with pytest.raises(ConfigError):
        BlueskyConnector().validate_config("wss://example.com", {})
    with pytest.raises(ConfigError, match="ws:// and wss://"):
        JetstreamConnector().validate_config("https://example.com/subscribe", {})
    assert JetstreamConnector().validate_config("wss://example.com/subscribe", {}) == {}


# --- Jetstream ------------------------------------------------------------------------------


def test_only_post_creates_become_items(jetstream_server, jetstream_events):
    server = jetstream_server(jetstream_events)
    batches = collect(JetstreamConnector(), jet_state(server), until_items=17)
    items = [i for b in batches for i in b.items]

    assert len(items) == POST_CREATES_IN_EXPECTED
    assert all(i.external_id.startswith("at://did:") for i in items)
    assert all("/app.bsky.feed.post/" in i.external_id for i in items)
    creates = [
        e
        for e in map(json.loads, jetstream_events)
        if e["kind"] == "commit"
        and e["commit"]["operation"] == "create"
        and e["commit"]["collection"] == "app.bsky.feed.post"
    ]
    assert [i.external_id for i in items] == [
        f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}" for e in creates
    ]
    assert sum(1 for i in items if i.body) == 16  # one post is an image without text
    (request_path,) = server.paths
    assert parse_qs(urlsplit(request_path).query) == {"wantedCollections": ["app.bsky.feed.post"]}


def test_a_jetstream_post_is_mapped_with_its_reply_refs(jetstream_server, golden_events):
    server = jetstream_server(golden_events)
    (item,) = [
        i for b in collect(JetstreamConnector(), jet_state(server), until_items=1) for i in b.items
    ]
    assert item.external_id == (
        "at://did:plc:q235v55g5unth4zjjdpacfdr/app.bsky.feed.post/3mmoojp4cd223"
    )
    assert item.url == (
        "https://bsky.app/profile/did:plc:q235v55g5unth4zjjdpacfdr/post/3mmoojp4cd223"
    )
    assert item.body == "Try RSV for a good time !!"
    assert item.author_handle == "did:plc:q235v55g5unth4zjjdpacfdr"  # no handle on Jetstream
    assert item.author_followers is None
    assert item.published_at == datetime(2026, 5, 25, 14, 23, 28, 757000, tzinfo=UTC)
    assert item.language == "en"
    parent = "at://did:plc:j76trmiofvaxxpvx2vnb2vwf/app.bsky.feed.post/3mmojbrjwbs26"
    assert (item.in_reply_to, item.thread_id) == (parent, parent)


def test_batches_hold_at_most_n_items_and_carry_the_newest_time_us(
    jetstream_server, jetstream_events
):
    server = jetstream_server(jetstream_events)
    # A long timer, so that only the size sends batches; 15 items = three full batches.
    connector = JetstreamConnector(batch_size=5, batch_seconds=5.0)
    batches = collect(connector, jet_state(server), until_items=15)
    assert [len(b.items) for b in batches if b.items][:3] == [5, 5, 5]
    assert all(len(b.items) <= 5 for b in batches)
    times = [json.loads(line)["time_us"] for line in jetstream_events]
    cursors = [int(b.cursor) for b in batches]
    assert cursors == sorted(cursors)
    assert cursors[-1] <= max(times)
    assert all(c in times for c in cursors)


def test_a_quiet_stream_still_yields_within_the_batch_interval(jetstream_server, golden_events):
    server = jetstream_server(golden_events)
    connector = JetstreamConnector(batch_size=1000, batch_seconds=0.2)
    stop = threading.Event()
    started = time.monotonic()
    for batch in connector.stream(jet_state(server), stop=stop):
        # 10 events, one post: the timer, not the size, sends it.
        assert len(batch.items) == 1
        assert batch.cursor == str(max(json.loads(e)["time_us"] for e in golden_events))
        stop.set()
    assert time.monotonic() - started < 2


def test_a_dropped_connection_raises_source_unavailable_after_yielding_what_it_got(
    jetstream_server, jetstream_events
):
    server = jetstream_server(jetstream_events, drop_after=60)
    connector = JetstreamConnector(batch_size=1000, batch_seconds=30)
    batches = []
    with pytest.raises(SourceUnavailable, match="closed"):
        for batch in connector.stream(jet_state(server), stop=threading.Event()):
            batches.append(batch)
    expected = [
        json.loads(line)
        for line in jetstream_events[:60]
        if '"collection":"app.bsky.feed.post"' in line and '"operation":"create"' in line
    ]
    assert len(expected) > 0
    assert [i.external_id for b in batches for i in b.items] == [
        f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}" for e in expected
    ]
    first_60 = [json.loads(line)["time_us"] for line in jetstream_events[:60]]
    assert batches[-1].cursor == str(max(first_60))


def test_resuming_with_a_cursor_replays_from_that_time_rewound_a_few_seconds(
    jetstream_server, jetstream_events
):
    server = jetstream_server(jetstream_events)
    times = [json.loads(line)["time_us"] for line in jetstream_events]
    middle = sorted(times)[len(times) // 2]

    exact = JetstreamConnector(cursor_rewind_seconds=0)
    expected = sum(
        1
        for line, t in zip(jetstream_events, times, strict=True)
        if t >= middle
        and '"collection":"app.bsky.feed.post"' in line
        and '"operation":"create"' in line
    )
    batches = collect(exact, jet_state(server, cursor=str(middle)), until_items=expected)
    assert sum(len(b.items) for b in batches) == expected < POST_CREATES_IN_EXPECTED
    assert parse_qs(urlsplit(server.paths[-1]).query)["cursor"] == [str(middle)]

    # The default rewinds 5 s (Jetstream's advice for gapless playback): the whole
    # 0.3 s capture is replayed, and storage drops the repeats.
    rewinding = JetstreamConnector()
    assert rewinding.subscribe_url(jet_state(server, cursor=str(middle))).endswith(
        f"?wantedCollections=app.bsky.feed.post&cursor={middle - 5_000_000}"
    )


def test_malformed_events_are_skipped_and_counted(jetstream_server, golden_events, caplog):
    junk = [
        "not json",
        "[1, 2]",
        '{"kind": "commit"}',
        '{"did": "did:plc:x", "time_us": 5, "kind": "commit", "commit": {"operation": "create",'
        ' "collection": "app.bsky.feed.post", "rkey": "abc"}}',
    ]
    server = jetstream_server(junk + golden_events)
    with caplog.at_level(logging.WARNING, logger="listening.connectors.bluesky"):
        batches = collect(JetstreamConnector(), jet_state(server), until_items=1)
    assert [i.body for b in batches for i in b.items] == ["Try RSV for a good time !!"]
    assert "skipped 4 malformed event(s)" in caplog.text


def test_the_stop_event_ends_the_stream_within_a_second(jetstream_server, golden_events):
    server = jetstream_server(golden_events)
    stop = threading.Event()
    batches = []

    def consume() -> None:
        for batch in JetstreamConnector().stream(jet_state(server), stop=stop):
            batches.append(batch)

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 5
    while not batches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert batches  # connected and received before we ask it to stop
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.5


def test_a_refused_connection_is_source_unavailable(settings):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{port}"]
    state = SourceState(source_id=1, kind="jetstream", url=f"ws://127.0.0.1:{port}/subscribe")
    with pytest.raises(SourceUnavailable):
        next(JetstreamConnector().stream(state, stop=threading.Event()))


# --- the WebSocket helper ---------------------------------------------------------------------


def test_a_ws_url_to_a_private_address_is_refused_before_connecting(
    jetstream_server, golden_events, settings
):
    server = jetstream_server(golden_events)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    with pytest.raises(BlockedAddress) as caught:
        safe_websocket_connect(server.url, timeout=2)
    assert caught.value.address == "127.0.0.1"
    state = jet_state(server)
    with pytest.raises(BlockedAddress):
        next(JetstreamConnector().stream(state, stop=threading.Event()))
    time.sleep(0.1)
    assert server.paths == []  # no handshake ever reached the server


@pytest.mark.parametrize(
    "url",
    ["http://example.com/subscribe", "ftp://x/", "ws://user@example.com/", "wss://", "nonsense"],
)
def test_only_plain_ws_and_wss_urls_are_accepted(url):
    with pytest.raises(InvalidURL):
        safe_websocket_connect(url, timeout=1)


def test_the_helper_caps_message_size(jetstream_server, settings):
    big = json.dumps({"did": "did:plc:x", "time_us": 1, "kind": "commit", "pad": "x" * 5000})
    server = jetstream_server([big])
    connection = safe_websocket_connect(server.url, timeout=2, max_message_bytes=1000)
    try:
        with pytest.raises(ConnectionClosed):
            connection.recv(timeout=2)
    finally:
        connection.close()


# --- through the services ---------------------------------------------------------------------


@pytest.mark.django_db
def test_polling_a_bluesky_source_stores_the_recorded_posts_once(
    appview, recorded_search, settings
):
    from listening.models import Mention, Source
    from listening.services import brand_create, source_poll

    brand = brand_create(name="Maps", query="redistricting")
    # The recording is from May 2025: reach back far enough for the first poll to keep it.
    source = Source.objects.create(
        brand=brand, kind="bluesky", url=appview.url(""), config={}, backfill_days=3650
    )
    appview.add(SEARCH, recorded_search, content_type="application/json")

    # One page per poll: the recorded answer always says cursor "25", so the continuation
    # gets its own (empty) route once the first request shows its exact query.
    settings.EARSHOT_MAX_PAGES_PER_POLL = 1
    result = source_poll(source_id=source.pk)
    assert result.fetch_log.error_class == ""
    first = appview.requests_for(SEARCH)[0].path
    appview.add(first + "&cursor=25", b'{"posts": []}', content_type="application/json")
    source_poll(source_id=source.pk)
    assert appview.requests_for(SEARCH)[1].path == first + "&cursor=25"
    mentions = Mention.objects.filter(source=source)
    assert mentions.count() >= 20  # a few recorded posts do not say "redistricting"
    mention = mentions.get(
        external_id="at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    )
    assert mention.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert mention.author.handle == "socpaperbot.bsky.social"
    assert mention.author.followers is not None
    # The search asked for the brand's own term, and the cursor now holds the newest post.
    assert query_of(appview.requests_for(SEARCH)[0])["q"] == ["redistricting"]
    source.refresh_from_db()
    assert json.loads(source.cursor) == {"newest": "2025-05-19T17:10:09.813000Z"}

    stored = mentions.count()
    source_poll(source_id=source.pk)
    assert Mention.objects.filter(source=source).count() == stored


@pytest.mark.django_db
def test_a_backfill_longer_than_one_poll_resumes_at_the_next_poll(appview, settings):
    from django.utils import timezone

    from listening.models import Mention, Source
    from listening.services import brand_create, source_poll

    # One page per poll, so the second page must come from the cursor the service saved.
    settings.EARSHOT_MAX_PAGES_PER_POLL = 1
    brand = brand_create(name="Acme", query="acme")
    # History back to about 2025-05-01: between page 2's May and April posts.
    days = (timezone.now() - datetime(2025, 5, 1, tzinfo=UTC)).days
    source = Source.objects.create(
        brand=brand, kind="bluesky", url=appview.url(""), config={}, backfill_days=days
    )
    appview.add(
        SEARCH, built("searchPosts_built_backfill_page3.json"), content_type="application/json"
    )
    first_path = f"{SEARCH}?q=acme&sort=latest&limit=100"
    # The first request's since is only known once sent: serve page 1 for the plain path
    # by answering the poll, then route the exact continuation to page 2.
    appview.add(
        SEARCH, built("searchPosts_built_backfill_page1.json"), content_type="application/json"
    )
    source_poll(source_id=source.pk)
    (first,) = appview.requests_for(SEARCH)
    assert first.path.startswith(first_path + "&since=2025-0")
    source.refresh_from_db()
    assert source.backfill_status == "history back to 2025-05-15 (1 pages)"
    assert json.loads(source.cursor)["page"] == "2"
    assert Mention.objects.filter(source=source).count() == 2

    appview.add(
        first.path + "&cursor=2",
        built("searchPosts_built_backfill_page2.json"),
        content_type="application/json",
    )
    appview.add(
        SEARCH, built("searchPosts_built_backfill_page3.json"), content_type="application/json"
    )
    source_poll(source_id=source.pk)
    assert [r.path for r in appview.requests_for(SEARCH)][1] == first.path + "&cursor=2"
    assert len(appview.requests_for(SEARCH)) == 2  # page 3 (older) never asked for
    source.refresh_from_db()
    assert source.backfill_status.startswith("history back to 2025-0")
    assert source.backfill_status.endswith("complete (2 pages)")
    assert json.loads(source.cursor) == {"newest": "2025-05-19T12:00:00.000000Z"}
    bodies = set(Mention.objects.filter(source=source).values_list("text", flat=True))
    assert bodies == {"Acme rockets are great", "acme again", "acme in May"}


@pytest.mark.django_db
def test_storing_the_stream_twice_through_the_service_stores_each_post_once(
    jetstream_server, jetstream_events
):
    from listening.models import Mention, Source
    from listening.services import brand_create, stream_consume

    server = jetstream_server(jetstream_events)
    # Common words, so that most recorded posts match (which ones is not the point here).
    brand = brand_create(name="Everyone", query="the OR a OR i OR to OR and OR de OR e")
    source = Source.objects.create(brand=brand, kind="jetstream", url=server.url, config={})

    def consume_once() -> None:
        stop = threading.Event()
        # Stop once the replay (0.3 s of recorded traffic) has certainly arrived and stored.
        timer = threading.Timer(1.5, stop.set)
        timer.start()
        try:
            stream_consume(source_id=source.pk, stop=stop, max_latency=0.2, max_connections=1)
        finally:
            timer.cancel()

    consume_once()
    source.refresh_from_db()
    times = [json.loads(line)["time_us"] for line in jetstream_events]
    assert source.cursor == str(max(times))
    first = set(Mention.objects.filter(source=source).values_list("external_id", flat=True))
    assert first
    assert all("/app.bsky.feed.post/" in e for e in first)

    # Reconnect with the stored cursor: rewound 5 s, the whole capture is replayed again.
    consume_once()
    assert parse_qs(urlsplit(server.paths[-1]).query)["cursor"] == [str(max(times) - 5_000_000)]
    again = list(Mention.objects.filter(source=source).values_list("external_id", flat=True))
    assert sorted(again) == sorted(first)
    assert Mention.objects.filter(source=source, platform="bluesky").count() == len(first)


def test_a_server_repeating_its_cursor_does_not_keep_the_source_paging(appview, recorded_search):
    # The recorded answer always says cursor "25", as a misbehaving server would.
    appview.add(SEARCH, recorded_search, content_type="application/json")
    connector = BlueskyConnector()
    first = connector.fetch(state_for(appview))
    assert first.has_more
    second = connector.fetch(state_for(appview, cursor=first.cursor))
    assert not second.has_more
    assert second.warnings == [
        "Stopped paging searchPosts after 2 page(s) (cursor '25'); older posts of this run "
        "are not fetched."
    ]
    assert json.loads(second.cursor) == {"newest": "2025-05-19T17:10:09.813000Z"}


def test_wss_verifies_the_server_certificate(jetstream_server, golden_events, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = jetstream_server(golden_events, ssl_context=context)
    # Self-signed, so not trusted: the handshake must fail, never fall back to plain text.
    with pytest.raises(ConnectionFailed, match="certificate verif"):
        safe_websocket_connect(server.url, timeout=5)
    assert server.paths == []


# --- replying through the account's PDS -----------------------------------------------------

TOP_LEVEL = "at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5lr2s"
# A recorded reply whose parent and root are different posts of other authors.
NESTED = "at://did:plc:757udrcdjlyuksadpjyoagc6/app.bsky.feed.post/3lpjbedrqxs27"
WRITTEN_AT = datetime(2025, 5, 20, 9, 30, 15, 123456, tzinfo=UTC)


def reply_state(server, **config) -> SourceState:
    config = {
        "identifier": bluesky_server.IDENTIFIER,
        "app_password": bluesky_server.APP_PASSWORD,
        "pds_url": server.base_url,
        **config,
    }
    return SourceState(source_id=1, kind="bluesky", url="", config=config)


def send(server, in_reply_to=TOP_LEVEL, text="Sorry about that, we're on it.", **kwargs):
    kwargs.setdefault("key", "earshot-reply-7")
    kwargs.setdefault("created_at", WRITTEN_AT)
    return BlueskyConnector().reply(reply_state(server), in_reply_to, text, **kwargs)


def test_a_reply_to_a_top_level_post_uses_it_as_root_and_parent(pds, recorded_posts):
    result = send(pds)

    (session,) = pds.calls("com.atproto.server.createSession")
    assert session["body"] == {
        "identifier": bluesky_server.IDENTIFIER,
        "password": bluesky_server.APP_PASSWORD,
    }
    (create,) = pds.calls("com.atproto.repo.createRecord")
    body = create["body"]
    parent = {"uri": TOP_LEVEL, "cid": recorded_posts[TOP_LEVEL]["cid"]}
    assert body["repo"] == bluesky_server.DID
    assert body["collection"] == "app.bsky.feed.post"
    assert body["record"] == {
        "$type": "app.bsky.feed.post",
        "text": "Sorry about that, we're on it.",
        "createdAt": "2025-05-20T09:30:15.123456Z",
        "reply": {"root": parent, "parent": parent},
    }
    rkey = body["rkey"]
    assert result.external_id == f"at://{bluesky_server.DID}/app.bsky.feed.post/{rkey}"
    assert result.url == f"https://bsky.app/profile/acme.bsky.social/post/{rkey}"
    (stored,) = pds.records()
    assert stored["uri"] == result.external_id


def test_a_reply_to_a_reply_keeps_the_recorded_thread_root(pds, recorded_posts):
    send(pds, in_reply_to=NESTED)

    (create,) = pds.calls("com.atproto.repo.createRecord")
    recorded_root = recorded_posts[NESTED]["record"]["reply"]["root"]
    assert create["body"]["record"]["reply"] == {
        "root": {"uri": recorded_root["uri"], "cid": recorded_root["cid"]},
        "parent": {"uri": NESTED, "cid": recorded_posts[NESTED]["cid"]},
    }
    assert recorded_root["uri"] != NESTED
    (posts,) = pds.calls("app.bsky.feed.getPosts")
    assert posts["query"] == {"uris": [NESTED]}


def test_the_record_key_is_a_tid_of_when_the_agent_wrote_the_reply(pds):
    result = send(pds, key="earshot-reply-42")

    rkey = result.external_id.rsplit("/", 1)[1]
    assert re.fullmatch(r"[234567a-j][234567a-z]{12}", rkey)
    micros, clock_id = tid_decode(rkey)
    assert datetime.fromtimestamp(micros // 1_000_000, tz=UTC) == WRITTEN_AT.replace(microsecond=0)
    assert micros % 1_000_000 == WRITTEN_AT.microsecond
    assert clock_id == zlib.crc32(b"earshot-reply-42") & 0x3FF
    assert tid_encode(0, 0) == "2222222222222"
    # The example from the atproto TID spec decodes and encodes back unchanged.
    assert tid_encode(*tid_decode("3jzfcijpj2z2a")) == "3jzfcijpj2z2a"


def test_sending_the_same_reply_twice_posts_it_once(pds):
    first = send(pds)
    again = send(pds)

    assert again == first
    assert len(pds.calls("com.atproto.repo.createRecord")) == 1
    assert len(pds.records()) == 1
    # The second attempt found the first one's record and asked nothing else.
    assert len(pds.calls("com.atproto.repo.getRecord")) == 2
    assert len(pds.calls("app.bsky.feed.getPosts")) == 1


def test_an_account_signs_in_once_for_many_replies(pds):
    # Sign-ins are rate-limited per account: the session is kept while its token is valid.
    for n in range(3):
        send(pds, key=f"earshot-reply-{n}")

    assert len(pds.calls("com.atproto.server.createSession")) == 1
    assert len(pds.records()) == 3


def test_a_session_about_to_expire_is_not_reused(pds):
    pds.token_seconds = 30  # inside the margin kept before a token's exp

    send(pds, key="earshot-reply-1")
    send(pds, key="earshot-reply-2")

    assert len(pds.calls("com.atproto.server.createSession")) == 2


def test_a_kept_session_the_pds_refuses_signs_in_again_once(pds):
    send(pds, key="earshot-reply-1")
    pds.revoke_sessions()

    result = send(pds, key="earshot-reply-2")

    assert result.external_id.startswith("at://")
    assert len(pds.calls("com.atproto.server.createSession")) == 2
    assert len(pds.records()) == 2


def test_different_replies_get_different_record_keys(pds):
    one = send(pds, key="earshot-reply-1")
    two = send(pds, key="earshot-reply-2")
    assert one.external_id != two.external_id
    assert len(pds.records()) == 2


def test_a_reply_without_a_key_is_posted_with_a_fresh_tid(pds):
    result = BlueskyConnector().reply(reply_state(pds), TOP_LEVEL, "Thanks!")
    rkey = result.external_id.rsplit("/", 1)[1]
    micros, _ = tid_decode(rkey)
    assert abs(micros / 1_000_000 - time.time()) < 60
    assert pds.calls("com.atproto.repo.getRecord") == []


def test_a_wrong_app_password_is_refused_for_good_naming_the_identifier(pds):
    state = reply_state(pds, app_password="wrong-wrong-wrong-wrong")
    with pytest.raises(ConnectorError, match="refused the sign-in for acme.bsky.social") as caught:
        BlueskyConnector().reply(state, TOP_LEVEL, "Hello", key="k", created_at=WRITTEN_AT)
    assert not caught.value.is_transient
    assert caught.value.http_status == 401
    assert pds.records() == []


def test_an_account_password_asking_for_a_code_says_to_use_an_app_password(pds):
    state = reply_state(pds, app_password=bluesky_server.ACCOUNT_PASSWORD)
    with pytest.raises(ConnectorError, match="asks acme.bsky.social for a sign-in code") as caught:
        BlueskyConnector().reply(state, TOP_LEVEL, "Hello", key="k", created_at=WRITTEN_AT)
    assert not caught.value.is_transient
    assert "app password" in str(caught.value)


def test_a_get_record_refusal_other_than_not_found_is_not_taken_for_absence(pds):
    # A 400 with another error name (a token the PDS no longer takes, say) must not make the
    # reply look unposted: it fails instead of going on to create the record.
    pds.answer["com.atproto.repo.getRecord"] = (
        400,
        {"error": "ExpiredToken", "message": "Token has expired"},
    )
    with pytest.raises(ConnectorError, match="The server said: Token has expired") as caught:
        send(pds)
    assert caught.value.error_name == "ExpiredToken"
    assert pds.calls("com.atproto.repo.createRecord") == []


def test_a_503_from_create_record_is_transient(pds):
    pds.fail["com.atproto.repo.createRecord"] = 503
    with pytest.raises(ConnectorError) as caught:
        send(pds)
    assert caught.value.is_transient
    assert pds.records() == []

    # The retry (same key) posts it.
    del pds.fail["com.atproto.repo.createRecord"]
    result = send(pds)
    assert [r["uri"] for r in pds.records()] == [result.external_id]


def test_a_reply_to_a_post_that_is_gone_fails_for_good(pds):
    gone = "at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5zzzz"
    with pytest.raises(ConnectorError, match="the post is gone") as caught:
        send(pds, in_reply_to=gone)
    assert not caught.value.is_transient
    assert pds.calls("com.atproto.repo.createRecord") == []


@pytest.mark.parametrize(
    ("config", "in_reply_to", "text", "message"),
    [
        ({"app_password": ""}, TOP_LEVEL, "Hi", "no Bluesky account to reply with"),
        ({"identifier": ""}, TOP_LEVEL, "Hi", "add the account's handle and an app password"),
        ({}, TOP_LEVEL, "x" * 301, "at most 300 characters; this one has 301"),
        ({}, TOP_LEVEL, "   ", "needs some text"),
        ({}, "3k7qmjev5lr2s", "Hi", "not the at:// URI of a Bluesky post"),
        ({}, "at://did:plc:x/app.bsky.feed.like/3k7qmjev5lr2s", "Hi", "not the at:// URI"),
    ],
)
def test_unusable_replies_are_refused_before_any_request(pds, config, in_reply_to, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        BlueskyConnector().reply(
            reply_state(pds, **config), in_reply_to, text, key="k", created_at=WRITTEN_AT
        )
    assert pds.requests == []


def test_a_reply_of_exactly_300_characters_is_posted(pds):
    send(pds, text="é" * 300)
    (create,) = pds.calls("com.atproto.repo.createRecord")
    assert create["body"]["record"]["text"] == "é" * 300


def test_links_get_facets_with_utf8_byte_offsets(pds):
    text = "Désolé 🙏 see https://acme.example/help?q=café. Or http://acme.example"
    send(pds, text=text)

    (create,) = pds.calls("com.atproto.repo.createRecord")
    facets = create["body"]["record"]["facets"]
    encoded = text.encode("utf-8")
    assert [encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]] for f in facets] == [
        "https://acme.example/help?q=café".encode(),
        b"http://acme.example",
    ]
    assert facets[0] == {
        "index": {"byteStart": 18, "byteEnd": 51},
        "features": [
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://acme.example/help?q=café"}
        ],
    }
    assert link_facets("no links here") == []


def test_reply_config_is_checked(pds):
    connector = BlueskyConnector()
    url = "https://public.api.bsky.app"
    with pytest.raises(ConfigError, match=r"identifier \(acme.bsky.social\) needs an app_pass"):
        connector.validate_config(url, {"identifier": "acme.bsky.social"})
    with pytest.raises(ConfigError, match="app_password needs the identifier"):
        connector.validate_config(url, {"app_password": "abcd-efgh-ijkl-mnop"})
    for bad in ("ftp://pds.example", "pds.example", "https://"):
        with pytest.raises(ConfigError, match="pds_url must be an http"):
            connector.validate_config(url, {"pds_url": bad})
    # The default PDS is not stored; another one is, without a trailing slash.
    credentials = {"identifier": "@acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}
    assert connector.validate_config(url, credentials) == {
        "identifier": "acme.bsky.social",
        "app_password": "abcd-efgh-ijkl-mnop",
    }
    assert (
        connector.validate_config(url, {**credentials, "pds_url": "https://pds.acme.example/"})[
            "pds_url"
        ]
        == "https://pds.acme.example"
    )
    # Sources that only listen are unchanged.
    assert connector.validate_config(url, {"query": "acme", "access_token": "t"}) == {
        "query": "acme",
        "access_token": "t",
    }
    assert connector.reply_credentials_missing(credentials) == ""
    assert connector.supports_reply
    assert connector.reply_max_chars == 300
