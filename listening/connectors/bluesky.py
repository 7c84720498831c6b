"""Bluesky: polled search (AppView searchPosts) and the live Jetstream firehose.

BlueskyConnector ("bluesky") polls ``app.bsky.feed.searchPosts`` on an AppView (the public one
by default) for the brand's terms. JetstreamConnector ("jetstream") consumes Jetstream, the
JSON re-encoding of the network's firehose, over a WebSocket and keeps every new post; Earshot
matches the brand queries locally, as for every source.

Both reply, as the brand's account, through that account's PDS (see _BlueskyReplies.reply):
the AppView and Jetstream are read-only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from websockets.exceptions import ConnectionClosed

from listening.connectors.base import (
    ConfigError,
    ConfigField,
    Connector,
    FetchedPage,
    RawItem,
    ReplyResult,
    SourceState,
    SourceUnavailable,
    StreamBatch,
    StreamConnector,
    cursor_load,
    datetime_from_unix,
)
from listening.connectors.http import (
    BadResponse,
    ClientError,
    ConnectorError,
    HttpResponse,
    InvalidURL,
    safe_get,
    safe_post,
)
from listening.connectors.values import json_count, json_str
from listening.connectors.websocket import parse_ws_url, safe_websocket_connect
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded

__all__ = [
    "BlueskyConnector",
    "JetstreamConnector",
    "link_facets",
    "reply_rkey",
    "tid_decode",
    "tid_encode",
]

logger = logging.getLogger(__name__)

_POST_COLLECTION = "app.bsky.feed.post"
_WEB = "https://bsky.app"
# History fetched on a first poll when the service does not say (SourceState.backfill_since).
_DEFAULT_BACKFILL = timedelta(days=30)
# searchPosts' maximum page size.
_PAGE_SIZE = 100
# app.bsky.actor.getProfiles accepts at most 25 actors per request.
_PROFILES_PER_REQUEST = 25
_PROFILE_CACHE_SECONDS = 3600.0
_PROFILE_CACHE_MAX = 50_000
# Forward polls ask for posts since the newest one seen minus this overlap: the search index
# is not strictly in order (a post indexed a moment late would otherwise fall in the gap).
# What the overlap fetches again is recognised by external_id and not stored twice.
_FORWARD_OVERLAP = timedelta(minutes=2)
# One run (a backfill, or a forward poll after a long outage) stops after this many pages:
# the AppView stops paginating deep result sets anyway, and a server that keeps handing out
# cursors must not keep a source paging forever.
_MAX_RUN_PAGES = 100
# Terms that need quoting in searchPosts' Lucene-like syntax (spaces, operators, quotes).
_BARE_TERM_RE = re.compile(r"^[\w#@.'-]+$")
# Where accounts live unless the source names another PDS.
_DEFAULT_PDS = "https://bsky.social"
# Bluesky's post limit is 300 graphemes; counting characters is stricter, never looser, for
# the text agents write (combining sequences are rare in replies).
_REPLY_MAX_CHARS = 300
_POST_URI_RE = re.compile(r"^at://([^/\s]+)/app\.bsky\.feed\.post/([^/\s]+)$")
# http(s) URLs in a reply, made clickable with link facets. Trailing punctuation is left out:
# "see https://acme.example/help." links to .../help, as the Bluesky app does.
_LINK_RE = re.compile(r"https?://[^\s<>\"]+")
_LINK_TRAILING = ".,;:!?)]}'\""
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sign-ins are rate-limited per account (on bsky.social about 30 per 5 minutes and 300 a day),
# so a worker process keeps an account's session and reuses it for later replies until shortly
# before its access token expires (the token's own "exp"; this long when it does not say).
_SESSION_FALLBACK_SECONDS = 15 * 60
_SESSION_MARGIN_SECONDS = 60
_sessions: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
_sessions_lock = threading.Lock()


def sessions_forget() -> None:
    """Drop every kept session (a test's server on a reused port must not get a stale one)."""
    with _sessions_lock:
        _sessions.clear()


def _token_expiry(token: str) -> float | None:
    """The exp claim (Unix seconds) of a JWT, read without checking the signature (the PDS
    checks it; we only need to know when to stop using it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
    except (IndexError, ValueError, AttributeError, TypeError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _parse_datetime(value: object) -> datetime | None:
    """An AT Protocol datetime (ISO 8601) as an aware datetime, or None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The lexicon requires an offset, but records are written by arbitrary clients.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _first_language(record: Mapping[str, Any]) -> str:
    langs = record.get("langs")
    if isinstance(langs, list) and langs and isinstance(langs[0], str):
        return langs[0]
    return ""


def _reply_uris(record: Mapping[str, Any]) -> tuple[str, str]:
    """(parent uri, root uri) of a reply record, ("", "") for a top-level post."""
    reply = record.get("reply")
    if not isinstance(reply, dict):
        return "", ""

    def uri(ref: object) -> str:
        value = ref.get("uri") if isinstance(ref, dict) else None
        return json_str(value)

    return uri(reply.get("parent")), uri(reply.get("root"))


def build_query(terms: Iterable[str]) -> str:
    """OR the search terms in searchPosts syntax; phrases and operator-like terms quoted."""
    parts: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        if not term:
            continue
        if _BARE_TERM_RE.match(term) and term.upper() not in ("OR", "AND", "NOT"):
            parts.append(term)
        else:
            parts.append('"' + term.replace('"', " ").strip() + '"')
    return " OR ".join(dict.fromkeys(parts))


# --- replying -------------------------------------------------------------------------------


def tid_encode(micros: int, clock_id: int) -> str:
    """An atproto TID: 0, 53 bits of microseconds since the epoch, a 10-bit clock id, written
    as 13 base32-sortable characters, most significant first (https://atproto.com/specs/tid).
    """
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def tid_decode(tid: str) -> tuple[int, int]:
    """(microseconds since the epoch, clock id) of a TID; ValueError when it is not one."""
    if len(tid) != 13 or tid[0] not in _TID_ALPHABET[:16]:
        raise ValueError(f"{tid!r} is not a TID")
    value = 0
    for char in tid:
        digit = _TID_ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"{tid!r} is not a TID")
        value = (value << 5) | digit
    return value >> 10, value & 0x3FF


def reply_rkey(*, key: str, created_at: datetime) -> str:
    """The record key of a reply: the same for every attempt at one reply (key, created_at),
    so that a retry can find what an earlier attempt posted instead of posting it again."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return tid_encode(micros, zlib.crc32(key.encode("utf-8")) & 0x3FF)


def link_facets(text: str) -> list[dict[str, Any]]:
    """app.bsky.richtext.facet links for the http(s) URLs in text.

    Without facets Bluesky shows URLs as plain text. Facet offsets count UTF-8 bytes, not
    characters, so an emoji or accented letter before a link moves it.
    """
    facets: list[dict[str, Any]] = []
    for match in _LINK_RE.finditer(text):
        uri = match.group().rstrip(_LINK_TRAILING)
        if len(uri) <= len("https://"):
            continue
        start = len(text[: match.start()].encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(uri.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
            }
        )
    return facets


def _xrpc_json(response: HttpResponse, method: str) -> dict[str, Any]:
    try:
        data = json_loads_bounded(response.body, max_depth=API_JSON_MAX_DEPTH)
    except ValueError as exc:
        raise BadResponse(
            f"{method} answered something that is not JSON: {exc}", http_status=response.status
        ) from None
    if not isinstance(data, dict):
        raise BadResponse(f"{method} answered JSON that is not an object.")
    return data


def _strong_ref(value: object) -> dict[str, str] | None:
    """{uri, cid} of a com.atproto.repo.strongRef, None when it is not one."""
    if not isinstance(value, dict):
        return None
    uri, cid = value.get("uri"), value.get("cid")
    if not isinstance(uri, str) or not uri.startswith("at://") or not isinstance(cid, str):
        return None
    return {"uri": uri, "cid": cid}


# --- polled search --------------------------------------------------------------------------


@dataclass(slots=True)
class _SearchCursor:
    """BlueskyConnector's cursor, stored as small JSON.

    A *run* walks searchPosts from the newest post down to ``floor`` (backfill_since on the
    first poll, the newest post seen before, minus an overlap, afterwards), one page per fetch,
    following the API's cursor in ``page``. ``top`` is the newest post of the current run; when
    the run ends it becomes ``newest`` and ``page`` is cleared. A run longer than the service's
    pages per poll simply continues at the next poll.
    """

    newest: str = ""  # indexedAt of the newest post stored so far (ISO), "" before any
    floor: str = ""  # lower bound of the current run (ISO), "" when no run is in progress
    page: str = ""  # the API's cursor for the next page of the current run
    top: str = ""  # newest indexedAt seen in the current run
    pages: int = 0  # pages fetched in the current run, for progress
    backfill: bool = False  # the current run is the first-poll history backfill

    @classmethod
    def load(cls, raw: str) -> _SearchCursor:
        data = cursor_load(raw, kind="bluesky")
        if data is None:
            # Start a forward poll from a day back rather than a whole new backfill.
            return cls(newest=_iso(datetime.now(UTC) - timedelta(days=1)))
        if not data:
            return cls()
        return cls(
            newest=str(data.get("newest") or ""),
            floor=str(data.get("floor") or ""),
            page=str(data.get("page") or ""),
            top=str(data.get("top") or ""),
            pages=int(data.get("pages") or 0),
            backfill=bool(data.get("backfill")),
        )

    def dump(self) -> str:
        data: dict[str, Any] = {"newest": self.newest}
        if self.floor:
            data.update(floor=self.floor, page=self.page, top=self.top, pages=self.pages)
            if self.backfill:
                data["backfill"] = True
        return json.dumps(data, separators=(",", ":"))


@dataclass(slots=True)
class _ProfileCache:
    """Followers counts by DID for an hour; shared by every fetch of one connector instance."""

    entries: dict[tuple[str, str], tuple[int | None, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str]) -> tuple[bool, int | None]:
        with self.lock:
            entry = self.entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key: tuple[str, str], followers: int | None) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.entries) >= _PROFILE_CACHE_MAX:
                # Drop expired entries, then the oldest half if still full: bounded memory in
                # a long-lived worker.
                self.entries = {k: v for k, v in self.entries.items() if v[1] >= now}
                if len(self.entries) >= _PROFILE_CACHE_MAX:
                    ordered = sorted(self.entries.items(), key=lambda kv: kv[1][1])
                    self.entries = dict(ordered[len(ordered) // 2 :])
            self.entries[key] = (followers, now + _PROFILE_CACHE_SECONDS)


_REPLY_CONFIG_FIELDS = (
    ConfigField(
        "identifier",
        "To reply from Earshot: the brand account's handle or DID (e.g. acme.bsky.social).",
    ),
    ConfigField(
        "app_password",
        "To reply from Earshot: an app password of that account (Bluesky settings, "
        "Privacy and security, App passwords), never the account's own password.",
        secret=True,
    ),
    ConfigField(
        "pds_url",
        "The account's PDS (where replies are posted). bsky.social accounts leave the "
        "default; self-hosted accounts give their PDS's base URL.",
        default=_DEFAULT_PDS,
    ),
)


class _BlueskyReplies:
    """Replying as the brand's Bluesky account, for both Bluesky kinds (a post found by
    search or seen on Jetstream is answered the same way): the _REPLY_CONFIG_FIELDS options,
    signed in on the account's PDS."""

    supports_reply = True
    reply_max_chars = _REPLY_MAX_CHARS

    def _reply_config_clean(self, cleaned: dict[str, Any]) -> None:
        """Check the reply options in cleaned (in place); ConfigError says what is wrong."""
        identifier, password = cleaned.get("identifier"), cleaned.get("app_password")
        if identifier and not password:
            raise ConfigError(
                f"Bluesky: an identifier ({identifier}) needs an app_password to reply."
            )
        if password and not identifier:
            raise ConfigError(
                "Bluesky: an app_password needs the identifier (handle or DID) of its account."
            )
        if identifier:
            cleaned["identifier"] = str(identifier).removeprefix("@")
        pds = str(cleaned.get("pds_url") or _DEFAULT_PDS).rstrip("/")
        try:
            parts = urlsplit(pds)
            valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"The Bluesky pds_url must be an http(s) URL, not {pds!r}.")
        if pds == _DEFAULT_PDS:
            # Not stored: sources without an own PDS keep following the default.
            del cleaned["pds_url"]
        else:
            cleaned["pds_url"] = pds

    def reply_credentials_missing(self, config: Mapping[str, Any]) -> str:
        if (
            str(config.get("identifier") or "").strip()
            and str(config.get("app_password") or "").strip()
        ):
            return ""
        return (
            "Earshot has no Bluesky account to reply with on this source: reply on Bluesky "
            "and mark it replied, or ask an admin to add the account's handle and an app "
            "password."
        )

    def reply(
        self,
        state: SourceState,
        in_reply_to: str,
        text: str,
        *,
        key: str = "",
        created_at: datetime | None = None,
    ) -> ReplyResult:
        """Post text as the brand account's reply to the post in_reply_to (an at:// URI).

        Signs in on the account's PDS with the app password (createSession), reads the parent
        post for its cid and thread root (getPosts), and writes an app.bsky.feed.post record
        (createRecord). Idempotency: Bluesky has no idempotency key, but a record key is ours
        to choose, so it is a TID derived from created_at and key (reply_rkey). A retry first
        asks for that record (getRecord) and returns it when an earlier attempt posted it. A
        create under a key already taken is refused, never posted twice (the reference PDS
        answers it with a 500 today, which is retried and then answered by getRecord).
        """
        config = state.config
        missing = self.reply_credentials_missing(config)
        if missing:
            raise ConfigError(missing)
        if not text.strip():
            raise ConfigError("A reply needs some text.")
        if len(text) > _REPLY_MAX_CHARS:
            raise ConfigError(
                f"Bluesky replies can be at most {_REPLY_MAX_CHARS} characters; "
                f"this one has {len(text)}."
            )
        if not _POST_URI_RE.match(in_reply_to):
            raise ConfigError(f"{in_reply_to!r} is not the at:// URI of a Bluesky post.")
        identifier = str(config["identifier"]).strip()
        pds = str(config.get("pds_url") or _DEFAULT_PDS).strip().rstrip("/")
        created_at = created_at or datetime.now(UTC)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        if key:
            rkey = reply_rkey(key=key, created_at=created_at)
        else:
            micros = (created_at - _EPOCH) // timedelta(microseconds=1)
            rkey = tid_encode(micros, secrets.randbelow(1024))

        password = str(config["app_password"]).strip()
        session, reused = self._session(pds, identifier, password)
        try:
            return self._reply_as(session, pds, in_reply_to, text, rkey, key, created_at)
        except ClientError as exc:
            # A kept session the PDS no longer takes (revoked app password, restarted PDS):
            # sign in again once and carry on.
            if not (reused and exc.http_status == 401):
                raise
        session, _ = self._session(pds, identifier, password, fresh=True)
        return self._reply_as(session, pds, in_reply_to, text, rkey, key, created_at)

    def _session(
        self, pds: str, identifier: str, password: str, *, fresh: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """(session, whether it was kept from an earlier sign-in), see _sessions."""
        cache_key = (pds, identifier, hashlib.sha256(password.encode("utf-8")).hexdigest())
        now = time.time()
        with _sessions_lock:
            kept = _sessions.get(cache_key)
            if kept is not None and kept[0] > now and not fresh:
                return kept[1], True
        session = self._create_session(pds, identifier, password)
        expiry = _token_expiry(session["token"])
        usable_until = (
            expiry - _SESSION_MARGIN_SECONDS
            if expiry is not None
            else now + _SESSION_FALLBACK_SECONDS
        )
        with _sessions_lock:
            _sessions[cache_key] = (usable_until, session)
        return session, False

    def _reply_as(
        self,
        session: dict[str, Any],
        pds: str,
        in_reply_to: str,
        text: str,
        rkey: str,
        key: str,
        created_at: datetime,
    ) -> ReplyResult:
        """reply()'s requests with a signed-in session: getRecord, getPosts, createRecord."""
        did, headers = session["did"], session["headers"]
        # bsky.app resolves DIDs too; an unverified handle ("handle.invalid") would not link.
        profile = session["handle"] if session["handle"] not in ("", "handle.invalid") else did

        def result(uri: str) -> ReplyResult:
            return ReplyResult(external_id=uri, url=f"{_WEB}/profile/{profile}/post/{rkey}")

        if key:
            posted = self._get_record(pds, headers, did, rkey)
            if posted is not None:
                value = posted.get("value") if isinstance(posted.get("value"), dict) else {}
                parent = _reply_uris(value)[0]
                if parent != in_reply_to or value.get("text") != text:
                    # Another reply of ours has this key (same microsecond, same clock id).
                    raise ConnectorError(
                        f"Bluesky already holds a different post under record key {rkey} "
                        "in this account; not posting over it."
                    )
                return result(str(posted.get("uri") or f"at://{did}/{_POST_COLLECTION}/{rkey}"))

        parent, root = self._reply_refs(pds, headers, in_reply_to)
        record: dict[str, Any] = {
            "$type": _POST_COLLECTION,
            "text": text,
            "createdAt": _iso(created_at),
            "reply": {"root": root, "parent": parent},
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        url = f"{pds}/xrpc/com.atproto.repo.createRecord"
        body = {"repo": did, "collection": _POST_COLLECTION, "rkey": rkey, "record": record}
        response = safe_post(
            url,
            data=json.dumps(body).encode("utf-8"),
            content_type="application/json",
            headers=headers,
        )
        created = _xrpc_json(response, "createRecord")
        uri = created.get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise BadResponse("createRecord did not return the new post's uri.")
        return result(uri)

    def _create_session(self, pds: str, identifier: str, password: str) -> dict[str, Any]:
        """Sign in: {"did", "handle", "token", "headers"} with the session's Bearer token."""
        url = f"{pds}/xrpc/com.atproto.server.createSession"
        payload = json.dumps({"identifier": identifier, "password": password}).encode("utf-8")
        try:
            response = safe_post(
                url,
                data=payload,
                content_type="application/json",
                headers={"Accept": "application/json"},
            )
        except ClientError as exc:
            # 401 AuthenticationRequired (wrong password), AuthFactorTokenRequired (an account
            # password with email 2FA instead of an app password), 400 for a malformed handle.
            if exc.error_name == "AuthFactorTokenRequired":
                raise ClientError(
                    f"Bluesky asks {identifier} for a sign-in code: that is the account's own "
                    "password. Give Earshot an app password (Bluesky settings, Privacy and "
                    "security, App passwords).",
                    http_status=exc.http_status,
                    error_name=exc.error_name,
                ) from None
            if exc.http_status in (400, 401):
                raise ClientError(
                    f"Bluesky refused the sign-in for {identifier} (HTTP {exc.http_status}): "
                    "check the handle and that the app password is current (an app password, "
                    "not the account's own password).",
                    http_status=exc.http_status,
                    error_name=exc.error_name,
                ) from None
            raise
        data = _xrpc_json(response, "createSession")
        token, did, handle = data.get("accessJwt"), data.get("did"), data.get("handle")
        if not isinstance(token, str) or not token or not isinstance(did, str):
            raise BadResponse("createSession answered without an accessJwt and did.")
        return {
            "did": did,
            "handle": json_str(handle),
            "token": token,
            "headers": {"Accept": "application/json", "Authorization": f"Bearer {token}"},
        }

    def _get_record(
        self, pds: str, headers: dict[str, str], did: str, rkey: str
    ) -> dict[str, Any] | None:
        """The post record at rkey in the account's repo, None when there is none."""
        params = urlencode({"repo": did, "collection": _POST_COLLECTION, "rkey": rkey})
        try:
            response = safe_get(f"{pds}/xrpc/com.atproto.repo.getRecord?{params}", headers=headers)
        except ClientError as exc:
            # A missing record is 400 RecordNotFound. A 400 without an error name is taken
            # the same way: should it be something else, createRecord refuses a taken rkey,
            # so nothing is posted twice.
            if exc.http_status == 400 and exc.error_name in ("RecordNotFound", ""):
                return None
            raise
        return _xrpc_json(response, "getRecord")

    def _reply_refs(
        self, pds: str, headers: dict[str, str], in_reply_to: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(parent, root) strong refs for a reply to in_reply_to, from getPosts."""
        url = f"{pds}/xrpc/app.bsky.feed.getPosts?uris={quote(in_reply_to, safe='')}"
        data = _xrpc_json(safe_get(url, headers=headers), "getPosts")
        posts = data.get("posts")
        if not isinstance(posts, list):
            raise BadResponse("getPosts answered JSON without a 'posts' list.")
        view = next((p for p in posts if isinstance(p, dict) and p.get("uri") == in_reply_to), None)
        if view is None:
            raise ConnectorError(
                f"Cannot reply on Bluesky: the post is gone (deleted or hidden): {in_reply_to}"
            )
        parent = _strong_ref(view)
        if parent is None:
            raise BadResponse(f"getPosts answered {in_reply_to} without a cid.")
        viewer = view.get("viewer")
        if isinstance(viewer, dict) and viewer.get("replyDisabled") is True:
            # The PDS would take the record, but the thread gate hides it from everyone.
            raise ConnectorError(
                "Cannot reply on Bluesky: the author limits who can reply to this post."
            )
        record = view.get("record") if isinstance(view.get("record"), dict) else {}
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
        root = _strong_ref(reply.get("root")) or parent
        return parent, root


class BlueskyConnector(_BlueskyReplies, Connector):
    """Bluesky posts matching the brand terms, via app.bsky.feed.searchPosts.

    The cursor is JSON (see _SearchCursor): ``{"newest": ISO}`` between runs, plus
    ``floor``/``page``/``top``/``pages`` (and ``backfill``) while a run is paging.
    """

    kind = "bluesky"
    platform = "bluesky"
    default_url = "https://public.api.bsky.app"
    url_help = (
        "The Bluesky AppView to search (base URL, without /xrpc). The public AppView needs "
        "no account; another AppView or a PDS proxy may need an access token."
    )
    config_fields = (
        ConfigField(
            "query",
            'searchPosts query (Lucene-like: words, "phrases", OR, from:handle, lang:en...). '
            "Default: the brand's and competitors' terms ORed.",
        ),
        ConfigField(
            "access_token",
            "Optional access token (Bearer) for AppViews that require authentication.",
            secret=True,
        ),
        *_REPLY_CONFIG_FIELDS,
    )

    def __init__(self) -> None:
        self._profiles = _ProfileCache()

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if url and urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ConfigError(f"The Bluesky AppView URL must be http(s), not {url!r}.")
        self._reply_config_clean(cleaned)
        return cleaned

    def _headers(self, state: SourceState) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = str(state.config.get("access_token") or "").strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def fetch(self, state: SourceState) -> FetchedPage:
        query = str(state.config.get("query") or "").strip() or build_query(state.search_terms)
        if not query:
            raise ConfigError(
                "Nothing to search for: set the 'query' option or give the brand a query."
            )
        base = (state.url or self.default_url).rstrip("/")
        cursor = _SearchCursor.load(state.cursor)
        now = datetime.now(UTC)
        if not cursor.floor:
            # Start a run: history back to backfill_since on the very first poll, otherwise
            # everything since the newest post we already have.
            if cursor.newest:
                newest = _parse_datetime(cursor.newest) or now
                floor, cursor.backfill = newest - _FORWARD_OVERLAP, False
            else:
                floor = state.backfill_since or now - _DEFAULT_BACKFILL
                cursor.backfill = True
            cursor.floor, cursor.page, cursor.top, cursor.pages = _iso(floor), "", "", 0
        floor = _parse_datetime(cursor.floor) or now

        params: dict[str, str] = {
            "q": query,
            "sort": "latest",
            "limit": str(_PAGE_SIZE),
            "since": cursor.floor,
        }
        if cursor.page:
            params["cursor"] = cursor.page
        url = f"{base}/xrpc/app.bsky.feed.searchPosts?{urlencode(params)}"
        headers = self._headers(state)
        response = safe_get(url, headers=headers)
        try:
            data = json_loads_bounded(response.body, max_depth=API_JSON_MAX_DEPTH)
        except ValueError as exc:
            raise BadResponse(
                f"searchPosts answered something that is not JSON: {exc}",
                http_status=response.status,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
            raise BadResponse(
                "searchPosts answered JSON without a 'posts' list.", http_status=response.status
            )

        items: list[RawItem] = []
        authors: dict[str, list[RawItem]] = {}
        skipped = 0
        reached_floor = False
        for view in data["posts"]:
            mapped = _map_post_view(view)
            if mapped is None:
                skipped += 1
                continue
            item, indexed_at, did = mapped
            if indexed_at is not None:
                if indexed_at < floor:
                    # sort=latest: everything after this is older still.
                    reached_floor = True
                    continue
                if not cursor.top or indexed_at > (_parse_datetime(cursor.top) or floor):
                    cursor.top = _iso(indexed_at)
            items.append(item)
            if did:
                authors.setdefault(did, []).append(item)

        warnings: list[str] = []
        if skipped:
            warnings.append(f"Skipped {skipped} malformed post(s) in the searchPosts answer.")
        warnings.extend(self._fill_followers(base, headers, authors))

        api_cursor = data.get("cursor")
        api_cursor = api_cursor if isinstance(api_cursor, str) and api_cursor else ""
        cursor.pages += 1
        has_more = bool(api_cursor) and bool(data["posts"]) and not reached_floor
        if has_more and (api_cursor == cursor.page or cursor.pages >= _MAX_RUN_PAGES):
            # The same cursor again would fetch the same page forever.
            warnings.append(
                f"Stopped paging searchPosts after {cursor.pages} page(s) "
                f"(cursor {api_cursor!r}); older posts of this run are not fetched."
            )
            has_more = False
        progress = ""
        if cursor.backfill:
            oldest = min((i.published_at for i in items if i.published_at), default=None)
            if has_more and oldest is not None:
                progress = f"history back to {oldest:%Y-%m-%d} ({cursor.pages} pages)"
            elif not has_more:
                progress = f"history back to {floor:%Y-%m-%d} complete ({cursor.pages} pages)"
        if has_more:
            cursor.page = api_cursor
        else:
            # Run finished: the next poll asks only for what is newer than this run's top.
            top = cursor.top or cursor.newest
            if top:
                cursor.newest = top
            elif cursor.backfill:
                # Nothing at all found: still move forward, or every poll re-backfills.
                cursor.newest = _iso(now)
            cursor.floor = cursor.page = cursor.top = ""
            cursor.pages, cursor.backfill = 0, False
        return FetchedPage(
            items=items,
            http_status=response.status,
            warnings=warnings,
            cursor=cursor.dump(),
            has_more=has_more,
            progress=progress,
        )

    def _fill_followers(
        self, base: str, headers: dict[str, str], authors: dict[str, list[RawItem]]
    ) -> list[str]:
        """Set author_followers from getProfiles (searchPosts' basic profile lacks it)."""
        missing: list[str] = []
        for did, items in authors.items():
            found, followers = self._profiles.get((base, did))
            if found:
                for item in items:
                    item.author_followers = followers
            else:
                missing.append(did)
        failures = 0
        for start in range(0, len(missing), _PROFILES_PER_REQUEST):
            chunk = missing[start : start + _PROFILES_PER_REQUEST]
            url = f"{base}/xrpc/app.bsky.actor.getProfiles?" + urlencode(
                [("actors", did) for did in chunk]
            )
            try:
                response = safe_get(url, headers=headers)
                data = json_loads_bounded(response.body, max_depth=API_JSON_MAX_DEPTH)
                profiles = data.get("profiles") if isinstance(data, dict) else None
                if not isinstance(profiles, list):
                    raise BadResponse("getProfiles answered JSON without a 'profiles' list.")
            except (ConnectorError, ValueError) as exc:
                # Followers are nice to have: the posts are stored anyway, reach unknown.
                failures += 1
                logger.warning("Bluesky getProfiles failed for %d actor(s): %s", len(chunk), exc)
                continue
            for profile in profiles:
                if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
                    continue
                followers = json_count(profile.get("followersCount"))
                self._profiles.put((base, profile["did"]), followers)
                for item in authors.get(profile["did"], []):
                    item.author_followers = followers
        if failures:
            return [
                f"Followers counts unavailable for some authors: {failures} getProfiles "
                "request(s) failed."
            ]
        return []


def _map_post_view(view: object) -> tuple[RawItem, datetime | None, str] | None:
    """A searchPosts postView as (item, indexedAt, author DID); None when unusable."""
    if not isinstance(view, dict):
        return None
    uri, author, record = view.get("uri"), view.get("author"), view.get("record")
    if not isinstance(uri, str) or not uri.startswith("at://") or not isinstance(record, dict):
        return None
    author = author if isinstance(author, dict) else {}
    handle = author.get("handle") if isinstance(author.get("handle"), str) else ""
    did = author.get("did") if isinstance(author.get("did"), str) else ""
    if not did:
        did = uri[len("at://") :].split("/", 1)[0]
    # A handle can be "handle.invalid" (no verified DNS/HTTPS proof); the DID still links.
    profile = handle if handle and handle != "handle.invalid" else did
    indexed_at = _parse_datetime(view.get("indexedAt"))
    parent, root = _reply_uris(record)
    text = record.get("text")
    display_name = author.get("displayName")
    item = RawItem(
        external_id=uri,
        url=f"{_WEB}/profile/{profile}/post/{_rkey(uri)}",
        title="",
        body=json_str(text),
        author_handle=handle or did,
        author_name=json_str(display_name),
        author_url=f"{_WEB}/profile/{profile}",
        published_at=_parse_datetime(record.get("createdAt")) or indexed_at,
        language=_first_language(record),
        platform="bluesky",
        in_reply_to=parent,
        thread_id=root or uri,
        like_count=json_count(view.get("likeCount")),
        reply_count=json_count(view.get("replyCount")),
        repost_count=json_count(view.get("repostCount")),
    )
    return item, indexed_at, did


# --- live: Jetstream ------------------------------------------------------------------------


def _map_jetstream_event(event: object) -> tuple[int, RawItem | None]:
    """(time_us, post create as a RawItem); None for other events (likes, deletes, identity...).

    Raises ValueError when the event is malformed (not an object, fields missing or of the
    wrong type) so the caller can count it. Called for every firehose event, so it looks each
    field up once and builds only what the item needs (see bench/stream.py).
    """
    if not isinstance(event, dict):
        raise ValueError("event is not a JSON object")
    kind = event.get("kind")
    if not isinstance(kind, str):
        raise ValueError("event has no kind")
    time_us = event.get("time_us")
    if not isinstance(time_us, int):
        raise ValueError("event has no integer time_us")
    if kind != "commit":
        return time_us, None  # identity and account events carry no content
    commit = event.get("commit")
    did = event.get("did")
    if not isinstance(commit, dict) or not isinstance(did, str) or not did.startswith("did:"):
        raise ValueError("commit event without a commit object or did")
    if commit.get("collection") != _POST_COLLECTION or commit.get("operation") != "create":
        return time_us, None
    record, rkey = commit.get("record"), commit.get("rkey")
    if not isinstance(record, dict) or not isinstance(rkey, str) or not rkey:
        raise ValueError("post create without a record or rkey")
    uri = f"at://{did}/{_POST_COLLECTION}/{rkey}"
    # Most posts are not replies: skip the helper's dict walk for them.
    parent, root = _reply_uris(record) if "reply" in record else ("", "")
    text = record.get("text")
    published_at = _parse_datetime(record.get("createdAt"))
    if published_at is None:
        # A record without a usable createdAt: when Jetstream received it is the best guess.
        published_at = datetime_from_unix(time_us / 1_000_000)
        if published_at is None:
            raise ValueError(f"unusable time_us {time_us}")
    profile = f"{_WEB}/profile/{did}"
    item = RawItem(
        external_id=uri,
        # bsky.app resolves DIDs in profile URLs, so links work without a handle lookup.
        url=f"{profile}/post/{rkey}",
        body=json_str(text),
        # Jetstream events carry the DID only, never the handle: resolving it would cost a
        # request per author at firehose rates, so the DID stands in as the handle.
        author_handle=did,
        author_url=profile,
        published_at=published_at,
        language=_first_language(record),
        platform="bluesky",
        in_reply_to=parent,
        thread_id=root or uri,
    )
    return time_us, item


class JetstreamConnector(_BlueskyReplies, StreamConnector):
    """Every new Bluesky post, live, from a Jetstream instance (v1 JSON events).

    The cursor is the newest event's ``time_us`` (microseconds since the epoch) as a decimal
    string. Jetstream replays from a cursor on connect; we rewind it a few seconds, as
    Jetstream's docs recommend for gapless playback, and storage drops the repeats by
    external_id.
    """

    kind = "jetstream"
    platform = "bluesky"
    default_url = "wss://jetstream2.us-east.bsky.network/subscribe"
    url_schemes = ("ws", "wss")
    url_help = (
        "A Jetstream subscribe endpoint (wss://…/subscribe). Earshot asks it for "
        "app.bsky.feed.post events only and matches your queries locally."
    )
    config_fields = _REPLY_CONFIG_FIELDS

    def __init__(
        self,
        *,
        batch_size: int = 100,
        batch_seconds: float = 0.2,
        cursor_rewind_seconds: float = 5.0,
        connect_timeout: float | None = None,
    ) -> None:
        # A batch goes out after batch_size items or batch_seconds, whichever comes first:
        # big enough to store efficiently at firehose rates, small enough to stay live.
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.cursor_rewind_us = int(cursor_rewind_seconds * 1_000_000)
        self.connect_timeout = connect_timeout

    def validate_config(self, url: str, config: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(url, config)
        if url:
            try:
                parse_ws_url(url)
            except InvalidURL as exc:
                raise ConfigError(f"Jetstream URL: {exc}") from None
        self._reply_config_clean(cleaned)
        return cleaned

    def subscribe_url(self, state: SourceState) -> str:
        """The URL to connect to: the endpoint, post events only, and the rewound cursor."""
        base = state.url or self.default_url
        params = [("wantedCollections", _POST_COLLECTION)]
        if state.cursor.strip().isdigit():
            # Jetstream replays from cursor; rewind for gapless playback (see class docstring).
            since = max(0, int(state.cursor) - self.cursor_rewind_us)
            params.append(("cursor", str(since)))
        elif state.cursor:
            logger.warning("Ignoring unreadable jetstream cursor %r", state.cursor[:100])
        separator = "&" if urlsplit(base).query else "?"
        return f"{base}{separator}{urlencode(params)}"

    def check(self, state: SourceState) -> str:
        """Open the WebSocket (address checks, handshake) and close it again."""
        connection = safe_websocket_connect(
            self.subscribe_url(state), timeout=self.connect_timeout, close_timeout=1.0
        )
        connection.close()
        return "the stream accepted a connection"

    def stream(self, state: SourceState, *, stop: threading.Event) -> Iterator[StreamBatch]:
        url = self.subscribe_url(state)
        connection = safe_websocket_connect(url, timeout=self.connect_timeout, close_timeout=1.0)
        items: list[RawItem] = []
        newest: int | None = int(state.cursor) if state.cursor.strip().isdigit() else None
        cursor_sent = newest
        malformed = 0
        deadline = time.monotonic() + self.batch_seconds

        def batch() -> StreamBatch:
            nonlocal items, cursor_sent, deadline
            out = StreamBatch(items, str(newest) if newest is not None else None)
            items, cursor_sent = [], newest
            deadline = time.monotonic() + self.batch_seconds
            return out

        try:
            while not stop.is_set():
                # Short waits so stop and the batch timer are checked a few times a second.
                wait = max(0.0, min(deadline - time.monotonic(), 0.2))
                try:
                    message = connection.recv(timeout=wait)
                except TimeoutError:
                    message = None
                except ConnectionClosed as exc:
                    # Hand over what arrived before the drop, then report it.
                    if items or newest != cursor_sent:
                        yield batch()
                    raise SourceUnavailable(
                        f"Jetstream connection to {state.url or self.default_url} closed: {exc}"
                    ) from None
                if message is not None:
                    try:
                        time_us, item = _map_jetstream_event(json_loads_bounded(message))
                    except ValueError as exc:  # JsonTooDeep and UnicodeDecodeError are too
                        malformed += 1
                        logger.debug("Skipping malformed Jetstream event: %s", exc)
                    else:
                        # Events are not strictly ordered by time_us; the newest bounds the
                        # resume point, and the rewind covers the stragglers.
                        if newest is None or time_us > newest:
                            newest = time_us
                        if item is not None:
                            items.append(item)
                if len(items) >= self.batch_size or (
                    time.monotonic() >= deadline and (items or newest != cursor_sent)
                ):
                    yield batch()
                elif time.monotonic() >= deadline:
                    deadline = time.monotonic() + self.batch_seconds
            if items or newest != cursor_sent:
                yield batch()
        finally:
            if malformed:
                logger.warning(
                    "Jetstream source %s: skipped %d malformed event(s).",
                    state.source_id,
                    malformed,
                    extra={"source_id": state.source_id},
                )
            connection.close()
