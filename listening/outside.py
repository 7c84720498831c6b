"""Values from outside made safe to store: the one place every item passes before the database.

Connectors, the webhook and the import all hand their items to services.items_store, which
runs item_make_safe on each one first. A stranger's value never crashes a batch and never
blocks the rows behind it (README "Reliability and security"):

- published_at outside the window [EARSHOT_PUBLISHED_EARLIEST, fetch time + 1 day] (a year-1
  date, a year-9999 date, an offset that would push it past year 9999) keeps the fetch time,
  and a warning names the item;
- text, titles and names lose NUL and lone surrogates (PostgreSQL and UTF-8 cannot hold them;
  a surrogate becomes U+FFFD so the loss is visible); single-line fields (handles, names, ids,
  platform, language) also lose other control characters and bidi overrides;
- integers are bounded to the column (0 .. 2**63 - 1); strings are cut to their columns, and
  an over-long external id is shortened with a hash of the whole id so it stays unique;
- the stored text is capped at EARSHOT_MENTION_TEXT_MAX_CHARS with Mention.is_text_truncated
  set, so matching, scoring and the explanation stay bounded.

json_loads_bounded refuses JSON nested deeper than JSON_MAX_DEPTH before Python's parser
could hit its recursion limit. Pure functions: no ORM.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings

from listening.connectors.base import RawItem

# Columns of listening.models (kept here as numbers: this module must not import models).
EXTERNAL_ID_MAX_LENGTH = 255
PLATFORM_MAX_LENGTH = 32
LANGUAGE_MAX_LENGTH = 20
THREAD_ID_MAX_LENGTH = 255
AUTHOR_HANDLE_MAX_LENGTH = 300
AUTHOR_NAME_MAX_LENGTH = 300
URL_MAX_LENGTH = 2000
# PositiveBigIntegerField is a signed bigint in PostgreSQL.
COUNT_MAX = 2**63 - 1
# An item may be dated at most this far after it was fetched (clock skew, time zones).
PUBLISHED_FUTURE_SLACK = timedelta(days=1)
# Webhook deliveries and import lines: a list of objects is depth 2; anything near this is
# hostile, and refusing it here keeps the parser far from Python's recursion limit.
JSON_MAX_DEPTH = 32
# Platform APIs nest deeper (a Bluesky post quoting a post with embedded media is ~12
# levels): generous, and still far from the parser's recursion limit (about 1,000).
API_JSON_MAX_DEPTH = 128

_NUL_OR_SURROGATE_RE = re.compile(r"[\x00\ud800-\udfff]")
# One-line fields: every C0/C1 control, lone surrogates, and the bidi embedding, override and
# isolate controls that would let a name reorder the text around it on screen.
_LINE_JUNK_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def published_earliest() -> datetime:
    """The earliest publication time Earshot believes (setting EARSHOT_PUBLISHED_EARLIEST)."""
    return settings.EARSHOT_PUBLISHED_EARLIEST


def text_max_chars() -> int:
    """The longest text stored for a mention (setting EARSHOT_MENTION_TEXT_MAX_CHARS)."""
    return settings.EARSHOT_MENTION_TEXT_MAX_CHARS


def safe_text(value: str) -> str:
    """Multi-line text without NUL and with lone surrogates as U+FFFD."""
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    if _NUL_OR_SURROGATE_RE.search(value) is None:
        return value
    return _surrogates_replaced(value.replace("\x00", ""))


_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def _surrogates_replaced(value: str) -> str:
    return _SURROGATE_RE.sub("\ufffd", value)


def safe_line(value: str, max_length: int) -> str:
    """A one-line field: controls, bidi overrides and NUL dropped, surrogates as U+FFFD, cut."""
    # isprintable() is False for every character the pattern removes (and for a few it keeps,
    # such as the joiner in an emoji): a C-speed check that nearly always answers.
    if not value.isprintable() and _LINE_JUNK_RE.search(value) is not None:
        value = _surrogates_replaced(value)
        value = _LINE_JUNK_RE.sub("", value)
    return value.strip()[:max_length]


def safe_external_id(value: str) -> str:
    """An id that fits its column and stays distinct: NUL and surrogates become U+FFFD (not
    dropped, so "a\\x00" and "a" stay two items), and an over-long id keeps its start plus a
    hash of the whole."""
    if _NUL_OR_SURROGATE_RE.search(value) is not None:
        value = _surrogates_replaced(value).replace("\x00", "\ufffd")
    value = value.strip()
    if len(value) > EXTERNAL_ID_MAX_LENGTH:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:40]
        value = f"{value[: EXTERNAL_ID_MAX_LENGTH - 41]}~{digest}"
    return value


def safe_count(value: int | None) -> tuple[int | None, bool]:
    """(count bounded to 0 .. COUNT_MAX, whether it had to be clamped from above)."""
    if value is None:
        return None, False
    number = max(0, int(value))
    if number > COUNT_MAX:
        return COUNT_MAX, True
    return number, False


def safe_published_at(value: datetime | None, *, fetched_at: datetime) -> tuple[datetime, str]:
    """(the time to store, a warning or ""): outside the window the fetch time is stored."""
    if value is None:
        return fetched_at, ""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    earliest = published_earliest()
    latest = fetched_at + PUBLISHED_FUTURE_SLACK
    # Aware comparisons never overflow, even for year 1 with a positive offset (year 0 in UTC).
    if earliest <= moment <= latest:
        return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)), ""
    return fetched_at, (
        f"published_at {_describe(moment)} is outside {earliest:%Y-%m-%d} .. "
        f"{latest:%Y-%m-%d %H:%M} UTC; stored with the fetch time"
    )


def _describe(moment: datetime) -> str:
    try:
        return moment.isoformat()
    except (OverflowError, ValueError):
        return repr(moment)


@dataclass(frozen=True, slots=True)
class SafeItem:
    """An item whose every value fits its column, and what had to change to get there."""

    item: RawItem
    is_text_truncated: bool
    warnings: tuple[str, ...]


def item_make_safe(item: RawItem, *, fetched_at: datetime) -> SafeItem:
    """Bound and clean every value of one item (see the module docstring). Never raises for
    any value a connector, webhook or import can produce. The item is returned as it is when
    nothing needed changing (the common case: this runs for every item heard)."""
    notes: list[str] = []
    changes: dict[str, object] = {}
    published_at, note = safe_published_at(item.published_at, fetched_at=fetched_at)
    if note:
        notes.append(note)
    if published_at is not item.published_at:
        changes["published_at"] = published_at
    for name in _COUNT_FIELDS:
        value = getattr(item, name)
        if value is not None and not 0 <= value <= COUNT_MAX:
            changes[name], clamped = safe_count(value)
            if clamped:
                notes.append(f"{name} {value} is over {COUNT_MAX}; stored as {COUNT_MAX}")
    platform = safe_line(item.platform, 10_000).lower()
    if len(platform) > PLATFORM_MAX_LENGTH:
        notes.append(f"platform is longer than {PLATFORM_MAX_LENGTH} characters; cut")
        platform = platform[:PLATFORM_MAX_LENGTH]
    # The cap applies to the raw fields: cleaning HTML only makes them shorter, and cutting a
    # multi-megabyte body first keeps cleaning, matching and scoring bounded.
    limit = text_max_chars()
    body, title = safe_text(item.body), safe_text(item.title)
    # items_store cuts the clean text to the cap; this only marks what was lost here already.
    is_truncated = len(body) > limit * 4 or len(title) > limit
    for name, value in (
        ("external_id", safe_external_id(item.external_id)),
        ("url", _url_or_blank(item.url)),
        ("title", title[:limit]),
        ("body", body[: limit * 4]),
        ("author_handle", safe_line(item.author_handle, AUTHOR_HANDLE_MAX_LENGTH)),
        ("author_name", safe_line(item.author_name, AUTHOR_NAME_MAX_LENGTH)),
        ("author_url", _url_or_blank(item.author_url)),
        ("language", safe_line(item.language, LANGUAGE_MAX_LENGTH)),
        ("platform", platform),
        ("in_reply_to", safe_line(item.in_reply_to, THREAD_ID_MAX_LENGTH)),
        ("thread_id", safe_line(item.thread_id, THREAD_ID_MAX_LENGTH)),
    ):
        if value != getattr(item, name):
            changes[name] = value
    safe = replace(item, **changes) if changes else item
    return SafeItem(item=safe, is_text_truncated=is_truncated, warnings=tuple(notes))


_COUNT_FIELDS = ("author_followers", "like_count", "reply_count", "repost_count")


def text_cap(text: str) -> tuple[str, bool]:
    """The clean text cut to the stored cap, and whether it was cut."""
    limit = text_max_chars()
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip(), True


# A URL of printable ASCII without spaces, http(s), whose host is letters, digits, dots and
# hyphens with at most a numeric port: web_url keeps it as it is (strip has nothing to remove,
# urlsplit finds that host and never raises for it). Nearly every URL an item carries is one,
# and web_url runs for two URLs of every item heard, so they skip the general rule (issue 12).
_PLAIN_WEB_URL_RE = re.compile(
    r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#][!-~]*)?"
)


def web_url(url: str) -> str:
    """The one link rule: url (stripped) when it is an absolute http(s) URL with a host and
    nothing a browser would read oddly (spaces, controls, bidi overrides), else "". Strangers'
    URLs become links, and are stored, only through this (javascript:, data:, relative: no)."""
    if not url:
        return ""
    if _PLAIN_WEB_URL_RE.fullmatch(url) is not None:
        return url
    url = url.strip()
    if not url[:8].lower().startswith(("http://", "https://")):
        return ""
    if " " in url or not url.isprintable():
        return ""
    try:
        has_host = bool(urlsplit(url).hostname)
    except ValueError:  # an unbalanced [ in the host, say
        return ""
    return url if has_host else ""


def _url_or_blank(url: str) -> str:
    """web_url, and only when it fits the column: a cut URL would point somewhere else."""
    return web_url(url) if len(url) <= URL_MAX_LENGTH else ""


class JsonTooDeep(ValueError):
    """JSON nested deeper than JSON_MAX_DEPTH."""


# Strings are matched whole (escapes included) so brackets inside them are not counted.
_JSON_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_loads_bounded(data: str | bytes, *, max_depth: int = JSON_MAX_DEPTH) -> object:
    """json.loads that refuses nesting deeper than max_depth with JsonTooDeep (a ValueError)
    instead of recursing towards a RecursionError. Other errors are json's own ValueErrors
    (UnicodeDecodeError for bytes that are not UTF-8)."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if text.count("[") + text.count("{") > max_depth:
        depth = deepest = 0
        for match in _JSON_TOKEN_RE.finditer(text):
            lexeme = match.group()
            if lexeme in "[{":
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if deepest > max_depth:
                        raise JsonTooDeep(f"JSON nested more than {max_depth} levels deep")
            elif lexeme in "]}":
                depth -= 1
    try:
        return json.loads(text)
    except RecursionError:  # only reachable if the scan above was fooled; never crash
        raise JsonTooDeep(f"JSON nested more than {max_depth} levels deep") from None
