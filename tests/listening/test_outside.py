"""listening.outside: every value a stranger can send is bounded before it reaches the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.connectors.base import RawItem
from listening.outside import (
    COUNT_MAX,
    EXTERNAL_ID_MAX_LENGTH,
    JSON_MAX_DEPTH,
    JsonTooDeep,
    item_make_safe,
    json_loads_bounded,
    safe_external_id,
    safe_line,
    safe_published_at,
    safe_text,
    web_url,
)

FETCHED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# Text a stranger can send: anything Python can hold, lone surrogates and NUL included.
hostile_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=300
) | st.sampled_from(["\ud800", "a\x00b", "\u202eevil\u202c", "\udfff\ud800x", "\x00" * 5, ""])
hostile_count = (
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**20, 2**63, 2**63 - 1, -1, 0])
)
any_offset = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
hostile_date = st.none() | st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=any_offset
)


def is_storable(value: str) -> bool:
    """What PostgreSQL text accepts: valid UTF-8 without NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "year 1 (RSS 'Mon, 01 Jan 0001')"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "before year 1 in UTC"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))), "past 9999"),
        (datetime(1989, 12, 31, 23, 59, tzinfo=UTC), "just before the window"),
        (FETCHED + timedelta(days=1, seconds=1), "more than a day after the fetch"),
    ],
)
def test_a_date_outside_the_window_keeps_the_fetch_time_with_a_warning(value, reason):
    stored, warning = safe_published_at(value, fetched_at=FETCHED)

    assert stored == FETCHED, reason
    assert "outside 1990-01-01" in warning and "stored with the fetch time" in warning


def test_a_date_inside_the_window_is_kept_in_utc():
    moment = datetime(2026, 11, 30, 23, 0, tzinfo=timezone(timedelta(hours=-5)))

    stored, warning = safe_published_at(moment, fetched_at=FETCHED)

    assert (stored, warning) == (datetime(2026, 12, 1, 4, 0, tzinfo=UTC), "")
    assert stored.tzinfo is UTC


def test_the_window_comes_from_the_setting(settings):
    settings.EARSHOT_PUBLISHED_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

    assert safe_published_at(datetime(1975, 5, 5, tzinfo=UTC), fetched_at=FETCHED)[1] == ""


def test_text_keeps_its_lines_but_loses_nul_and_lone_surrogates():
    assert safe_text("caf\u00e9\n\x00line \ud800two") == "caf\u00e9\nline \ufffdtwo"
    assert safe_text("plain ascii\ttext") == "plain ascii\ttext"


def test_a_one_line_field_loses_controls_and_bidi_overrides_and_is_cut():
    assert safe_line("  \u202eevil\u202c\x00 name\n ", 300) == "evil name"
    assert safe_line("x" * 400, 300) == "x" * 300


def test_ids_stay_distinct_when_they_hold_nul_or_are_too_long():
    long_a, long_b = "a" * 300 + "1", "a" * 300 + "2"

    assert safe_external_id("id\x00") != safe_external_id("id")
    assert len(safe_external_id(long_a)) == EXTERNAL_ID_MAX_LENGTH
    assert safe_external_id(long_a) != safe_external_id(long_b)
    assert safe_external_id(long_a) == safe_external_id(long_a)


def test_counts_are_bounded_to_the_column_with_a_warning():
    item = RawItem(external_id="x", body="acme", like_count=10**20, author_followers=2**63)

    safe = item_make_safe(item, fetched_at=FETCHED)

    assert safe.item.like_count == COUNT_MAX and safe.item.author_followers == COUNT_MAX
    assert any("like_count" in w for w in safe.warnings)
    assert any("author_followers" in w for w in safe.warnings)


def test_urls_from_strangers_are_kept_only_as_plain_web_links():
    for url, kept in [
        ("https://ok.example/a", True),
        ("javascript:alert(1)", False),
        ("https://ok.example/\u202eevil", False),
        ("https://ok.example/a b", False),
        ("https://ok.example/" + "a" * 2000, False),
    ]:
        item = RawItem(external_id="x", url=url, author_url=url)
        safe = item_make_safe(item, fetched_at=FETCHED).item
        assert (safe.url == url, safe.author_url == url) == (kept, kept), url


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    external_id=hostile_text.filter(lambda s: s.strip()),
    text=hostile_text,
    name=hostile_text,
    platform=hostile_text,
    published_at=hostile_date,
    count=hostile_count,
)
def test_any_item_comes_out_storable(external_id, text, name, platform, published_at, count):
    item = RawItem(
        external_id=external_id,
        body=text,
        title=text,
        author_handle=name,
        author_name=name,
        platform=platform,
        language=platform,
        in_reply_to=external_id,
        thread_id=external_id,
        published_at=published_at,
        author_followers=count,
        like_count=count,
    )

    safe = item_make_safe(item, fetched_at=FETCHED).item

    for value in (safe.external_id, safe.body, safe.title, safe.author_handle, safe.author_name):
        assert is_storable(value)
    assert len(safe.external_id) <= 255 and len(safe.platform) <= 32 and len(safe.language) <= 20
    assert len(safe.author_handle) <= 300 and len(safe.in_reply_to) <= 255
    assert datetime(1990, 1, 1, tzinfo=UTC) <= safe.published_at <= FETCHED + timedelta(days=1)
    assert safe.published_at.utcoffset() == timedelta(0)
    # isoformat is what the COPY path writes: it must be a year PostgreSQL reads back.
    assert safe.published_at.isoformat()[:4] >= "1990"
    for value in (safe.author_followers, safe.like_count):
        assert value is None or 0 <= value <= COUNT_MAX


def test_json_nested_deeper_than_the_limit_is_refused_before_parsing():
    with pytest.raises(JsonTooDeep):
        json_loads_bounded("[" * 100_000 + "]" * 100_000)
    with pytest.raises(JsonTooDeep):
        json_loads_bounded(b'{"a": ' * (JSON_MAX_DEPTH + 1) + b"1" + b"}" * (JSON_MAX_DEPTH + 1))
    deep_enough = "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH
    assert json_loads_bounded(deep_enough) == json.loads(deep_enough)


def test_brackets_inside_strings_do_not_count_as_depth():
    text = json.dumps({"text": "[[[[{{{{" * 50 + '\\"[[[', "n": [[1]]})

    assert json_loads_bounded(text) == json.loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_bounded_json_parses_what_json_parses_within_the_depth(value):
    text = json.dumps(value)

    assert json_loads_bounded(text) == json.loads(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=JSON_MAX_DEPTH + 1, max_value=5000), st.sampled_from("[{"))
def test_bounded_json_refuses_every_depth_past_the_limit(depth, opener):
    inner = "[" * depth + "]" * depth if opener == "[" else '{"k": ' * depth + "0" + "}" * depth

    with pytest.raises(JsonTooDeep, match=f"more than {JSON_MAX_DEPTH} levels"):
        json_loads_bounded(inner)


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://ok.example/a?b=c#d", "https://ok.example/a?b=c#d"),
        ("  HTTP://OK.example/  ", "HTTP://OK.example/"),
        ("javascript:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("/relative/path", ""),
        ("https://", ""),
        ("https://[::1", ""),
        ("https://ok.example/a b", ""),
        ("https://ok.example/\u202eevil", ""),
        ("https://ok.example/\x00", ""),
        ("", ""),
    ],
)
def test_only_absolute_web_urls_become_links(url, link):
    assert web_url(url) == link


def web_url_by_urlsplit(url: str) -> str:
    """web_url's rule spelled out with urlsplit alone, as it was before its fast path."""
    url = url.strip()
    if not url[:8].lower().startswith(("http://", "https://")):
        return ""
    if " " in url or not url.isprintable():
        return ""
    try:
        return url if urlsplit(url).hostname else ""
    except ValueError:
        return ""


url_like = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTPS://", "hTtP://", "http:/", "ftp://", ""]),
        st.text(alphabet=st.sampled_from("aZ09.-_:@[]/?#%\\ é\u202e\x00\t"), max_size=30),
    ),
)


@settings(max_examples=2000, deadline=None)
@given(url_like | hostile_text)
def test_web_url_keeps_exactly_what_urlsplit_finds_a_host_in(url):
    assert web_url(url) == web_url_by_urlsplit(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://ok.example",
        "http://ok.example:8080/a",
        "https://ok.example:/a",
        "https://ok.example?q",
        "https://ok.example#top",
        "https://user@ok.example/",
        "https://ok.example:port/",
        "https://ok.example\\evil/",
        "https://[::1]/",
        "https://[::1/",
        "https:///path",
        "https://:80/",
        "https://é.example/",
        "https://ok.example/é",
    ],
)
def test_web_url_agrees_with_urlsplit_on_hosts_ports_and_odd_netlocs(url):
    assert web_url(url) == web_url_by_urlsplit(url)
