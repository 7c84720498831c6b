"""safe_get against a real local HTTP server: no mocks of requests or of our code."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from listening.connectors import http
from listening.connectors.base import ConnectorError
from listening.connectors.http import (
    USER_AGENT,
    BlockedAddress,
    ClientError,
    ConnectionFailed,
    FetchTimeout,
    InvalidURL,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    TooManyRedirects,
    is_blocked_address,
    safe_get,
    safe_post,
)
from tests.feedserver import LocalFeedServer

RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def other_server() -> Iterator[LocalFeedServer]:
    """A second server on a port the allowlist does not name."""
    server = LocalFeedServer()
    try:
        yield server
    finally:
        server.close()


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- plain fetching ---------------------------------------------------------------------


def test_a_200_answer_returns_body_headers_status_and_final_url(feed_server):
    url = feed_server.add("/feed.xml", RSS, headers={"X-Feed": "yes"})

    response = safe_get(url)

    assert response.status == 200
    assert response.body == RSS.encode()
    assert response.headers["x-feed"] == "yes"
    assert response.final_url == url
    assert response.content_type == "application/rss+xml"


def test_content_type_is_the_lower_case_media_type_without_parameters(feed_server):
    url = feed_server.add("/a", "{}", content_type="Application/JSON; Charset=UTF-8")

    assert safe_get(url).content_type == "application/json"


def test_the_user_agent_names_earshot_and_compression_is_offered(feed_server):
    url = feed_server.add("/feed", RSS)

    safe_get(url)

    (request,) = feed_server.requests_for("/feed")
    assert request.header("User-Agent") == USER_AGENT
    assert "Earshot" in USER_AGENT
    assert request.header("Accept-Encoding") == "gzip, deflate"
    assert request.header("Host") == f"127.0.0.1:{feed_server.port}"


def test_conditional_get_sends_the_validators_and_a_304_gives_an_empty_body(feed_server):
    lm = "Wed, 21 Oct 2015 07:28:00 GMT"
    url = feed_server.add("/feed", RSS, etag='"v1"', last_modified=lm)

    first = safe_get(url)
    again = safe_get(url, etag=first.headers["ETag"], last_modified=first.headers["Last-Modified"])

    assert first.status == 200
    assert again.status == 304
    assert again.body == b""
    second = feed_server.requests_for("/feed")[1]
    assert second.header("If-None-Match") == '"v1"'
    assert second.header("If-Modified-Since") == lm


def test_a_changed_feed_is_fetched_again_despite_old_validators(feed_server):
    url = feed_server.add("/feed", RSS, etag='"v1"')
    feed_server.add("/feed", RSS + "<!-- new -->", etag='"v2"')

    response = safe_get(url, etag='"v1"')

    assert response.status == 200
    assert response.body.endswith(b"<!-- new -->")


def test_a_gzip_body_is_decoded(feed_server):
    url = feed_server.add("/feed", RSS * 50, gzip=True)

    response = safe_get(url)

    assert response.body == (RSS * 50).encode()
    assert response.headers["Content-Encoding"] == "gzip"


def test_custom_headers_are_sent_but_host_cannot_be_overridden(feed_server):
    url = feed_server.add("/api", "{}")

    safe_get(url, headers={"Authorization": "Bearer t", "Host": "evil.example"})

    (request,) = feed_server.requests_for("/api")
    assert request.header("Authorization") == "Bearer t"
    assert request.header("Host") == f"127.0.0.1:{feed_server.port}"


# --- size cap ---------------------------------------------------------------------------


def test_a_declared_content_length_over_the_cap_is_refused_before_reading(feed_server):
    url = feed_server.add("/big", b"x" * 10, content_length=10_000_000)

    with pytest.raises(ResponseTooLarge) as caught:
        safe_get(url, max_bytes=1024 * 1024)

    assert "1.0 MB limit" in str(caught.value)
    assert caught.value.http_status == 200
    assert not caught.value.is_transient
    assert caught.value.error_class == "too_large"


def test_an_endless_body_is_cut_off_at_the_cap_within_a_second_or_two(feed_server):
    url = feed_server.add_endless("/endless")
    started = time.monotonic()

    with pytest.raises(ResponseTooLarge) as caught:
        safe_get(url, max_bytes=256 * 1024, timeout=10)

    assert time.monotonic() - started < 2
    assert "Response larger than 256.0 KB limit; connection closed after" in str(caught.value)


def test_a_gzip_bomb_is_cut_off_on_decoded_bytes(feed_server):
    decoded = 64 * 1024 * 1024
    bomb = gzip.compress(b"\0" * decoded, compresslevel=9)
    assert len(bomb) < 200 * 1024
    url = feed_server.add(
        "/bomb", bomb, headers={"Content-Encoding": "gzip"}, content_type="application/xml"
    )
    started = time.monotonic()

    with pytest.raises(ResponseTooLarge):
        safe_get(url, max_bytes=1024 * 1024, timeout=10)

    assert time.monotonic() - started < 2


# --- time limits ------------------------------------------------------------------------


def test_a_server_that_does_not_answer_in_time_raises_a_transient_timeout(feed_server):
    url = feed_server.add("/slow", RSS, delay=3)
    started = time.monotonic()

    with pytest.raises(FetchTimeout) as caught:
        safe_get(url, timeout=0.5)

    assert time.monotonic() - started < 1.5
    assert caught.value.is_transient
    assert caught.value.error_class == "timeout"


def test_a_dripping_body_is_stopped_by_the_wall_clock_limit(feed_server):
    # Ten bytes a second never trips a per-read timeout; only the overall deadline can.
    url = feed_server.add("/drip", b"x" * 10_000, drip_bytes_per_s=10)
    started = time.monotonic()

    with pytest.raises(FetchTimeout) as caught:
        safe_get(url, timeout=1)

    assert time.monotonic() - started < 2
    assert caught.value.http_status == 200


def test_slowly_dripped_headers_are_stopped_by_the_wall_clock_limit():
    # A raw server that sends a status line and then one header byte at a time.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(50):
                    conn.sendall(b"X")
                    time.sleep(0.1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            safe_get(
                f"http://127.0.0.1:{port}/",
                timeout=1,
                allowed_private_hosts=[f"127.0.0.1:{port}"],
            )
        assert time.monotonic() - started < 2
    finally:
        listener.close()
        thread.join(timeout=6)


# --- redirects --------------------------------------------------------------------------


def test_redirects_are_followed_and_the_final_url_reported(feed_server):
    final = feed_server.add("/new/feed.xml", RSS)
    start = feed_server.add_redirect("/old", final, status=301)

    response = safe_get(start)

    assert response.body == RSS.encode()
    assert response.final_url == final


def test_relative_redirects_are_resolved_against_the_current_url(feed_server):
    feed_server.add("/feeds/rss.xml", RSS)
    feed_server.add_redirect("/feeds/", "rss.xml", status=307)
    start = feed_server.add_redirect("/start", "/feeds/", status=302)

    response = safe_get(start)

    assert response.final_url == feed_server.url("/feeds/rss.xml")
    assert len(feed_server.requests) == 3


def test_a_redirect_loop_raises_too_many_redirects(feed_server, settings):
    settings.EARSHOT_FETCH_MAX_REDIRECTS = 3
    feed_server.add_redirect("/a", "/b")
    url = feed_server.add_redirect("/b", "/a")

    with pytest.raises(TooManyRedirects) as caught:
        safe_get(url)

    assert caught.value.error_class == "too_many_redirects"
    assert not caught.value.is_transient
    assert len(feed_server.requests) == 4  # the first request and three followed redirects


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/feed",
        "http://localhost:{port}/feed",
        "http://127.0.0.2:{port}/feed",
        "http://[::1]:{port}/feed",
        "http://[::ffff:127.0.0.1]:{port}/feed",
    ],
)
def test_a_redirect_to_a_loopback_address_not_allowed_is_blocked_before_connecting(
    feed_server, other_server, target
):
    other_server.add("/feed", RSS)
    url = feed_server.add_redirect("/go", target.format(port=other_server.port))

    with pytest.raises(BlockedAddress) as caught:
        safe_get(url)

    assert other_server.requests == []
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in str(caught.value)


def test_a_redirect_to_a_non_http_scheme_is_refused(feed_server):
    url = feed_server.add_redirect("/go", "file:///etc/passwd")

    with pytest.raises(InvalidURL):
        safe_get(url)


def test_credentials_are_not_forwarded_to_another_origin(feed_server, other_server, settings):
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    target = other_server.add("/feed", RSS)
    url = feed_server.add_redirect("/go", target)

    safe_get(url, headers={"Authorization": "Bearer secret", "X-Keep": "1"})

    (forwarded,) = other_server.requests_for("/feed")
    assert forwarded.header("Authorization") is None
    assert forwarded.header("X-Keep") == "1"


# --- URL and address validation ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/feed.xml",
        "javascript:alert(1)",
        "gopher://example.com/",
        "http://",
        "http:///feed.xml",
        "example.com/feed.xml",
        "http://127.0.0.1@evil.example/",
        "http://user:pass@example.com/",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://[::1/",
        "",
    ],
)
def test_urls_that_are_not_plain_http_or_https_are_invalid(url):
    with pytest.raises(InvalidURL) as caught:
        safe_get(url)

    assert caught.value.error_class == "invalid_url"
    assert not caught.value.is_transient


def test_an_at_sign_in_the_fragment_does_not_change_the_host():
    target = http._parse_url("http://evil.example#@127.0.0.1")

    assert target.host == "evil.example"
    assert target.path == "/"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "192.168.1.1",
        "[::1]",
        "0.0.0.0",  # noqa: S104 - an address we fetch, not one we bind
        "[::ffff:127.0.0.1]",
        "100.64.0.1",
        "172.16.0.1",
        "[fe80::1]",
        "[fc00::1]",
        "224.0.0.1",
    ],
)
def test_private_and_special_addresses_are_refused_without_an_allowlist(host, settings):
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []
    started = time.monotonic()

    with pytest.raises(BlockedAddress) as caught:
        safe_get(f"http://{host}/feed", timeout=5)

    # Refused at the check: nothing waited for a connection.
    assert time.monotonic() - started < 0.5
    message = str(caught.value)
    assert caught.value.address in message
    assert "EARSHOT_ALLOWED_PRIVATE_HOSTS" in message
    assert caught.value.error_class == "blocked_address"
    assert not caught.value.is_transient


def test_a_refused_loopback_server_never_sees_the_request(feed_server, settings):
    url = feed_server.add("/feed", RSS)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = []

    with pytest.raises(BlockedAddress):
        safe_get(url)

    assert feed_server.requests == []


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("2002:0808:0808::1", False),  # 6to4 for a public address
        ("2002:7f00:0001::1", True),  # 6to4 for 127.0.0.1
        ("2002:0a00:0001::1", True),  # 6to4 for 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True),  # Teredo, client 10.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 for 169.254.169.254
        ("::ffff:10.0.0.1", True),
        ("198.18.0.1", True),  # benchmarking range: never a feed
        ("255.255.255.255", True),
    ],
)
def test_address_classification_sees_through_embedded_ipv4(address, blocked):
    assert is_blocked_address(address) is blocked


def test_a_host_only_allowlist_entry_allows_any_port(feed_server, settings):
    url = feed_server.add("/feed", RSS)
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]

    assert safe_get(url).status == 200


def test_an_allowlist_entry_for_another_port_does_not_allow_this_one(feed_server):
    url = feed_server.add("/feed", RSS)

    with pytest.raises(BlockedAddress):
        safe_get(url, allowed_private_hosts=[f"127.0.0.1:{feed_server.port + 1}"])

    assert feed_server.requests == []


def test_ipv6_allowlist_entries_use_brackets():
    target = http._parse_url("http://[::1]:8080/")

    assert http._is_allowed(target, ["[::1]:8080"])
    assert http._is_allowed(target, ["[0:0::1]"])
    assert not http._is_allowed(target, ["[::1]:8081"])


# --- address pinning (DNS rebinding) ----------------------------------------------------


def test_the_connection_goes_to_the_checked_address_with_the_original_host_header(feed_server):
    # ".invalid" never resolves (RFC 6761): the answer can only come from the pinned address,
    # and the server still sees the name the user gave.
    feed_server.add("/feed", RSS)
    target = http._parse_url(f"http://feeds.example.invalid:{feed_server.port}/feed")
    deadline = http._Deadline(5)
    response, adapter = http._open(
        target, ["127.0.0.1"], headers={"User-Agent": USER_AGENT}, deadline=deadline, timeout=5
    )
    try:
        assert response.status_code == 200
        assert response.content == RSS.encode()
    finally:
        response.close()
        adapter.close()
        deadline.cancel()

    (request,) = feed_server.requests_for("/feed")
    assert request.header("Host") == f"feeds.example.invalid:{feed_server.port}"


def test_an_allowed_hostname_is_resolved_once_and_sent_as_the_host_header(feed_server):
    url = feed_server.add("/feed", RSS).replace("127.0.0.1", "localhost")

    # localhost may resolve to ::1 first; the server only listens on 127.0.0.1, so this also
    # shows the fallback to the next checked address.
    response = safe_get(url, allowed_private_hosts=[f"localhost:{feed_server.port}"])

    assert response.status == 200
    assert response.final_url == url
    (request,) = feed_server.requests_for("/feed")
    assert request.header("Host") == f"localhost:{feed_server.port}"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl not available to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=feeds.test",
         "-addext", "subjectAltName=DNS:feeds.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tls_files) -> Iterator[LocalFeedServer]:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = LocalFeedServer(ssl_context=context)
    try:
        yield server
    finally:
        server.close()


def test_https_to_a_pinned_address_verifies_the_certificate_for_the_hostname(tls_server, tls_files):
    cert, _ = tls_files
    tls_server.add("/feed", RSS)
    target = http._parse_url(f"https://feeds.test:{tls_server.port}/feed")
    deadline = http._Deadline(5)
    response, adapter = http._open(
        target, ["127.0.0.1"], headers={}, deadline=deadline, timeout=5, verify=str(cert)
    )
    try:
        assert response.status_code == 200
    finally:
        response.close()
        adapter.close()
        deadline.cancel()
    (request,) = tls_server.requests_for("/feed")
    assert request.header("Host") == f"feeds.test:{tls_server.port}"


def test_https_to_a_pinned_address_fails_when_the_certificate_names_another_host(
    tls_server, tls_files
):
    cert, _ = tls_files
    tls_server.add("/feed", RSS)
    target = http._parse_url(f"https://other.test:{tls_server.port}/feed")
    deadline = http._Deadline(5)
    try:
        with pytest.raises(ConnectionFailed, match="TLS"):
            http._open(
                target, ["127.0.0.1"], headers={}, deadline=deadline, timeout=5, verify=str(cert)
            )
    finally:
        deadline.cancel()
    assert tls_server.requests == []


# --- error mapping ----------------------------------------------------------------------


def test_a_refused_connection_raises_connection_failed():
    port = _closed_port()

    with pytest.raises(ConnectionFailed) as caught:
        safe_get(f"http://127.0.0.1:{port}/feed", allowed_private_hosts=["127.0.0.1"])

    assert caught.value.is_transient
    assert caught.value.error_class == "connection_failed"


def test_an_unresolvable_host_raises_connection_failed():
    with pytest.raises(ConnectionFailed, match="resolve"):
        safe_get("http://feeds.example.invalid/feed")


@pytest.mark.parametrize(
    ("status", "words"), [(404, "Not found"), (410, "feed is gone"), (403, "Access denied")]
)
def test_client_errors_are_not_transient_and_carry_the_status(feed_server, status, words):
    url = feed_server.add("/feed", "nope", status=status)

    with pytest.raises(ClientError) as caught:
        safe_get(url)

    assert caught.value.http_status == status
    assert not caught.value.is_transient
    assert caught.value.error_class == "http_4xx"
    assert words in str(caught.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient_and_carry_the_status(feed_server, status):
    url = feed_server.add("/feed", "oops", status=status)

    with pytest.raises(ServerError) as caught:
        safe_get(url)

    assert caught.value.http_status == status
    assert caught.value.is_transient
    assert caught.value.error_class == "http_5xx"


def test_rate_limiting_keeps_the_retry_after_seconds(feed_server):
    url = feed_server.add("/feed", "slow down", status=429, headers={"Retry-After": "120"})

    with pytest.raises(RateLimited) as caught:
        safe_get(url)

    assert caught.value.retry_after == 120.0
    assert caught.value.http_status == 429
    assert caught.value.is_transient
    assert caught.value.error_class == "rate_limited"


JSON = "application/json; charset=utf-8"


def test_an_apis_json_error_says_why_it_refused(feed_server):
    body = '{"error": "Validation failed: Text character limit of 500 exceeded"}'
    url = feed_server.add("/api/v1/statuses", body, status=422, content_type=JSON)

    with pytest.raises(ClientError) as caught:
        safe_post(url, data=b"{}", content_type="application/json")

    assert caught.value.http_status == 422
    assert str(caught.value).endswith(
        "The server said: Validation failed: Text character limit of 500 exceeded"
    )


def test_an_xrpc_error_keeps_its_name_and_message(feed_server):
    body = '{"error": "RecordNotFound", "message": "Could not locate record"}'
    url = feed_server.add("/xrpc/com.atproto.repo.getRecord", body, status=400, content_type=JSON)

    with pytest.raises(ClientError) as caught:
        safe_get(url)

    assert caught.value.error_name == "RecordNotFound"
    assert "The server said: Could not locate record" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"error": "not json content type"}', "text/html"),
        ("<html>Bad request</html>", JSON),
        ('["a list"]', JSON),
        ('{"error": "' + "x" * 5000 + '"}', JSON),  # larger than is read for a reason
        ('{"error": 42}', JSON),
    ],
)
def test_an_error_body_without_a_readable_reason_adds_nothing(feed_server, body, content_type):
    url = feed_server.add("/api", body, status=400, content_type=content_type)

    with pytest.raises(ClientError) as caught:
        safe_get(url)

    assert str(caught.value) == f"Request refused (HTTP 400) fetching {url}."
    assert caught.value.error_name == ""


def test_a_servers_reason_is_cut_short_and_loses_control_characters(feed_server):
    reason = "bad\u0000\u001b[31m thing \n" + "y" * 400
    url = feed_server.add("/api", json.dumps({"error": reason}), status=503, content_type=JSON)

    with pytest.raises(ServerError) as caught:
        safe_get(url)

    said = str(caught.value).split("The server said: ", 1)[1]
    assert said.startswith("bad [31m thing yyy")
    assert len(said) == 300
    assert caught.value.is_transient


def test_every_failure_is_a_connector_error():
    for cls in (InvalidURL, BlockedAddress, TooManyRedirects, ResponseTooLarge, ClientError):
        assert issubclass(cls, ConnectorError)
        assert not cls.is_transient
    for cls in (FetchTimeout, ConnectionFailed, RateLimited, ServerError):
        assert cls.is_transient


# --- the test server itself -------------------------------------------------------------


def test_the_feed_server_serves_a_directory_and_answers_unknown_paths_with_404(
    feed_server, tmp_path
):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.rss").write_text(RSS)
    feed_server.add_directory("/files", tmp_path)

    response = safe_get(feed_server.url("/files/sub/a.rss"))

    assert response.body == RSS.encode()
    assert response.content_type == "application/rss+xml"
    with pytest.raises(ClientError):
        safe_get(feed_server.url("/files/../conftest.py"))
    with pytest.raises(ClientError):
        safe_get(feed_server.url("/nothing-here"))
