"""The Mastodon connectors against real recorded responses served by real local servers.

Bodies come from /work/shared/data/api_mastodon/responses (verbatim cassette bodies) and
headers (Link) from the VCR cassettes beside them. Live streams are served by a small threaded
SSE server below that replays the recorded event stream, then holds or drops the connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from listening.connectors.base import ConfigError, SourceState, SourceUnavailable
from listening.connectors.http import (
    BadResponse,
    BlockedAddress,
    FetchTimeout,
    RateLimited,
    safe_stream,
)
from listening.connectors.mastodon import (
    MastodonConnector,
    MastodonStreamConnector,
    parse_link_header,
    sse_events,
    status_to_item,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
SEARCH = "test_entity_searchv2__02_GET_mastodon_social_api_v2_search.json"
STATUS_CW = "test_entity_status__00_GET_mastodon_social_api_v1_statuses_110446223051565765.json"
STATUS_LOCAL = "test_entity_status__01_GET_mastodon_social_api_v1_statuses_110446183735368325.json"
CONTEXT = (
    "test_entity_context__00_GET_mastodon_social_api_v1_statuses_110446983926957470_context.json"
)
PUBLIC_TL = "test_public_tl__02_GET_localhost_3000_api_v1_timelines_public.json"
HOOT_TL = "test_hashtag_tl__02_GET_localhost_3000_api_v1_timelines_tag_hoot.json"
POSTED = "test_hashtag_tl__00_POST_localhost_3000_api_v1_statuses.json"
USER_STREAM = "test_stream_user_direct__12_GET_localhost_4000_api_v1_streaming_user.sse"
TAG_PATH = "/api/v1/timelines/tag/hoot"
JSON = "application/json; charset=utf-8"


@pytest.fixture
def mastodon(shared_data: Path) -> Path:
    return shared_data / "api_mastodon"


def body(mastodon: Path, name: str) -> bytes:
    return (mastodon / "responses" / name).read_bytes()


def recorded_link(mastodon: Path, cassette: str, interaction: int) -> str:
    """The Link header the server really sent (kept only in the VCR cassette)."""
    data = yaml.safe_load((mastodon / "cassettes" / cassette).read_text())
    headers = data["interactions"][interaction]["response"]["headers"]
    return " ".join(headers["link"])


# Older than every recorded status, so a first fetch keeps them all.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def state(url: str, cursor: str = "", **kwargs) -> SourceState:
    config = kwargs.pop("config", {"hashtag": "hoot"})
    kwargs.setdefault("backfill_since", None if cursor else LONG_AGO)
    return SourceState(
        source_id=1, kind="mastodon", url=url, config=config, cursor=cursor, **kwargs
    )


def query_of(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


# --- mapping ----------------------------------------------------------------------------------


def test_a_real_search_result_maps_to_the_common_mention_shape(mastodon, feed_server):
    feed_server.add("/api/v2/search", body(mastodon, SEARCH), content_type=JSON)
    page = MastodonConnector().fetch(
        state(feed_server.url(""), config={"query": "halcy", "access_token": "tok"})
    )

    greg = next(i for i in page.items if i.external_id == "116388149027005349")
    assert greg.url == "https://icosahedron.website/@greg/116388148912635764"
    assert greg.body.startswith('<p><span class="h-card"')
    assert greg.title == ""
    assert greg.author_handle == "greg@icosahedron.website"
    assert greg.author_name == "Greg"
    assert greg.author_url == "https://icosahedron.website/@greg"
    assert greg.author_followers == 455
    assert greg.published_at == datetime(2026, 4, 11, 21, 16, 53, tzinfo=UTC)
    assert greg.language == "en"
    assert greg.platform == "mastodon"
    assert greg.in_reply_to == "116387888508422624"
    # The parent is not in the page: the thread is the oldest ancestor known.
    assert greg.thread_id == "116387888508422624"
    assert (greg.like_count, greg.reply_count, greg.repost_count) == (0, 1, 0)
    jo = next(i for i in page.items if i.external_id == "116388107849695302")
    assert (jo.like_count, jo.reply_count, jo.repost_count) == (4, 0, 1)
    assert jo.author_followers == 893


def test_a_content_warning_becomes_the_title_and_a_local_account_gets_its_domain(mastodon):
    cw = status_to_item(json.loads(body(mastodon, STATUS_CW)), {})
    assert cw.title == "test post for mastodon.py stuff"
    assert cw.thread_id == cw.external_id == "110446223051565765"
    local = status_to_item(json.loads(body(mastodon, STATUS_LOCAL)), {})
    assert local.author_handle == "halcy@mastodon.social"


def test_a_reply_chain_seen_together_shares_the_root_as_thread(mastodon):
    context = json.loads(body(mastodon, CONTEXT))
    statuses = context["ancestors"] + context["descendants"]
    known = {s["id"]: s for s in statuses}
    reply = status_to_item(context["descendants"][0], known)
    assert reply.in_reply_to == "110446983926957470"
    # The reply's parent is not in view, so the chain stops there.
    assert reply.thread_id == "110446983926957470"
    root = status_to_item(context["ancestors"][0], known)
    assert root.thread_id == root.external_id == "110446983178245440"


def test_a_reblog_is_mapped_as_the_reblogged_status(mastodon):
    original = json.loads(body(mastodon, STATUS_CW))
    wrapper = {"id": "999", "content": "", "account": {"acct": "booster"}, "reblog": original}
    item = status_to_item(wrapper, {})
    assert item.external_id == "110446223051565765"
    assert item.author_handle == "halcy@icosahedron.website"


def test_the_link_header_names_the_next_and_previous_pages(mastodon):
    links = parse_link_header(recorded_link(mastodon, "test_hashtag_tl.yaml", 2))
    assert links["next"].endswith("/api/v1/timelines/tag/hoot?max_id=117020593741189701")
    assert links["prev"].endswith("/api/v1/timelines/tag/hoot?min_id=117020593741189701")


# --- paging, cursor and backfill ----------------------------------------------------------------


@pytest.fixture
def eight_per_page():
    """The recorded public timeline holds 8 statuses: with pages of 8 it is a full page."""
    connector = MastodonConnector()
    connector.page_limit = 8
    return connector


def serve_full_first_page(mastodon, feed_server):
    feed_server.add(
        TAG_PATH + "?limit=8",
        body(mastodon, PUBLIC_TL),
        content_type=JSON,
        headers={"Link": recorded_link(mastodon, "test_public_tl.yaml", 2)},
    )


def test_backfill_follows_the_link_header_back_then_forward_polls_ask_only_for_newer(
    mastodon, feed_server, eight_per_page
):
    serve_full_first_page(mastodon, feed_server)
    feed_server.add(
        TAG_PATH + "?limit=8&max_id=117020574694606796",
        b"[]",
        content_type=JSON,
    )
    feed_server.add(
        TAG_PATH + "?limit=8&min_id=117020593378945190",
        body(mastodon, HOOT_TL),
        content_type=JSON,
        headers={"Link": recorded_link(mastodon, "test_hashtag_tl.yaml", 2)},
    )
    since = datetime(2026, 7, 1, tzinfo=UTC)

    first = eight_per_page.fetch(state(feed_server.url(""), backfill_since=since))
    assert len(first.items) == 8
    assert first.has_more
    cursor = json.loads(first.cursor)
    assert cursor["tag"]["min_id"] == "117020593378945190"
    # Taken from Link rel="next".
    assert cursor["tag"]["walk"]["max_id"] == "117020574694606796"

    second = eight_per_page.fetch(state(feed_server.url(""), cursor=first.cursor))
    assert second.items == [] and not second.has_more
    assert "complete" in second.progress
    assert "walk" not in json.loads(second.cursor)["tag"]

    third = eight_per_page.fetch(state(feed_server.url(""), cursor=second.cursor))
    assert [i.external_id for i in third.items] == ["117020593741189701"]
    paths = [r.path for r in feed_server.requests_for(TAG_PATH)]
    assert query_of(paths[1]) == {"limit": "8", "max_id": "117020574694606796"}
    assert query_of(paths[2]) == {"limit": "8", "min_id": "117020593378945190"}
    assert json.loads(third.cursor)["tag"]["min_id"] == "117020593741189701"


def test_backfill_stops_at_backfill_since(mastodon, feed_server, eight_per_page):
    serve_full_first_page(mastodon, feed_server)
    since = datetime(2026, 8, 1, 13, 54, 0, tzinfo=UTC)
    page = eight_per_page.fetch(state(feed_server.url(""), backfill_since=since))
    assert not page.has_more
    assert all(i.published_at >= since for i in page.items)
    assert len(page.items) == 6  # 13:54:00.505 down to 13:55:50; 13:53 and 13:51 dropped
    assert len(feed_server.requests_for(TAG_PATH)) == 1


def test_the_access_token_is_sent_as_a_bearer_header(mastodon, feed_server):
    feed_server.add(TAG_PATH, body(mastodon, HOOT_TL), content_type=JSON)
    MastodonConnector().fetch(
        state(feed_server.url(""), config={"hashtag": "#hoot", "access_token": "s3cret"})
    )
    (request,) = feed_server.requests_for(TAG_PATH)
    assert request.header("Authorization") == "Bearer s3cret"


def test_without_hashtag_or_query_the_search_terms_are_searched(mastodon, feed_server):
    feed_server.add("/api/v2/search", body(mastodon, SEARCH), content_type=JSON)
    MastodonConnector().fetch(
        state(feed_server.url(""), config={}, search_terms=("acme", "acme mobile", "#acmemobile"))
    )
    (request,) = feed_server.requests_for("/api/v2/search")
    assert query_of(request.path) == {
        "limit": "40",
        "q": 'acme "acme mobile" #acmemobile',
        "type": "statuses",
        "resolve": "false",
    }


def test_a_source_with_nothing_to_follow_is_a_config_error(feed_server):
    with pytest.raises(ConfigError):
        MastodonConnector().fetch(state(feed_server.url(""), config={}))


def test_http_429_is_rate_limited_with_the_servers_wait(feed_server):
    feed_server.add(
        TAG_PATH, b'{"error":"Too many requests"}', status=429, headers={"Retry-After": "30"}
    )
    with pytest.raises(RateLimited) as caught:
        MastodonConnector().fetch(state(feed_server.url("")))
    assert caught.value.retry_after == 30


def test_malformed_json_is_a_bad_response(feed_server):
    feed_server.add(TAG_PATH, b'[{"id": "1", ', content_type=JSON)
    with pytest.raises(BadResponse):
        MastodonConnector().fetch(state(feed_server.url("")))


def test_bad_statuses_are_skipped_with_a_warning(feed_server):
    feed_server.add(
        TAG_PATH, (FIXTURES / "timeline_partial_built.json").read_bytes(), content_type=JSON
    )
    page = MastodonConnector().fetch(
        state(feed_server.url(""), backfill_since=datetime(2026, 1, 1, tzinfo=UTC))
    )
    (item,) = page.items
    assert item.author_handle == "ann@social.example"
    # The parent is in the page (malformed, but its reply link is readable): it is the root.
    assert item.thread_id == "117020600000000001"
    assert any("Skipped 2 malformed" in w for w in page.warnings)


# --- reply ------------------------------------------------------------------------------------


def test_reply_posts_the_status_with_the_token_and_returns_the_new_post(mastodon, sse_server):
    sse_server.post_body = body(mastodon, POSTED)
    result = MastodonConnector().reply(
        state(sse_server.url, config={"hashtag": "hoot", "access_token": "s3cret"}),
        "117020593741189701",
        "Thanks, we are on it!",
        key="earshot-reply-7",
    )
    (method, path, headers, sent) = sse_server.posts[0]
    assert (method, path) == ("POST", "/api/v1/statuses")
    assert headers["Authorization"] == "Bearer s3cret"
    # Mastodon answers a repeated POST with the same key with the status it already posted.
    assert headers["Idempotency-Key"] == "earshot-reply-7"
    assert json.loads(sent) == {
        "status": "Thanks, we are on it!",
        "in_reply_to_id": "117020593741189701",
    }
    posted = json.loads(body(mastodon, POSTED))
    assert result.external_id == posted["id"]
    assert result.url == posted["url"]


def test_reply_without_a_token_is_a_config_error(feed_server):
    with pytest.raises(ConfigError):
        MastodonConnector().reply(state(feed_server.url("")), "1", "hi")


# --- streaming ------------------------------------------------------------------------------------


class _SseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SseServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        srv.paths.append(self.path)
        self.close_connection = True
        try:
            if urlsplit(self.path).path.startswith("/api/v1/timelines/tag/"):
                payload = srv.timeline
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            # One chunk per recorded event, as the streaming server sends them.
            for block in srv.events.split(b"\n\n"):
                chunk = block + b"\n\n"
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            if srv.hold:
                srv.closing.wait(30)
            # Closing without the last chunk: the connection drops mid-stream.
        except OSError:
            pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length)
        self.server.posts.append((self.command, self.path, dict(self.headers.items()), sent))
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(self.server.post_body)))
        self.end_headers()
        self.wfile.write(self.server.post_body)


class _SseServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def sse_server(mastodon, settings) -> Iterator[_SseServer]:
    server = _SseServer(("127.0.0.1", 0), _SseHandler)
    server.paths, server.posts = [], []
    server.events = body(mastodon, USER_STREAM)
    server.timeline = b"[]"
    server.post_body = b"{}"
    server.hold = False
    server.closing = threading.Event()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.server_address[1]}"]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()


def stream_state(url: str, cursor: str = "") -> SourceState:
    return SourceState(
        source_id=1, kind="mastodon-stream", url=url, config={"hashtag": "hoot"}, cursor=cursor
    )


def test_stream_updates_become_batches_and_a_drop_raises_after_them(sse_server):
    batches = []
    with pytest.raises(SourceUnavailable):
        for batch in MastodonStreamConnector().stream(
            stream_state(sse_server.url), stop=threading.Event()
        ):
            batches.append(batch)
    # Two "update" events; notifications, status.update, delete and heartbeats are not items.
    assert [b.items[0].external_id for b in batches] == ["117024236332527350", "117024236559579118"]
    assert json.loads(batches[-1].cursor) == {"min_id": "117024236559579118"}
    assert sse_server.paths == ["/api/v1/streaming/hashtag?tag=hoot"]


def test_sse_parsing_ignores_heartbeats_and_joins_multiline_data():
    lines = [b":thump", b"event: update", b'data: {"a":', b"data: 1}", b"", b"data: x", b""]
    events = list(sse_events(lines))
    assert events[0] is None
    assert (events[1].event, events[1].data) == ("update", '{"a":\n1}')
    assert (events[2].event, events[2].data) == ("message", "x")


def test_setting_stop_ends_a_quiet_stream_within_a_second(sse_server):
    sse_server.hold = True
    stop = threading.Event()
    received = []
    started = None
    for batch in MastodonStreamConnector().stream(stream_state(sse_server.url), stop=stop):
        received.append(batch)
        if len(received) == 2:
            threading.Timer(0.3, stop.set).start()
            started = time.monotonic()
    assert len(received) == 2
    assert time.monotonic() - started < 1.5


def test_a_silent_stream_times_out_as_a_drop(sse_server):
    sse_server.hold = True
    lines = safe_stream(sse_server.url + "/api/v1/streaming/hashtag?tag=hoot", idle_timeout=0.5)
    with pytest.raises(FetchTimeout):
        for _line in lines:
            pass


def test_reconnecting_catches_up_from_the_timeline_with_min_id_first(mastodon, sse_server):
    sse_server.timeline = body(mastodon, HOOT_TL)
    batches = []
    with pytest.raises(SourceUnavailable):
        for batch in MastodonStreamConnector().stream(
            stream_state(sse_server.url, cursor='{"min_id":"117020593378945190"}'),
            stop=threading.Event(),
        ):
            batches.append(batch)
    assert query_of(sse_server.paths[0]) == {"limit": "40", "min_id": "117020593378945190"}
    assert sse_server.paths[1] == "/api/v1/streaming/hashtag?tag=hoot"
    assert batches[0].items[0].external_id == "117020593741189701"
    assert json.loads(batches[0].cursor) == {"min_id": "117020593741189701"}
    assert len(batches) == 3


def test_a_stream_to_a_private_address_is_refused_before_connecting(sse_server, settings):
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    with pytest.raises(BlockedAddress):
        next(MastodonStreamConnector().stream(stream_state(sse_server.url), stop=threading.Event()))
    assert sse_server.paths == []


def test_the_stream_needs_a_hashtag():
    with pytest.raises(ConfigError):
        MastodonStreamConnector().validate_config("https://mastodon.social", {})


# --- through the service ------------------------------------------------------------------------


@pytest.mark.django_db
def test_polling_twice_stores_each_status_once_with_the_authors_reach(mastodon, feed_server):
    from listening.models import Author, Mention, Source
    from listening.services import brand_create, source_poll

    feed_server.add("/api/v2/search", body(mastodon, SEARCH), content_type=JSON)
    brand = brand_create(name="Halcy watchers", query="halcy")
    source = Source.objects.create(
        brand=brand,
        kind="mastodon",
        url=feed_server.url(""),
        config={"query": "halcy", "access_token": "tok"},
        backfill_days=3650,
    )
    source_poll(source_id=source.pk)
    source_poll(source_id=source.pk)

    assert Mention.objects.filter(source=source).count() == 2
    assert Author.objects.get(handle="greg@icosahedron.website").followers == 455
    searches = feed_server.requests_for("/api/v2/search")
    assert "min_id" not in query_of(searches[0].path)
    # The second poll resumes from the saved cursor: only newer statuses.
    assert query_of(searches[-1].path)["min_id"] == "116388149027005349"
