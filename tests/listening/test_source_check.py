"""A new source is fetched once when it is added, and refused when that fails (issue 11).

Real local servers throughout: an HTTP feed server for feeds and APIs, a closed port for a
host that is down, a name under .invalid for a DNS failure, and a WebSocket server for
Jetstream. The check is a dry run: it never stores a mention, a fetch log or health.
"""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
from django.core.management import CommandError, call_command

from listening.models import FetchLog, Mention, Source
from listening.services import brand_create, source_check
from tests.feeds import numbered_items, rss_feed
from tests.listening.test_bluesky import LocalJetstream

pytestmark = pytest.mark.django_db

HINT = "run the command again with --save-anyway"


@pytest.fixture
def acme():
    return brand_create(name="Acme", query="acme")


def add_source(*args: str) -> str:
    out = io.StringIO()
    call_command("add_source", "--brand", "Acme", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as excinfo:
        add_source(*args)
    assert not Source.objects.exists()
    return str(excinfo.value)


def closed_port_url(settings) -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused), allowed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{port}"]
    return f"http://127.0.0.1:{port}/feed.xml"


def assert_nothing_stored() -> None:
    assert Mention.objects.count() == 0
    assert FetchLog.objects.count() == 0


def test_a_working_feed_is_checked_and_added_without_storing_anything(acme, feed_server):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(3)))

    output = add_source("--kind", "rss", "--url", url)

    assert f"Checked {url}: 3 items." in output
    assert "Added rss source" in output
    source = Source.objects.get()
    assert (source.url, source.consecutive_failures, source.last_polled_at) == (url, 0, None)
    assert len(feed_server.requests_for("/acme.xml")) == 1
    assert_nothing_stored()


def test_a_page_that_is_not_a_feed_is_refused_and_cannot_be_saved_anyway(acme, feed_server):
    page = b"<!doctype html><html><body>About us</body></html>"
    url = feed_server.add("/about.html", page, content_type="text/html")

    message = refused("--kind", "rss", "--url", url)

    assert message == (
        "Not added. Could not fetch it (not_a_feed): The URL returned an HTML page, not a feed "
        "(text/html); look for a <link rel=alternate> feed address."
    )
    assert "--save-anyway" not in message
    assert "Not added" in refused("--kind", "rss", "--url", url, "--save-anyway")
    assert_nothing_stored()


def test_an_error_answer_is_refused(acme, feed_server):
    url = feed_server.add("/gone.xml", b"Not here", status=404, content_type="text/plain")

    message = refused("--kind", "rss", "--url", url, "--save-anyway")

    assert message.startswith("Not added. Could not fetch it (http_4xx): ")
    assert url in message and "404" in message and "--save-anyway" not in message


def test_a_blocked_address_is_refused_even_with_save_anyway(acme, feed_server, settings):
    url = feed_server.add("/acme.xml", rss_feed(numbered_items(1)))
    # The SSRF guard as in production: loopback is not on the allowlist.
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []

    message = refused("--kind", "rss", "--url", url, "--save-anyway")

    assert "resolves to 127.0.0.1, a private, loopback or otherwise non-public address" in message
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in message
    assert "--save-anyway" not in message
    assert feed_server.requests_for("/acme.xml") == []


def test_an_invalid_url_is_refused_before_any_fetch(acme):
    message = refused("--kind", "rss", "--url", "ftp://news.example/feed.xml", "--save-anyway")
    assert "is not a http or https URL" in message


@pytest.mark.parametrize(
    ("what", "make_url", "error"),
    [
        ("DNS failure", lambda server, _: "https://feeds.name.invalid/acme.xml", "resolve host"),
        ("connection refused", lambda _, settings: closed_port_url(settings), "refused"),
        (
            "HTTP 503",
            lambda server, _: server.add(
                "/busy.xml", b"busy", status=503, content_type="text/plain"
            ),
            "HTTP 503",
        ),
    ],
)
def test_a_host_that_is_down_now_is_refused_with_the_way_to_save_it_anyway(
    acme, feed_server, settings, what, make_url, error
):
    url = make_url(feed_server, settings)

    message = refused("--kind", "rss", "--url", url)

    assert message.startswith("Not added. Could not fetch it ("), what
    assert error.lower() in message.lower(), what
    assert message.endswith(f"If the host is only down now, {HINT}."), what

    output = add_source("--kind", "rss", "--url", url, "--save-anyway")

    assert output.startswith("Saved anyway (--save-anyway). Could not fetch it ("), what
    assert Source.objects.get().url == url
    assert_nothing_stored()


def test_the_check_is_bounded_in_time(acme, feed_server, settings):
    settings.EARSHOT_SOURCE_CHECK_TIMEOUT = 1.0
    url = feed_server.add("/slow.xml", rss_feed(numbered_items(1)), delay=5)

    started = time.monotonic()
    message = refused("--kind", "rss", "--url", url)

    assert time.monotonic() - started < 3
    assert message.startswith("Not added. Could not fetch it (timeout): ")
    assert message.endswith(HINT + ".")


@pytest.mark.parametrize("kind", ["webhook", "import"])
def test_pushed_kinds_have_nothing_to_check(acme, kind):
    output = add_source("--kind", kind)
    assert "Checked" not in output and "Saved anyway" not in output
    assert Source.objects.get().kind == kind


def test_a_mastodon_stream_is_checked_on_its_hashtag_timeline(acme, feed_server):
    feed_server.add("/api/v1/timelines/tag/acme", b"[]", content_type="application/json")

    output = add_source(
        "--kind", "mastodon-stream", "--url", feed_server.url(""), "--option", "hashtag=#acme"
    )

    assert f"Checked {feed_server.url('')}: the #acme timeline answered." in output
    assert "run_streams" in output
    assert len(feed_server.requests_for("/api/v1/timelines/tag/acme")) == 1


def test_a_mastodon_source_on_a_server_that_is_not_mastodon_is_refused(acme, feed_server):
    feed_server.add("/api/v1/timelines/tag/acme", b"<html>hello</html>", content_type="text/html")

    message = refused(
        "--kind", "mastodon", "--url", feed_server.url(""), "--option", "hashtag=acme"
    )

    assert "not JSON" in message and "--save-anyway" not in message


def test_a_jetstream_source_is_checked_by_opening_the_websocket(acme, settings):
    server = LocalJetstream([json.dumps({"time_us": 1, "kind": "identity"})])
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    try:
        output = add_source("--kind", "jetstream", "--url", server.url)
    finally:
        server.close()

    assert f"Checked {server.url}: the stream accepted a connection." in output
    assert len(server.paths) == 1 and "wantedCollections=app.bsky.feed.post" in server.paths[0]


def test_the_check_searches_for_the_brand_terms(acme, feed_server):
    feed_server.add(
        "/api/v1/search_by_date",
        json.dumps({"hits": [], "nbPages": 0, "page": 0}).encode(),
        content_type="application/json",
    )
    source = Source(brand=acme, kind="hn", url=feed_server.url(""))
    source.full_clean()

    check = source_check(source=source)

    assert check is not None and check.is_ok, check
    assert check.message == f"Checked {feed_server.url('')}: 0 items."
    (request,) = feed_server.requests_for("/api/v1/search_by_date")
    assert "acme" in request.path


def test_a_fetch_budget_bounds_every_request_made_under_it(feed_server):
    from listening.connectors.http import FetchTimeout, fetch_budget, safe_get

    slow = feed_server.add("/slow.xml", rss_feed(numbered_items(1)), delay=3)
    started = time.monotonic()
    with fetch_budget(0.5), pytest.raises(FetchTimeout):
        safe_get(slow, timeout=20)
    assert time.monotonic() - started < 2

    # Spent: the next request under it fails at once, without connecting.
    fast = feed_server.add("/fast.xml", rss_feed(numbered_items(1)))
    with fetch_budget(0.01):
        time.sleep(0.05)
        with pytest.raises(FetchTimeout, match="Ran out of time"):
            safe_get(fast)
    assert feed_server.requests_for("/fast.xml") == []
    # Outside any budget the fetch timeout alone applies again.
    assert safe_get(fast).status == 200
