"""Safe HTTP fetching shared by every connector.

Sources are URLs typed in by users, and redirects are chosen by whoever runs the server, so a
fetch is a request the *internet* makes from inside our network. safe_get() therefore:

* accepts only http(s) URLs, and re-checks every redirect hop;
* resolves the host itself and refuses private, loopback, link-local, ... addresses (SSRF),
  unless the admin allowed that host in EARSHOT_ALLOWED_PRIVATE_HOSTS;
* connects to exactly the address it checked (no DNS-rebinding window between check and use);
* bounds the whole call by a wall-clock deadline and the body by a size cap counted after
  decompression (slow-drip servers and gzip bombs);
* maps every failure to a ConnectorError subclass whose error_class and is_transient drive the
  fetch log and the retry/backoff policy.

How the address pinning works (requests 2.32 / urllib3 2.x): for each hop we build a fresh
HTTPAdapter whose get_connection_with_tls_context() hands requests a urllib3 connection pool
created for the *checked IP*, never for the hostname. For https that pool carries
server_hostname=<original host>, so urllib3 sends it as SNI and the ssl module verifies the
certificate against it (check_hostname stays on). The Host header is set explicitly to the
original host, which urllib3 keeps as given. As a second line of defence the request URL itself
is rewritten to the IP literal: should a future requests release stop calling our hook, a plain
http request still goes to the checked IP and an https one fails certificate verification
instead of silently resolving the name again. No Session is used (and nothing is shared between
calls): sessions would add environment proxies, .netrc credentials and cookies, and a pool
shared between calls could hand a connection made for one address to another hostname.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import idna
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as urllib3_exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

from listening.connectors.base import ConnectorError, SourceUnavailable
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded

__all__ = [
    "USER_AGENT",
    "BadResponse",
    "BlockedAddress",
    "ClientError",
    "ConnectionFailed",
    "FetchTimeout",
    "HttpResponse",
    "InvalidURL",
    "RateLimited",
    "ResponseTooLarge",
    "ServerError",
    "TooManyRedirects",
    "fetch_budget",
    "is_blocked_address",
    "safe_get",
    "safe_post",
    "safe_stream",
]

USER_AGENT = "Earshot/0.1 (+https://github.com/earshot/earshot; social listening)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Read in modest pieces: the size cap is checked between pieces, and urllib3 2.x bounds each
# piece's *decompressed* size too, so one small gzip chunk cannot expand unchecked in memory.
_CHUNK_SIZE = 64 * 1024
# Credentials must not follow a redirect to another origin (requests' rebuild_auth does the
# same; we follow redirects ourselves, so we do it here).
_ORIGIN_BOUND_HEADERS = ("authorization", "proxy-authorization", "cookie")
_HOSTNAME_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$")

# Ranges ipaddress does not flag on every supported Python but that must never be fetched:
# carrier-grade NAT shared space and "this network".
_EXTRA_BLOCKED_V4 = (
    ipaddress.IPv4Network("100.64.0.0/10"),
    ipaddress.IPv4Network("0.0.0.0/8"),
)
# IPv6 forms that carry an IPv4 address a router may translate to: NAT64 well-known prefixes.
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


# --- errors -----------------------------------------------------------------------------


class InvalidURL(ConnectorError):
    """The URL is not a plain http(s) URL we are willing to fetch."""

    error_class = "invalid_url"


class BlockedAddress(ConnectorError):
    """The host resolves to an address we must not reach (private network, loopback...)."""

    error_class = "blocked_address"

    def __init__(self, message: str, *, host: str, address: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


class TooManyRedirects(ConnectorError):
    error_class = "too_many_redirects"


class ResponseTooLarge(ConnectorError):
    error_class = "too_large"

    def __init__(self, message: str, *, max_bytes: int, http_status: int | None = None) -> None:
        super().__init__(message, http_status=http_status)
        self.max_bytes = max_bytes


class BadResponse(ConnectorError):
    """The server answered something unusable: corrupt compression, odd status, no Location."""

    error_class = "bad_response"


class ClientError(ConnectorError):
    """HTTP 4xx other than 429: retrying will not help until someone fixes the source."""

    error_class = "http_4xx"


class FetchTimeout(SourceUnavailable):
    error_class = "timeout"


class ConnectionFailed(SourceUnavailable):
    error_class = "connection_failed"


class RateLimited(SourceUnavailable):
    error_class = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = 429,
        error_name: str = "",
    ) -> None:
        super().__init__(message, http_status=http_status, error_name=error_name)
        # Seconds the server asked us to wait, when it said; the scheduler should honour it.
        self.retry_after = retry_after


class ServerError(SourceUnavailable):
    error_class = "http_5xx"


# --- response ---------------------------------------------------------------------------


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]
    final_url: str

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower-case ("" when the server sent none)."""
        value = self.headers.get("Content-Type", "") or ""
        return value.split(";", 1)[0].strip().lower()


# --- URL parsing and address checks -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """One URL taken apart once, so that the host we check is the host we talk to."""

    scheme: str
    host: str  # lower-case, IDNA-encoded, IPv6 without brackets
    port: int
    path: str  # path and query, always starting with "/"; the fragment is never sent

    @property
    def _is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if self._is_ipv6 else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    def url_for_address(self, address: str) -> str:
        literal = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def _parse_url(url: str) -> _Target:
    """Split url into a _Target or raise InvalidURL.

    urlsplit follows RFC 3986, so "http://127.0.0.1@evil/" has host "evil" (and is refused for
    its userinfo) and "http://evil#@127.0.0.1" has host "evil" with a fragment. Everything we
    send afterwards is rebuilt from these parts, so no other parser gets a different say.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("Empty URL.")
    url = url.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidURL(f"URL contains control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"Malformed URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidURL(f"Only http and https URLs can be fetched, not {scheme or 'no'} scheme.")
    if "@" in parts.netloc:
        # Credentials in the URL are the classic way to disguise the real host
        # ("http://trusted.example@evil/"), and would be sent as Basic auth to wherever the
        # URL leads. Connectors that need auth pass headers instead.
        raise InvalidURL(f"URLs with a user name or password are not accepted: {url!r}")
    if "\\" in parts.netloc:
        raise InvalidURL(f"Backslash in the host part of {url!r}")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise InvalidURL(f"URL has no host: {url!r}")
    if parts.netloc.split(":")[0].startswith("[") or ":" in raw_host:
        try:
            host = str(ipaddress.IPv6Address(raw_host))
        except ValueError:
            raise InvalidURL(f"Invalid IPv6 address in {url!r}") from None
    else:
        host = raw_host
        if not host.isascii():
            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except idna.IDNAError as exc:
                raise InvalidURL(f"Invalid international host name in {url!r}: {exc}") from None
        host = host.lower()
        if not _HOSTNAME_RE.match(host):
            raise InvalidURL(f"Invalid host name {host!r} in {url!r}")
    if port == 0:
        raise InvalidURL(f"Port 0 in {url!r}")
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address may lead to (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client): either may be the internal one
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_blocked_address(address: str) -> bool:
    """True when address must not be fetched without an explicit allowlist entry."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Stricter catch-all: documentation, benchmarking and other special-purpose ranges
        # are never where a feed lives.
        or not ip.is_global
    ):
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return any(ip in net for net in _EXTRA_BLOCKED_V4)
    return any(is_blocked_address(str(v4)) for v4 in _embedded_ipv4(ip))


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """ "host", "host:port", "[v6]", "[v6]:port" (or a bare IPv6 address) -> (host, port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return host.rstrip("."), int(port) if port.isdigit() else None


def _same_host(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _is_allowed(target: _Target, allowed: Iterable[str]) -> bool:
    host = target.host.rstrip(".")
    for entry in allowed:
        allowed_host, allowed_port = _parse_allow_entry(entry)
        if _same_host(host, allowed_host) and allowed_port in (None, target.port):
            return True
    return False


def _resolve(target: _Target, allowed_private_hosts: Iterable[str]) -> list[str]:
    """Resolve target's host and return the addresses it is safe to connect to.

    Refuses if ANY address is blocked: a name that resolves to both a public and a private
    address is the usual shape of a rebinding attack, and we may not pick which one is used.
    """
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionFailed(f"Could not resolve host {target.host!r}: {exc}") from None
    addresses: list[str] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ConnectionFailed(f"Host {target.host!r} has no IPv4 or IPv6 address.")
    if not _is_allowed(target, allowed_private_hosts):
        for address in addresses:
            if is_blocked_address(address):
                raise BlockedAddress(
                    f"Refusing to fetch {target.url}: host {target.host!r} resolves to "
                    f"{address}, a private, loopback or otherwise non-public address. If this "
                    f"source is meant to be on your network, add {target.netloc!r} (or the "
                    f"host alone, for any port) to EARSHOT_ALLOWED_PRIVATE_HOSTS.",
                    host=target.host,
                    address=address,
                )
    return addresses


# --- a budget for several requests ---------------------------------------------------------

# The monotonic time by which every request made in this context must be over (None: no
# budget). Set by fetch_budget() around a whole connector call, such as the check of a new
# source, which may make several requests that each would get the full fetch timeout.
_budget_ends: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "earshot_fetch_budget_ends", default=None
)


@contextlib.contextmanager
def fetch_budget(seconds: float) -> Iterator[None]:
    """Bound every safe_get/safe_post/safe_stream connect/WebSocket open in this context (and
    in threads started with a copy of it) to what is left of seconds. A request started once
    the budget is spent fails at once with FetchTimeout; a budget inside a budget never
    extends the outer one."""
    ends = time.monotonic() + seconds
    outer = _budget_ends.get()
    token = _budget_ends.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _budget_ends.reset(token)


def budgeted_timeout(timeout: float, url: str) -> float:
    """timeout, or what is left of the current fetch_budget if that is less. Raises
    FetchTimeout when the budget is already spent."""
    ends = _budget_ends.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise FetchTimeout(f"Ran out of time before fetching {url}.")
    return min(timeout, left)


# --- pinned connections -----------------------------------------------------------------


class _Deadline:
    """The wall-clock budget of one safe_get() call.

    Socket timeouts bound each recv(), not the total: a server dripping a byte a second never
    trips them. So a timer shuts down every socket of the call when the budget is spent,
    which makes whatever read is blocked in another frame fail at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter also tears down the SSL
    # object, which another thread may be reading from; shutting down the fd is enough to
    # wake that reader with an error.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlineMixin:
    """Registers each new socket with the call's _Deadline."""

    def __init__(self, *args: object, deadline: _Deadline, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._earshot_deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._earshot_deadline.watch(self.sock)  # type: ignore[attr-defined]


class _DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """An adapter that only ever connects to one already-checked address."""

    def __init__(self, target: _Target, address: str, deadline: _Deadline) -> None:
        super().__init__(max_retries=0)
        self._pool: HTTPConnectionPool
        if target.scheme == "https":
            # server_hostname -> SNI and, with urllib3 leaving check_hostname on, certificate
            # verification against the name the user gave, not the IP we connect to.
            self._pool = _PinnedHTTPSPool(
                address, target.port, maxsize=1, server_hostname=target.host, deadline=deadline
            )
        else:
            self._pool = _PinnedHTTPPool(address, target.port, maxsize=1, deadline=deadline)

    def get_connection_with_tls_context(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: object = None,
    ) -> HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()


def _open(
    target: _Target,
    addresses: list[str],
    *,
    headers: Mapping[str, str],
    deadline: _Deadline,
    timeout: float,
    verify: bool | str = True,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[requests.Response, _PinnedAdapter]:
    """Send a request (GET unless told) for target to the first checked address that answers.

    The caller must close both the response and the adapter. Addresses come from _resolve();
    nothing here looks the host name up again.
    """
    send_headers = CaseInsensitiveDict(headers)
    # The server sees the name the user gave; the socket goes to the address we checked.
    send_headers["Host"] = target.netloc
    last_error: Exception | None = None
    for address in addresses:
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        step = min(timeout, remaining)
        try:
            request = requests.Request(
                method, target.url_for_address(address), headers=dict(send_headers), data=body
            ).prepare()
        except (requests.RequestException, ValueError) as exc:
            # e.g. a header value with a newline: nothing was sent, and retrying cannot help.
            raise InvalidURL(f"Cannot build a request for {target.url}: {exc}") from None
        adapter = _PinnedAdapter(target, address, deadline)
        try:
            response = adapter.send(
                request, stream=True, timeout=(step, step), verify=verify, proxies={}
            )
        except requests.RequestException as exc:
            adapter.close()
            last_error = exc
            if isinstance(exc, requests.ReadTimeout):
                break  # the server accepted and stalled: another address will not be faster
            continue  # refused, unreachable, connect timeout: try the next address
        return response, adapter
    if deadline.expired or deadline.remaining() <= 0 or isinstance(last_error, requests.Timeout):
        raise FetchTimeout(
            f"Timed out after {deadline.seconds:g} s fetching {target.url} (EARSHOT_FETCH_TIMEOUT)."
        )
    if isinstance(last_error, requests.exceptions.SSLError):
        raise ConnectionFailed(
            f"TLS handshake or certificate verification failed for {target.host}: {last_error}"
        )
    raise ConnectionFailed(
        f"Could not connect to {target.netloc} ({', '.join(addresses)}): {last_error}"
    )


# --- status and body --------------------------------------------------------------------


def _format_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# An API's JSON error body is read up to this size for its error name and message.
_ERROR_BODY_BYTES = 4096
_ERROR_MESSAGE_CHARS = 300
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _error_detail(response: requests.Response, deadline: _Deadline) -> tuple[str, str]:
    """(error name, message) from a JSON error body, or ("", "").

    APIs say why they refused (Mastodon: {"error": "Validation failed: Text character limit
    of 500 exceeded"}; XRPC: {"error": "RecordNotFound", "message": "..."}), which is what an
    agent or admin needs to see. Best effort: a small, bounded read of JSON bodies only;
    anything odd gives nothing. The text is the server's: cut short and stripped of control
    characters here, escaped wherever it is shown.
    """
    if "json" not in response.headers.get("Content-Type", "").lower():
        return "", ""
    raw = b""
    try:
        for chunk in response.iter_content(1024):
            raw += chunk
            if len(raw) > _ERROR_BODY_BYTES or deadline.expired:
                return "", ""
        data = json_loads_bounded(raw, max_depth=API_JSON_MAX_DEPTH)
    except (requests.RequestException, ValueError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str):
            return ""
        return " ".join(_CONTROL_RE.sub(" ", value).split())[:_ERROR_MESSAGE_CHARS]

    name = text("error")
    return name, text("message") or text("error_description") or name


def _raise_for_status(
    status: int, response: requests.Response, url: str, *, deadline: _Deadline
) -> None:
    name, message = _error_detail(response, deadline)
    said = f" The server said: {message}" if message else ""
    details = {"http_status": status, "error_name": name}
    if status == 429:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        wait = f"; server asks to retry after {retry_after:g} s" if retry_after is not None else ""
        raise RateLimited(
            f"Rate limited by the server (HTTP 429) fetching {url}{wait}.{said}",
            retry_after=retry_after,
            **details,
        )
    if status >= 500:
        raise ServerError(
            f"Server error (HTTP {status}) fetching {url}; will retry later.{said}", **details
        )
    if status == 404:
        raise ClientError(
            f"Not found (HTTP 404): {url}. Check the URL; the source may have moved.{said}",
            **details,
        )
    if status == 410:
        raise ClientError(
            f"The feed is gone (HTTP 410): the server says {url} was removed for good. "
            f"Update or disable this source.{said}",
            **details,
        )
    if status in (401, 403):
        raise ClientError(
            f"Access denied (HTTP {status}) fetching {url}: the source needs credentials or "
            f"blocks us.{said}",
            **details,
        )
    if status >= 400:
        raise ClientError(f"Request refused (HTTP {status}) fetching {url}.{said}", **details)
    raise BadResponse(f"Unexpected HTTP status {status} fetching {url}.", http_status=status)


def _too_large(max_bytes: int, seen: str, status: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"Response larger than {_format_size(max_bytes)} limit; {seen} (EARSHOT_FETCH_MAX_BYTES).",
        max_bytes=max_bytes,
        http_status=status,
    )


def _read_body(
    response: requests.Response, *, max_bytes: int, deadline: _Deadline, url: str
) -> bytes:
    status = response.status_code
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, f"server announced {_format_size(int(declared))}", status)
    chunks: list[bytes] = []
    total = 0
    try:
        # iter_content decodes gzip/deflate, so the cap counts what we would hold in memory.
        for chunk in response.iter_content(_CHUNK_SIZE):
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(
                    max_bytes, f"connection closed after {_format_size(total)}", status
                )
            chunks.append(chunk)
            if deadline.expired:
                break
    except requests.RequestException as exc:
        if deadline.expired or _is_read_timeout(exc):
            raise FetchTimeout(
                f"Timed out after {deadline.seconds:g} s downloading {url} "
                f"({_format_size(total)} received; EARSHOT_FETCH_TIMEOUT).",
                http_status=status,
            ) from None
        if isinstance(exc, requests.exceptions.ContentDecodingError):
            raise BadResponse(
                f"Could not decompress the response from {url}: {exc}", http_status=status
            ) from None
        raise ConnectionFailed(
            f"Connection dropped while downloading {url} after {_format_size(total)}: {exc}",
            http_status=status,
        ) from None
    if deadline.expired:
        # The timer fired between reads: what we hold may be truncated.
        raise FetchTimeout(
            f"Timed out after {deadline.seconds:g} s downloading {url} "
            f"({_format_size(total)} received; EARSHOT_FETCH_TIMEOUT).",
            http_status=status,
        )
    return b"".join(chunks)


def _is_read_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ReadTimeoutError | requests.Timeout | socket.timeout):
            return True
        nested = current.args[0] if current.args else None
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return False


# --- entry point ------------------------------------------------------------------------


def _redirect_target(
    target: _Target,
    status: int,
    location: str | None,
    *,
    redirects: int,
    max_redirects: int,
    start_url: str,
    first_origin: tuple[str, str, int],
    request_headers: dict[str, str],
) -> _Target:
    """The next hop of a redirect, validated like the first URL (scheme and address) before
    any connection. Credentials are dropped from request_headers once a hop leaves the
    first origin, so a redirect cannot carry a token to another host."""
    if not location:
        raise BadResponse(
            f"Redirect (HTTP {status}) from {target.url} without a Location.", http_status=status
        )
    if redirects >= max_redirects:
        raise TooManyRedirects(
            f"Gave up after {max_redirects} redirects starting at {start_url} "
            f"(last: {target.url} -> {location}; EARSHOT_FETCH_MAX_REDIRECTS).",
            http_status=status,
        )
    next_target = _parse_url(urljoin(target.url, location))
    if next_target.origin != first_origin:
        for name in list(request_headers):
            if name.lower() in _ORIGIN_BOUND_HEADERS:
                del request_headers[name]
    return next_target


def safe_get(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    allowed_private_hosts: list[str] | None = None,
) -> HttpResponse:
    """GET url safely; see the module docstring. Raises ConnectorError subclasses only.

    timeout bounds the whole call (connect, redirects and body download together).
    A 304 answer to a conditional GET returns HttpResponse(status=304, body=b"").
    """
    timeout = float(settings.EARSHOT_FETCH_TIMEOUT if timeout is None else timeout)
    timeout = budgeted_timeout(timeout, url)
    max_bytes = int(settings.EARSHOT_FETCH_MAX_BYTES if max_bytes is None else max_bytes)
    allowed = list(
        settings.EARSHOT_ALLOWED_PRIVATE_HOSTS
        if allowed_private_hosts is None
        else allowed_private_hosts
    )
    max_redirects = int(settings.EARSHOT_FETCH_MAX_REDIRECTS)

    request_headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for name, value in (headers or {}).items():
        if name.lower() not in ("host", "accept-encoding"):
            request_headers[name] = value
    # Only encodings whose decoded size we bound while streaming.
    request_headers["Accept-Encoding"] = "gzip, deflate"
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified

    target = _parse_url(url)
    first_origin = target.origin
    deadline = _Deadline(timeout)
    try:
        redirects = 0
        while True:
            addresses = _resolve(target, allowed)
            response, adapter = _open(
                target, addresses, headers=request_headers, deadline=deadline, timeout=timeout
            )
            try:
                status = response.status_code
                if status in _REDIRECT_STATUSES:
                    target = _redirect_target(
                        target,
                        status,
                        response.headers.get("Location"),
                        redirects=redirects,
                        max_redirects=max_redirects,
                        start_url=url,
                        first_origin=first_origin,
                        request_headers=request_headers,
                    )
                    redirects += 1
                    continue
                if status == 304:
                    return HttpResponse(304, b"", response.headers, target.url)
                if not 200 <= status < 300:
                    _raise_for_status(status, response, target.url, deadline=deadline)
                body = _read_body(response, max_bytes=max_bytes, deadline=deadline, url=target.url)
                return HttpResponse(status, body, response.headers, target.url)
            finally:
                # Closing before reading the rest drops the connection: that is what stops
                # an endless or oversized body, and pools are never reused anyway.
                response.close()
                adapter.close()
    finally:
        deadline.cancel()


# --- posting ------------------------------------------------------------------------------


def safe_post(
    url: str,
    *,
    data: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    allowed_private_hosts: list[str] | None = None,
) -> HttpResponse:
    """POST data to url with safe_get's checks: scheme, SSRF, address pinning, deadline, cap.

    Redirects are not followed: replaying a POST (a reply, say) at another address is never
    what the caller meant, so a 3xx is a BadResponse. Raises ConnectorError subclasses only.
    """
    timeout = float(settings.EARSHOT_FETCH_TIMEOUT if timeout is None else timeout)
    timeout = budgeted_timeout(timeout, url)
    max_bytes = int(settings.EARSHOT_FETCH_MAX_BYTES if max_bytes is None else max_bytes)
    allowed = list(
        settings.EARSHOT_ALLOWED_PRIVATE_HOSTS
        if allowed_private_hosts is None
        else allowed_private_hosts
    )
    request_headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for name, value in (headers or {}).items():
        if name.lower() not in ("host", "accept-encoding", "content-length"):
            request_headers[name] = value
    request_headers["Accept-Encoding"] = "gzip, deflate"
    request_headers["Content-Type"] = content_type

    target = _parse_url(url)
    deadline = _Deadline(timeout)
    try:
        addresses = _resolve(target, allowed)
        response, adapter = _open(
            target,
            addresses,
            headers=request_headers,
            deadline=deadline,
            timeout=timeout,
            method="POST",
            body=data,
        )
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                raise BadResponse(
                    f"POST to {target.url} was redirected (HTTP {status}); not following.",
                    http_status=status,
                )
            if not 200 <= status < 300:
                _raise_for_status(status, response, target.url, deadline=deadline)
            body = _read_body(response, max_bytes=max_bytes, deadline=deadline, url=target.url)
            return HttpResponse(status, body, response.headers, target.url)
        finally:
            response.close()
            adapter.close()
    finally:
        deadline.cancel()


# --- streaming ----------------------------------------------------------------------------

# How often the stream watchdog looks at the stop event and the idle clock: the bound on how
# late a stop or an idle timeout is noticed.
_WATCH_INTERVAL = 0.1
_LINE_END_RE = re.compile(rb"\r\n|\r|\n")


class _StreamWatch(_Deadline):
    """A _Deadline for long-lived responses: a connect budget, then an idle clock and stop.

    Until connected() it behaves like a deadline of connect_timeout seconds. Afterwards the
    budget no longer applies; instead every socket is shut down when no byte has arrived for
    idle_timeout seconds or when stop is set, which wakes the reader blocked in recv() at once
    (the same mechanism the deadline uses, so no read blocks past either).
    """

    def __init__(
        self, connect_timeout: float, idle_timeout: float, stop: threading.Event | None
    ) -> None:
        self.idle_timeout = idle_timeout
        self.stop = stop
        self.idle_expired = False
        self._connected = False
        self._last_byte = time.monotonic()
        self._done = threading.Event()
        super().__init__(connect_timeout)
        # The base timer enforces the connect budget; this thread watches stop and idleness.
        self._watcher = threading.Thread(target=self._watch, name="safe_stream watch", daemon=True)
        self._watcher.start()

    def remaining(self) -> float:
        return super().remaining() if not self._connected else float(self.idle_timeout)

    def connected(self) -> None:
        self._timer.cancel()
        self._connected = True
        self._last_byte = time.monotonic()

    def got_bytes(self) -> None:
        self._last_byte = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL):
            stopping = self.stop is not None and self.stop.is_set()
            idle = self._connected and time.monotonic() - self._last_byte > self.idle_timeout
            if stopping or idle:
                with self._lock:
                    self.idle_expired = idle and not stopping
                    self.expired = True
                    for sock in self._sockets:
                        _shutdown(sock)
                return

    def cancel(self) -> None:
        self._done.set()
        super().cancel()


def safe_stream(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    connect_timeout: float | None = None,
    idle_timeout: float = 60.0,
    max_line_bytes: int = 1024 * 1024,
    allowed_private_hosts: list[str] | None = None,
    stop: threading.Event | None = None,
) -> Generator[bytes, None, None]:
    """GET a long-lived response (Server-Sent Events, JSON lines) and yield it line by line.

    The same URL and address checks as safe_get, made before any connection: http(s) only,
    SSRF refusal unless the host is in EARSHOT_ALLOWED_PRIVATE_HOSTS (or
    allowed_private_hosts), the socket pinned to the checked address, every redirect hop
    re-checked, and credentials dropped when a redirect leaves the first origin.

    Lines are yielded without their ending (CRLF, LF or CR). connect_timeout (default
    EARSHOT_FETCH_TIMEOUT) bounds connecting, redirects and the response headers. After that,
    no byte for idle_timeout seconds raises FetchTimeout (a drop: heartbeats count as bytes),
    a line longer than max_line_bytes raises ResponseTooLarge, and a broken connection raises
    ConnectionFailed. When stop is set the connection is closed within about 0.1 s and the
    iterator simply ends. The iterator also ends when the server closes the response cleanly:
    whether that is a drop is the caller's call. Closing the iterator closes the connection.
    Response bodies are not decompressed (we ask for identity): compression would hold back
    small events in the decoder.
    """
    connect_timeout = float(
        settings.EARSHOT_FETCH_TIMEOUT if connect_timeout is None else connect_timeout
    )
    connect_timeout = budgeted_timeout(connect_timeout, url)
    allowed = list(
        settings.EARSHOT_ALLOWED_PRIVATE_HOSTS
        if allowed_private_hosts is None
        else allowed_private_hosts
    )
    max_redirects = int(settings.EARSHOT_FETCH_MAX_REDIRECTS)
    request_headers: dict[str, str] = {
        "User-Agent": USER_AGENT,
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
    }
    for name, value in (headers or {}).items():
        if name.lower() not in ("host", "accept-encoding"):
            request_headers[name] = value
    request_headers["Accept-Encoding"] = "identity"

    target = _parse_url(url)
    first_origin = target.origin
    watch = _StreamWatch(connect_timeout, idle_timeout, stop)
    response: requests.Response | None = None
    adapter: _PinnedAdapter | None = None
    try:
        redirects = 0
        while True:
            if stop is not None and stop.is_set():
                return
            addresses = _resolve(target, allowed)
            try:
                response, adapter = _open(
                    target,
                    addresses,
                    headers=request_headers,
                    deadline=watch,
                    timeout=connect_timeout,
                )
            except (FetchTimeout, ConnectionFailed):
                if stop is not None and stop.is_set():
                    return  # we cut the connect short ourselves
                raise
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("Location")
                response.close()
                adapter.close()
                response = adapter = None
                target = _redirect_target(
                    target,
                    status,
                    location,
                    redirects=redirects,
                    max_redirects=max_redirects,
                    start_url=url,
                    first_origin=first_origin,
                    request_headers=request_headers,
                )
                redirects += 1
                continue
            if not 200 <= status < 300:
                _raise_for_status(status, response, target.url, deadline=watch)
            break
        watch.connected()
        # Silence is the watchdog's to judge (idle_timeout); the socket timeout is only a
        # backstop in case the watchdog thread could not run.
        with watch._lock:
            for sock in watch._sockets:
                with contextlib.suppress(OSError):
                    sock.settimeout(idle_timeout + 5)
        yield from _stream_lines(response, watch, target.url, max_line_bytes)
    finally:
        watch.cancel()
        if response is not None:
            response.close()
        if adapter is not None:
            adapter.close()


def _stream_lines(
    response: requests.Response, watch: _StreamWatch, url: str, max_line_bytes: int
) -> Iterator[bytes]:
    raw = response.raw
    buffer = b""
    received = 0
    while True:
        try:
            # read1: whatever one recv() brings (one chunk when chunked), so an event is
            # handed on as soon as it arrives instead of waiting to fill a buffer.
            chunk = raw.read1(_CHUNK_SIZE)
        except (OSError, requests.RequestException, urllib3_exceptions.HTTPError) as exc:
            if watch.stop is not None and watch.stop.is_set():
                return
            if watch.idle_expired or _is_read_timeout(exc):
                raise FetchTimeout(
                    f"No data for {watch.idle_timeout:g} s on the stream {url} "
                    f"({_format_size(received)} received); treating it as dropped.",
                    http_status=response.status_code,
                ) from None
            raise ConnectionFailed(
                f"Stream {url} dropped after {_format_size(received)}: {exc}",
                http_status=response.status_code,
            ) from None
        if watch.stop is not None and watch.stop.is_set():
            return
        if not chunk:
            if watch.idle_expired:
                raise FetchTimeout(
                    f"No data for {watch.idle_timeout:g} s on the stream {url}; "
                    "treating it as dropped.",
                    http_status=response.status_code,
                )
            if buffer:
                yield buffer.rstrip(b"\r")
            return
        watch.got_bytes()
        received += len(chunk)
        buffer += chunk
        while True:
            match = _LINE_END_RE.search(buffer)
            # A CR at the very end may be the first half of a CRLF split across reads.
            if match is None or (match.group() == b"\r" and match.end() == len(buffer)):
                break
            line, buffer = buffer[: match.start()], buffer[match.end() :]
            yield line
            if watch.stop is not None and watch.stop.is_set():
                return
        if len(buffer) > max_line_bytes:
            raise ResponseTooLarge(
                f"A line of the stream {url} is longer than {_format_size(max_line_bytes)}.",
                max_bytes=max_line_bytes,
                http_status=response.status_code,
            )
