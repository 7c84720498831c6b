"""The feed date fast path answers exactly as feedparser's _parse_date does."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from feedparser.datetimes import _parse_date as feedparser_parse_date
from hypothesis import example, given
from hypothesis import strategies as st

from listening.connectors import rss
from listening.connectors.rss import _parse_date

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _offset(sign: str, hours: int, minutes: int, *, colon: bool) -> str:
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


# Fields drawn separately, not from a datetime: the day may not exist in the month (31 Feb)
# and the hour may be 24, which the fast path must hand back to feedparser.
_fields = st.tuples(
    st.integers(1, 9999),
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 24),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from(["+", "-"]),
    st.integers(0, 23),
    st.integers(0, 59),
)


@given(fields=_fields, zulu=st.booleans(), fraction=st.sampled_from(["", ".5", ".123456789"]))
@example(fields=(1, 1, 1, 0, 0, 0, "+", 5, 30), zulu=False, fraction="")  # before year 1 in UTC
@example(fields=(9999, 12, 31, 23, 59, 59, "-", 14, 0), zulu=False, fraction="")  # after 9999
@example(fields=(2024, 2, 29, 12, 0, 0, "+", 5, 45), zulu=False, fraction=".5")  # Nepal, leap
@example(fields=(2023, 2, 29, 24, 0, 0, "+", 0, 0), zulu=True, fraction="")  # no such day
def test_w3c_dates_equal_feedparser(fields, zulu, fraction) -> None:
    year, month, day, hour, minute, second, sign, off_h, off_m = fields
    zone = "Z" if zulu else _offset(sign, off_h, off_m, colon=True)
    value = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    assert _parse_date(value) == feedparser_parse_date(value)


@given(
    fields=_fields,
    weekday=st.sampled_from(("", *_WEEKDAYS)),
    zone=st.sampled_from(["GMT", "UT", "Z", "offset"]),
    short_day=st.booleans(),
)
@example(fields=(1, 1, 1, 0, 0, 0, "+", 1, 0), weekday="Mon", zone="offset", short_day=False)
@example(fields=(9999, 12, 31, 23, 59, 59, "-", 0, 1), weekday="", zone="offset", short_day=True)
def test_rfc822_dates_equal_feedparser(fields, weekday, zone, short_day) -> None:
    year, month, day, hour, minute, second, sign, off_h, off_m = fields
    zone = _offset(sign, off_h, off_m, colon=False) if zone == "offset" else zone
    day_text = str(day) if short_day else f"{day:02d}"
    value = (
        f"{weekday + ', ' if weekday else ''}{day_text} {_MONTHS[month - 1]} {year:04d}"
        f" {hour:02d}:{minute:02d}:{second:02d} {zone}"
    )
    assert _parse_date(value) == feedparser_parse_date(value)


def test_the_common_spellings_take_the_fast_path(monkeypatch) -> None:
    """What the feeds in the ingest benchmark (and most feeds) write never reaches feedparser."""
    asked = []
    monkeypatch.setattr(rss, "_feedparser_parse_date", lambda value: asked.append(value))
    moment = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    earlier = moment - timedelta(microseconds=1)
    for value, expected in (
        (format_datetime(moment), moment),  # RSS: "Sun, 01 Nov 2026 08:30:00 +0000"
        (format_datetime(moment, usegmt=True), moment),
        (moment.isoformat(), moment),  # Atom / JSON Feed
        # Fractions of a second are dropped, as feedparser drops them.
        (earlier.isoformat().replace("+00:00", "Z"), earlier.replace(microsecond=0)),
        ("2026-11-01T14:15:00+05:45", moment),  # Nepal
    ):
        assert _parse_date(value) == expected.utctimetuple(), value
    assert asked == []
    # Anything else is feedparser's, exactly as before.
    assert _parse_date("2026-11-01") is None and asked == ["2026-11-01"]


_DATE_ELEMENT_RE = re.compile(
    rb"<(pubDate|dc:date|published|updated|modified|issued|created|lastBuildDate)[^>]*>"
    rb"([^<]{1,80})</\1>"
)
_JSON_DATE_RE = re.compile(rb'"date_(?:published|modified)"\s*:\s*"([^"]{1,80})"')


@pytest.mark.slow
def test_every_corpus_date_equals_feedparser(shared_data: Path) -> None:
    """Every date written in the shared feed corpora, real publishers' feeds included."""
    values = set()
    for folder in ("feedparser_corpus", "feeds_realworld_rss_parser"):
        for path in (shared_data / folder).rglob("*"):
            if not path.is_file() or path.name in ("README.md", "SHA256SUMS"):
                continue
            data = path.read_bytes()
            found = [m.group(2) for m in _DATE_ELEMENT_RE.finditer(data)]
            found += [m.group(1) for m in _JSON_DATE_RE.finditer(data)]
            values.update(v.decode("utf-8", "replace").strip() for v in found)
    assert len(values) > 200  # the corpora hold many spellings; finding few means a bad regex
    fast = [v for v in values if rss._W3C_DATE_RE.fullmatch(v) or rss._RFC822_DATE_RE.fullmatch(v)]
    assert len(fast) > 50
    for value in sorted(values):
        assert _parse_date(value) == feedparser_parse_date(value), value
