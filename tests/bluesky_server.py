"""A real local XRPC server doing what a Bluesky PDS does for replies, for the reply tests.

It implements com.atproto.server.createSession, app.bsky.feed.getPosts (the PDS proxies it to
the AppView; here it serves recorded real postViews), com.atproto.repo.getRecord and
com.atproto.repo.createRecord with an in-memory repo, with the answers and error names a PDS
gives. Tests use it through serve_pds(), which also lets safe_get/safe_post reach it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from listening.connectors.bluesky import sessions_forget
from tests.feedserver import JsonApiHandler, serving

IDENTIFIER = "acme.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
# The account's own password: a PDS with email 2FA asks for a code instead of signing in.
ACCOUNT_PASSWORD = "correct-horse-battery"
DID = "did:plc:acmebrandtestaccount0001"


def _jwt(claims: dict[str, Any]) -> str:
    """Shaped like the real thing (three base64url parts); nothing checks the signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}.c2lnbmF0dXJl"


_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_RESPONSES = "api_bluesky/xrpc/responses"


def recorded_posts(shared_data: Path) -> dict[str, dict[str, Any]]:
    """The recorded real postViews (searchPosts' 25 and getPosts' one), by uri."""
    posts: dict[str, dict[str, Any]] = {}
    for name in (
        "f_search__00_GET_bsky_social_xrpc_app_bsky_feed_searchPosts.json",
        "f_getposts__00_GET_bsky_social_xrpc_app_bsky_feed_getPosts.json",
    ):
        data = json.loads((shared_data / _RESPONSES / name).read_text("utf-8"))
        for view in data["posts"]:
            posts.setdefault(view["uri"], view)
    return posts


def _cid(value: object) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")


class _PdsHandler(JsonApiHandler):
    server: PdsServer

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET", b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._handle("POST", self.rfile.read(length) if length else b"")

    def _handle(self, method: str, raw: bytes) -> None:
        parts = urlsplit(self.path)
        name = parts.path.removeprefix("/xrpc/")
        query = parse_qs(parts.query)
        body = json.loads(raw) if raw else None
        pds = self.server
        with pds.lock:
            pds.requests.append({"method": method, "name": name, "query": query, "body": body})
            failure = pds.fail.get(name)
            answer = pds.answer.get(name)
        if answer:
            self.send_json(*answer)
            return
        if failure:
            self.send_json(failure, {"error": "InternalServerError", "message": "Try again later"})
            return
        handler = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("GET", "app.bsky.feed.getPosts"): self._get_posts,
            ("GET", "com.atproto.repo.getRecord"): self._get_record,
            ("POST", "com.atproto.repo.createRecord"): self._create_record,
        }.get((method, name))
        if handler is None:
            self.send_json(
                501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}
            )
            return
        status, payload = handler(query, body)
        self.send_json(status, payload)

    def _authorized(self) -> bool:
        with self.server.lock:
            valid = {f"Bearer {token}" for token in self.server.sessions}
        return self.headers.get("Authorization") in valid

    def _create_session(self, query: dict, body: Any) -> tuple[int, dict]:
        body = body if isinstance(body, dict) else {}
        if body.get("identifier") in (IDENTIFIER, DID) and body.get("password") == APP_PASSWORD:
            server = self.server
            with server.lock:
                expires = int(time.time()) + server.token_seconds
                claims = {"scope": "com.atproto.appPass", "sub": DID, "exp": expires}
                token = _jwt({**claims, "jti": len(server.sessions)})
                server.sessions.append(token)
            return 200, {
                "accessJwt": token,
                "refreshJwt": token + "r",
                "handle": self.server.handle,
                "did": DID,
                "active": True,
            }
        if body.get("password") == ACCOUNT_PASSWORD:
            return 401, {
                "error": "AuthFactorTokenRequired",
                "message": "A sign in code has been sent to your email address",
            }
        return 401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}

    def _get_posts(self, query: dict, body: Any) -> tuple[int, dict]:
        if not self._authorized():
            return 401, {"error": "AuthenticationRequired", "message": "Authentication Required"}
        uris = query.get("uris", [])
        return 200, {"posts": [self.server.posts[u] for u in uris if u in self.server.posts]}

    def _get_record(self, query: dict, body: Any) -> tuple[int, dict]:
        repo, collection, rkey = (query.get(k, [""])[0] for k in ("repo", "collection", "rkey"))
        with self.server.lock:
            stored = self.server.repo.get((repo, collection, rkey))
        if stored is None:
            uri = f"at://{repo}/{collection}/{rkey}"
            return 400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"}
        return 200, stored

    def _create_record(self, query: dict, body: Any) -> tuple[int, dict]:
        if not self._authorized():
            return 401, {"error": "AuthenticationRequired", "message": "Authentication Required"}
        body = body if isinstance(body, dict) else {}
        repo, collection = body.get("repo"), body.get("collection")
        rkey, record = body.get("rkey"), body.get("record")
        if repo != DID:
            return 401, {"error": "AuthenticationRequired", "message": "Not your repo"}
        if not isinstance(rkey, str) or not _TID_RE.match(rkey):
            return 400, {"error": "InvalidRequest", "message": f"Invalid record key: {rkey}"}
        uri = f"at://{repo}/{collection}/{rkey}"
        with self.server.lock:
            if (repo, collection, rkey) in self.server.repo:
                return 400, {"error": "InvalidRequest", "message": f"Record already exists: {uri}"}
            cid = _cid(record)
            self.server.repo[(repo, collection, rkey)] = {"uri": uri, "cid": cid, "value": record}
            if self.server.lose_create_answers > 0:
                # Posted, but the answer never reaches the caller (a proxy timing out).
                self.server.lose_create_answers -= 1
                return 502, {"error": "UpstreamFailure", "message": "Bad Gateway"}
        return 200, {"uri": uri, "cid": cid, "validationStatus": "valid"}


class PdsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, posts: dict[str, dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _PdsHandler)
        self.lock = threading.Lock()
        self.posts = posts
        self.handle = IDENTIFIER
        # (repo, collection, rkey) -> {"uri", "cid", "value"}, as getRecord answers.
        self.repo: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        # XRPC method name -> HTTP status to fail it with.
        self.fail: dict[str, int] = {}
        # XRPC method name -> (HTTP status, JSON error body) to answer with instead.
        self.answer: dict[str, tuple[int, dict[str, Any]]] = {}
        # createRecord calls that store the record and then answer 502 anyway.
        self.lose_create_answers = 0
        # Access tokens handed out and still accepted (revoke_sessions() forgets them all),
        # and how long each is valid (its "exp" claim), as the PDS says in the token.
        self.sessions: list[str] = []
        self.token_seconds = 7200
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["name"] == name]

    def revoke_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.repo.values())


@contextmanager
def serve_pds(settings: Any, posts: dict[str, dict[str, Any]]) -> Iterator[PdsServer]:
    """Run a PdsServer serving posts, reachable by safe_get/safe_post (settings: the
    pytest-django fixture, restored after the test)."""
    sessions_forget()
    server = PdsServer(posts)
    with serving(server, settings):
        yield server
