"""The common mention shape as outsiders send it: JSON objects, JSON Lines and CSV rows.

Webhooks and imports both turn a mapping of strings to values into a RawItem here, so they
accept exactly the same fields with exactly the same rules, and SHAPE_FIELDS documents them in
one place (README table, import_mentions --help). Parsing is pure: no ORM, no settings.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import IO

from django.utils.dateparse import parse_date, parse_datetime

from listening.connectors.base import RawItem
from listening.outside import EXTERNAL_ID_MAX_LENGTH, json_loads_bounded


class ShapeError(ValueError):
    """One item does not fit the common shape; the message names the field (and line)."""


@dataclass(frozen=True, slots=True)
class ShapeField:
    name: str
    # "yes", "no", or "text or title" (at least one of the two must be non-empty).
    required: str
    description: str


# Ordered as the README table and CSV header examples list them.
SHAPE_FIELDS: tuple[ShapeField, ...] = (
    ShapeField(
        "external_id",
        "yes",
        "the item's stable id at its origin (<= 255 chars); stored once per source",
    ),
    ShapeField("text", "text or title", "the body of the post (HTML is stripped)"),
    ShapeField("title", "text or title", "a headline, joined before the text"),
    ShapeField("published_at", "yes", "ISO 8601 (naive = UTC, Z or offset) or Unix seconds"),
    ShapeField(
        "platform",
        "no",
        'where it was posted, e.g. "reddit"; default: the source\'s platform option, else "web"',
    ),
    ShapeField("url", "no", "link to the item (kept only if http(s))"),
    ShapeField("author_handle", "no", "the author's stable handle on the platform"),
    ShapeField("author_name", "no", "the author's display name"),
    ShapeField("author_url", "no", "link to the author's profile (kept only if http(s))"),
    ShapeField("author_followers", "no", "the author's followers, an integer >= 0"),
    ShapeField("lang", "no", 'language code, e.g. "en" or "en-GB"'),
    ShapeField("in_reply_to", "no", "external_id of the post this one replies to"),
    ShapeField("thread_id", "no", "external_id of the conversation's root post"),
    ShapeField("like_count", "no", "likes, an integer >= 0"),
    ShapeField("reply_count", "no", "replies, an integer >= 0"),
    ShapeField("repost_count", "no", "reposts / shares, an integer >= 0"),
)

SHAPE_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in SHAPE_FIELDS)

# Shape key -> RawItem attribute, for the plain string fields.
_STRING_FIELDS: dict[str, str] = {
    "title": "title",
    "url": "url",
    "author_handle": "author_handle",
    "author_name": "author_name",
    "author_url": "author_url",
    "lang": "language",
}
# Ids are often numeric at the origin (tweet ids, database keys): integers are accepted too.
_ID_FIELDS = ("in_reply_to", "thread_id")
_COUNT_FIELDS = ("author_followers", "like_count", "reply_count", "repost_count")


def shape_table_markdown() -> str:
    """The README's table of the common shape, generated so docs and parser cannot drift."""
    lines = ["| field | required | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{f.name}` | {f.required} | {f.description} |" for f in SHAPE_FIELDS]
    return "\n".join(lines)


def item_from_mapping(data: Mapping[str, object], *, line: int | None = None) -> RawItem:
    """Parse one item of the common shape; raise ShapeError naming the key (and line).

    Unknown keys are ignored; a missing, null or blank optional field is empty. Strings are
    trimmed. Count fields and Unix timestamps may be strings of digits (CSV has no types).
    """
    prefix = f"line {line}: " if line is not None else ""

    def fail(message: str) -> ShapeError:
        return ShapeError(prefix + message)

    if not isinstance(data, Mapping):
        raise fail(f"expected an object with the mention's fields, got {_type_name(data)}")

    def string(key: str, *, ids: bool = False) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if ids and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            kind = "a string or an integer" if ids else "a string"
            raise fail(f'field "{key}" must be {kind}, got {_type_name(value)}')
        return value.strip()

    external_id = string("external_id", ids=True)
    if not external_id:
        raise fail('missing required field "external_id"')
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise fail(
            f'field "external_id" is {len(external_id)} characters long; '
            f"at most {EXTERNAL_ID_MAX_LENGTH} are allowed"
        )
    text = string("text")
    strings = {attr: string(key) for key, attr in _STRING_FIELDS.items()}
    if not text and not strings["title"]:
        raise fail('missing required field "text" (or "title"): one must be non-empty')

    published_at = _timestamp(data.get("published_at"), fail)
    counts = {key: _count(key, data.get(key), fail) for key in _COUNT_FIELDS}
    return RawItem(
        external_id=external_id,
        body=text,
        published_at=published_at,
        platform=string("platform").lower(),
        in_reply_to=string("in_reply_to", ids=True),
        thread_id=string("thread_id", ids=True),
        **strings,
        **counts,
    )


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _timestamp(value: object, fail) -> datetime:
    key = '"published_at"'
    if value is None or (isinstance(value, str) and not value.strip()):
        raise fail(f"missing required field {key}")
    if isinstance(value, bool):
        raise fail(f"field {key} must be an ISO 8601 date-time or Unix seconds, got a boolean")
    if isinstance(value, str):
        value = value.strip()
        if _looks_numeric(value):
            value = float(value)
    if isinstance(value, int | float):
        try:
            if not math.isfinite(value):
                raise ValueError
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise fail(f"field {key} is not a usable Unix timestamp: {value!r}") from None
    if not isinstance(value, str):
        raise fail(
            f"field {key} must be an ISO 8601 date-time or Unix seconds, got {_type_name(value)}"
        )
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible, e.g. 2024-02-30
        moment = None
    if moment is None:
        raise fail(f"field {key} is not an ISO 8601 date-time: {value[:60]!r}")
    # Naive times are UTC by contract: senders in other zones must say so with an offset.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+05:00 or 9999-12-31T23:59-05:00 has no UTC form in Python. Kept
        # with its offset: listening.outside stores such an item with its fetch time.
        return moment


def _looks_numeric(value: str) -> bool:
    digits = value.removeprefix("-")
    return bool(digits) and digits.replace(".", "", 1).isdigit()


def _count(key: str, value: object, fail) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        digits = value.strip()
        # int() refuses more than 4,300 digits; anything past 20 is over every column anyway
        # (listening.outside bounds it to the column with a warning).
        number = int(digits) if len(digits) <= 20 else 10**20
    if number is None or number < 0:
        raise fail(f'field "{key}" must be an integer >= 0, got {value!r}'[:200])
    return number


# --- Files ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ShapeRow:
    """One data row of a file: its first line number and the item, or why it has none."""

    line: int
    item: RawItem | None = None
    error: ShapeError | None = None


def _lines(stream: IO[bytes], on_bytes) -> Iterator[tuple[int, bytes]]:
    """Physical lines of a binary stream with their numbers, one at a time (constant memory)."""
    for number, raw in enumerate(stream, start=1):
        on_bytes(len(raw))
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw


def read_jsonl(stream: IO[bytes], *, on_bytes=lambda n: None) -> Iterator[ShapeRow]:
    """Parse JSON Lines: one object per line, blank lines skipped, each bad line an error row.

    on_bytes(n) is called with each line's size in bytes read (for a progress bar).
    """
    for number, raw in _lines(stream, on_bytes):
        if not raw.strip():
            continue
        try:
            data = json_loads_bounded(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield ShapeRow(
                number,
                error=ShapeError(f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})"),
            )
            continue
        except ValueError as exc:
            yield ShapeRow(number, error=ShapeError(f"line {number}: not valid JSON ({exc})"))
            continue
        try:
            yield ShapeRow(number, item=item_from_mapping(data, line=number))
        except ShapeError as exc:
            yield ShapeRow(number, error=exc)


class CsvHeaderError(ShapeError):
    """The CSV file has no usable header row: nothing in it can be read."""


def read_csv(stream: IO[bytes], *, on_bytes=lambda n: None) -> Iterator[ShapeRow]:
    """Parse CSV with a header row; each row that does not fit (or is not UTF-8) is an error.

    Decoded with surrogateescape so that one row's invalid bytes are that row's error rather
    than the end of the import; a record may span lines (quoted newlines) and is numbered by
    its first line. Raises CsvHeaderError before any row if the header lacks a required column.
    """
    state = {"line": 0}

    def text_lines() -> Iterator[str]:
        for number, raw in _lines(stream, on_bytes):
            state["line"] = number
            yield raw.decode("utf-8", errors="surrogateescape")

    reader = csv.reader(text_lines())
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise CsvHeaderError(f"line 1: unreadable CSV header ({exc})") from None
    header = [name.strip() for name in header]
    if _has_surrogates("".join(header)):
        raise CsvHeaderError("line 1: the header row is not UTF-8")
    missing = [n for n in ("external_id", "published_at") if n not in header]
    if "text" not in header and "title" not in header:
        missing.append("text (or title)")
    if missing:
        raise CsvHeaderError(
            "line 1: the header row lacks required column(s): "
            + ", ".join(missing)
            + f". Known columns: {', '.join(SHAPE_FIELD_NAMES)}."
        )
    while True:
        first_line = state["line"] + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ShapeRow(first_line, error=ShapeError(f"line {first_line}: bad CSV ({exc})"))
            continue
        if not any(v.strip() for v in values):
            continue  # a blank line
        if any(_has_surrogates(v) for v in values):
            error = ShapeError(f"line {first_line}: not UTF-8 (invalid bytes in the row)")
            yield ShapeRow(first_line, error=error)
            continue
        if len(values) > len(header):
            error = ShapeError(
                f"line {first_line}: {len(values)} values but the header has {len(header)} columns"
            )
            yield ShapeRow(first_line, error=error)
            continue
        try:
            item = item_from_mapping(dict(zip(header, values, strict=False)), line=first_line)
        except ShapeError as exc:
            yield ShapeRow(first_line, error=exc)
        else:
            yield ShapeRow(first_line, item=item)


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
