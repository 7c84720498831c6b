"""LocalFeedServer: a real HTTP server on 127.0.0.1 for tests that fetch feeds.

Tests talk to it through the real network stack instead of mocking requests, so redirects,
conditional GET, compression, slow servers and oversized bodies are exercised the way they
happen in production. Each connection is handled in its own daemon thread; every response
closes its connection, which keeps lying Content-Length and endless bodies simple.
"""

from __future__ import annotations

import gzip as gzip_module
import json
import mimetypes
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["JsonApiHandler", "LocalFeedServer", "RecordedRequest", "serving"]

# mimetypes does not know feed extensions on every platform.
_FEED_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".opml": "text/x-opml",
}
# Errors that only mean "the client went away", which tests cause on purpose.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


@dataclass(slots=True)
class RecordedRequest:
    path: str  # as sent, query string included
    headers: dict[str, str]  # names as the client spelt them; see header() for lookups
    method: str

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


@dataclass(slots=True)
class _Static:
    body: bytes
    status: int
    content_type: str
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    gzip: bool
    delay: float
    drip_bytes_per_s: float | None
    content_length: int | None


@dataclass(slots=True)
class _Endless:
    chunk: bytes


@dataclass(slots=True)
class _Directory:
    directory: Path
    content_type: str | None


@dataclass
class _State:
    routes: dict[str, _Static | _Endless] = field(default_factory=dict)
    directories: dict[str, _Directory] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints a traceback to stderr; the tests disconnect on purpose.
        pass


@contextmanager
def serving(server: ThreadingHTTPServer, settings) -> Iterator[None]:
    """Serve in a daemon thread, reachable by safe_get/safe_post (settings: pytest-django's
    fixture, which restores the allowlist after the test); shut down and closed after."""
    settings.EARSHOT_ALLOWED_PRIVATE_HOSTS = [f"127.0.0.1:{server.server_address[1]}"]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class JsonApiHandler(BaseHTTPRequestHandler):
    """Base of the tests' small API servers (a Mastodon instance, a Bluesky PDS): quiet, and
    answering JSON on connections it closes."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def send_json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(send_body=True)

    # --- dispatch ---

    def _answer(self, *, send_body: bool) -> None:
        state = self.server.state
        self.close_connection = True
        with state.lock:
            state.requests.append(
                RecordedRequest(self.path, dict(self.headers.items()), self.command)
            )
            route = state.routes.get(self.path) or state.routes.get(urlsplit(self.path).path)
            directories = dict(state.directories)
        try:
            if isinstance(route, _Endless):
                self._send_endless(route)
            elif isinstance(route, _Static):
                self._send_static(route, send_body=send_body)
            else:
                found = self._find_file(directories)
                if found is None:
                    self._send_simple(404, b"not found\n", "text/plain", send_body=send_body)
                else:
                    path, content_type = found
                    self._send_simple(200, path.read_bytes(), content_type, send_body=send_body)
        except _DISCONNECTS:
            pass

    def _find_file(self, directories: dict[str, _Directory]) -> tuple[Path, str] | None:
        path = urlsplit(self.path).path
        for prefix, entry in directories.items():
            if not path.startswith(prefix):
                continue
            root = entry.directory.resolve()
            candidate = (root / path[len(prefix) :].lstrip("/")).resolve()
            if not candidate.is_relative_to(root) or not candidate.is_file():
                continue
            content_type = (
                entry.content_type
                or _FEED_TYPES.get(candidate.suffix.lower())
                or mimetypes.guess_type(candidate.name)[0]
                or "application/octet-stream"
            )
            return candidate, content_type
        return None

    # --- responses ---

    def _send_simple(self, status: int, body: bytes, content_type: str, *, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _not_modified(self, route: _Static) -> bool:
        if route.etag is not None:
            sent = self.headers.get("If-None-Match")
            if sent is not None:
                tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
                return "*" in tags or route.etag.removeprefix("W/") in tags
        if route.last_modified is not None:
            return self.headers.get("If-Modified-Since") == route.last_modified
        return False

    def _send_static(self, route: _Static, *, send_body: bool) -> None:
        if route.delay and self.server.state.stopping.wait(route.delay):
            return
        if self._not_modified(route):
            self.send_response(304)
            if route.etag is not None:
                self.send_header("ETag", route.etag)
            self.send_header("Connection", "close")
            self.end_headers()
            return
        body = gzip_module.compress(route.body) if route.gzip else route.body
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        length = len(body) if route.content_length is None else route.content_length
        self.send_header("Content-Length", str(length))
        if route.gzip:
            self.send_header("Content-Encoding", "gzip")
        if route.etag is not None:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None:
            self.send_header("Last-Modified", route.last_modified)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if not send_body:
            return
        if not route.drip_bytes_per_s:
            self.wfile.write(body)
            return
        # Ten writes a second (at least a byte each) approximates the requested rate.
        step = max(1, int(route.drip_bytes_per_s / 10))
        pause = step / route.drip_bytes_per_s
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            if self.server.state.stopping.wait(pause):
                return

    def _send_endless(self, route: _Endless) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        frame = f"{len(route.chunk):x}\r\n".encode() + route.chunk + b"\r\n"
        # Runs until the client hangs up (the write fails) or the server closes.
        while not self.server.state.stopping.is_set():
            self.wfile.write(frame)


class LocalFeedServer:
    """A threaded HTTP server on 127.0.0.1 with routes tests configure."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """ssl_context (server side) makes it an https server, for certificate tests."""
        self._state = _State()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self._state
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.host: str = "127.0.0.1"
        self.port: int = self._server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.base_url = f"{scheme}://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalFeedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> LocalFeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
        drip_bytes_per_s: float | None = None,
        content_length: int | None = None,
    ) -> str:
        """Serve body at path (replacing any earlier route there); returns the URL."""
        path = path if path.startswith("/") else "/" + path
        if isinstance(body, str):
            body = body.encode("utf-8")
        route = _Static(
            body=body,
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            delay=delay,
            drip_bytes_per_s=drip_bytes_per_s,
            content_length=content_length,
        )
        with self._state.lock:
            self._state.routes[path] = route
        return self.url(path)

    def add_redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(
            path, b"", status=status, content_type="text/plain", headers={"Location": location}
        )

    def add_directory(self, prefix: str, directory: Path, content_type: str | None = None) -> None:
        """Serve every file below directory under prefix ("/fixtures/" + relative path)."""
        prefix = "/" + prefix.strip("/") + "/"
        with self._state.lock:
            self._state.directories[prefix] = _Directory(Path(directory), content_type)

    def add_endless(self, path: str, chunk: bytes = b"<item>x</item>" * 100) -> str:
        """Stream chunk forever (chunked encoding) until the client disconnects."""
        path = path if path.startswith("/") else "/" + path
        with self._state.lock:
            self._state.routes[path] = _Endless(chunk)
        return self.url(path)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests for path; a path without "?" matches whatever query string was sent."""
        with self._state.lock:
            recorded = list(self._state.requests)
        if "?" in path:
            return [r for r in recorded if r.path == path]
        return [r for r in recorded if urlsplit(r.path).path == path]

    def close(self) -> None:
        # Wake sleeping and endless handlers first so no thread lingers past the test.
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
