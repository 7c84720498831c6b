"""Safe WebSocket connections for live connectors (Jetstream, ...).

A stream URL is typed in by users just like a feed URL, so opening it is a connection the
*internet* asks us to make from inside our network. safe_websocket_connect() applies the same
rules as http.safe_get():

* only ws:// and wss:// URLs, without credentials, parsed once by http._parse_url;
* the host is resolved by http._resolve, which refuses private, loopback, link-local...
  addresses (SSRF) unless the admin allowed the host in EARSHOT_ALLOWED_PRIVATE_HOSTS;
* we open the TCP socket ourselves to exactly the address that was checked and hand it to
  websockets (``sock=``), so the library never resolves the name again (no DNS-rebinding
  window). For wss the TLS handshake uses ``server_hostname=<host>``: SNI and certificate
  verification are against the name the user gave, not the IP;
* redirects are not followed (websockets refuses to with a preexisting socket), proxies from
  the environment are not used, incoming messages are capped in size (after decompression),
  and the TCP connect, the opening handshake and the closing handshake are all time-bounded;
* every failure is one of the http.py ConnectorError types, so the fetch log and the stream
  supervisor's backoff treat a WebSocket like any other source.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping

from django.conf import settings
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from listening.connectors.http import (
    USER_AGENT,
    BlockedAddress,
    ClientError,
    ConnectionFailed,
    FetchTimeout,
    InvalidURL,
    RateLimited,
    ServerError,
    _parse_url,
    _resolve,
    _Target,
    budgeted_timeout,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "BlockedAddress",
    "ConnectionFailed",
    "FetchTimeout",
    "InvalidURL",
    "parse_ws_url",
    "safe_websocket_connect",
]

# Jetstream events are a few KB; a post record is capped far below this by the PDS. 1 MiB
# (websockets' own default) leaves room for large records without letting one frame (or a
# compressed bomb: websockets counts decompressed bytes) take the worker's memory.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

_WS_TO_HTTP = {"ws": "http", "wss": "https"}
_HTTP_TO_WS = {"http": "ws", "https": "wss"}


def parse_ws_url(url: str) -> tuple[_Target, str]:
    """Validate a ws(s) URL with http._parse_url; return its target and the URL to send.

    _parse_url only knows http(s), so the scheme is swapped for the check and back for the
    handshake. The returned URL is rebuilt from the parsed parts (IDNA host, no fragment), so
    the Host header names exactly the host whose addresses were checked.
    """
    if not isinstance(url, str):
        raise InvalidURL("Empty URL.")
    scheme, sep, rest = url.strip().partition("://")
    http_scheme = _WS_TO_HTTP.get(scheme.lower()) if sep else None
    if http_scheme is None:
        raise InvalidURL(
            f"Only ws:// and wss:// URLs can be streamed, not {scheme.lower() or 'no'} scheme."
        )
    target = _parse_url(f"{http_scheme}://{rest}")
    ws_scheme = _HTTP_TO_WS[target.scheme]
    return target, f"{ws_scheme}://{target.netloc}{target.path}"


def _connect_tcp(target: _Target, addresses: list[str], timeout: float) -> socket.socket:
    """Open a TCP connection to the first checked address that answers."""
    last_error: OSError | None = None
    timed_out = False
    for address in addresses:
        try:
            # create_connection with a literal address does no name lookup.
            return socket.create_connection((address, target.port), timeout=timeout)
        except TimeoutError as exc:
            last_error, timed_out = exc, True
        except OSError as exc:
            last_error = exc
    if timed_out:
        raise FetchTimeout(
            f"Timed out after {timeout:g} s connecting to {target.netloc} ({', '.join(addresses)})."
        )
    raise ConnectionFailed(
        f"Could not connect to {target.netloc} ({', '.join(addresses)}): {last_error}"
    )


def _handshake_error(exc: InvalidStatus, url: str) -> Exception:
    status = exc.response.status_code
    if status == 429:
        retry_after = exc.response.headers.get("Retry-After", "")
        return RateLimited(
            f"Rate limited by the server (HTTP 429) opening {url}.",
            retry_after=float(retry_after) if retry_after.isdigit() else None,
        )
    if status >= 500:
        return ServerError(
            f"Server error (HTTP {status}) opening {url}; will retry later.", http_status=status
        )
    if 300 <= status < 400:
        # Not followed on purpose: the new location would need its own address check.
        location = exc.response.headers.get("Location", "")
        return ConnectionFailed(
            f"{url} redirects (HTTP {status}) to {location or 'nowhere'}; redirects are not "
            "followed for streams: use the final URL.",
            http_status=status,
        )
    return ClientError(
        f"The server refused the WebSocket handshake (HTTP {status}) for {url}.",
        http_status=status,
    )


def safe_websocket_connect(
    url: str,
    *,
    timeout: float | None = None,
    allowed_private_hosts: list[str] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    headers: Mapping[str, str] | None = None,
    close_timeout: float = 2.0,
) -> ClientConnection:
    """Open a WebSocket to url safely (see the module docstring); the caller closes it.

    timeout bounds the TCP connect and, separately, the TLS + opening handshake (default
    EARSHOT_FETCH_TIMEOUT). close_timeout bounds the closing handshake, which keeps shutdown
    prompt even when the server never answers our close frame. Keepalive pings (every 20 s,
    20 s to answer) detect a silently dead connection: the next recv() then raises
    ConnectionClosed.

    Raises InvalidURL, BlockedAddress, ConnectionFailed, FetchTimeout, and for an HTTP
    answer instead of an upgrade RateLimited (429), ServerError (5xx) or ClientError.
    """
    timeout = budgeted_timeout(
        float(settings.EARSHOT_FETCH_TIMEOUT if timeout is None else timeout), url
    )
    allowed = list(
        settings.EARSHOT_ALLOWED_PRIVATE_HOSTS
        if allowed_private_hosts is None
        else allowed_private_hosts
    )
    target, ws_url = parse_ws_url(url)
    addresses = _resolve(target, allowed)  # raises BlockedAddress before any connect
    sock = _connect_tcp(target, addresses, timeout)
    try:
        return _handshake(sock, target, ws_url, timeout, close_timeout, max_message_bytes, headers)
    except BaseException:
        # websockets closes the socket on most failures but not all (a URI it rejects before
        # touching the socket); close() is idempotent.
        sock.close()
        raise


def _handshake(
    sock: socket.socket,
    target: _Target,
    ws_url: str,
    timeout: float,
    close_timeout: float,
    max_message_bytes: int,
    headers: Mapping[str, str] | None,
) -> ClientConnection:
    tls = ssl.create_default_context() if target.scheme == "https" else None
    try:
        return connect(
            ws_url,
            sock=sock,
            ssl=tls,
            server_hostname=target.host if tls is not None else None,
            # Environment proxies would connect somewhere we did not check.
            proxy=None,
            additional_headers=dict(headers or {}),
            user_agent_header=USER_AGENT,
            open_timeout=timeout,
            close_timeout=close_timeout,
            max_size=max_message_bytes,
            legacy=True,
        )
    except InvalidStatus as exc:
        raise _handshake_error(exc, ws_url) from None
    except ValueError as exc:
        # websockets refuses to follow a redirect with a preexisting socket (ValueError
        # caused by the InvalidStatus): report the redirect like any other.
        if isinstance(exc.__cause__, InvalidStatus):
            raise _handshake_error(exc.__cause__, ws_url) from None
        raise ConnectionFailed(f"Could not open {ws_url}: {exc}") from None
    except TimeoutError:
        raise FetchTimeout(f"Timed out after {timeout:g} s opening {ws_url}.") from None
    except ssl.SSLError as exc:
        raise ConnectionFailed(
            f"TLS handshake or certificate verification failed for {target.host}: {exc}"
        ) from None
    except (InvalidHandshake, InvalidURI, OSError) as exc:
        raise ConnectionFailed(f"WebSocket handshake with {ws_url} failed: {exc}") from None
