"""Hostile values from feeds and platform APIs: one odd item never costs the page (issue 9).

Everything goes through the real client against a local HTTP server, and the storing tests
through source_poll, so the whole path from bytes to rows is exercised.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.connectors.base import SourceState
from listening.connectors.hn import HackerNewsConnector
from listening.connectors.reddit import RedditConnector
from listening.models import FetchLog, Mention
from listening.services import brand_create, source_create, source_poll

FIXTURES = Path(__file__).parent / "fixtures"
DEEP = b"[" * 100_000 + b"]" * 100_000
_paths = itertools.count()


def serve_json(server, path: str, body: bytes) -> None:
    server.add(path, body, content_type="application/json; charset=utf-8")


# --- Hacker News and Reddit: times set by the platform ---------------------------------------


def test_an_hn_hit_with_an_impossible_time_is_skipped_and_the_rest_kept(feed_server):
    page = json.loads((FIXTURES / "hn" / "search_partial_built.json").read_bytes())
    good = next(hit for hit in page["hits"] if hit.get("objectID") == "9000003")
    page["hits"] = [
        {**good, "objectID": "far", "created_at_i": 10**20},
        good,
    ]
    serve_json(feed_server, "/api/v1/search_by_date", json.dumps(page).encode())
    serve_json(feed_server, "/api/v1/users/pg", b'{"username": "pg", "karma": 1}')
    state = SourceState(
        source_id=1, kind="hn", url=feed_server.url(""), search_terms=("acme",), config={}
    )

    fetched = HackerNewsConnector().fetch(state)

    assert [i.external_id for i in fetched.items] == ["9000003"]
    assert "Skipped 1 of 2 HN hit(s)" in fetched.warnings[0]


def test_a_reddit_item_with_an_impossible_time_is_skipped_and_the_rest_kept(feed_server):
    listing = json.loads((FIXTURES / "reddit" / "listing_partial_built.json").read_bytes())
    children = listing["data"]["children"]
    state = SourceState(
        source_id=1, kind="reddit", url=feed_server.url(""), search_terms=("acme",), config={}
    )
    serve_json(feed_server, "/search.json", json.dumps(listing).encode())
    without = [i.external_id for i in RedditConnector().fetch(state).items]
    bad = json.loads(json.dumps(next(c for c in children if c["data"].get("name") == without[0])))
    bad["data"]["name"] = "t3_zzzzzz"
    bad["data"]["created_utc"] = 1e300
    listing["data"]["children"] = [bad, *children]
    serve_json(feed_server, "/search.json", json.dumps(listing).encode())

    with_bad = [i.external_id for i in RedditConnector().fetch(state).items]

    assert without and with_bad == without


@pytest.mark.parametrize(
    ("kind", "path", "config"),
    [
        ("hn", "/api/v1/search_by_date", {}),
        ("reddit", "/search.json", {}),
        ("mastodon", "/api/v1/timelines/tag/acme", {"hashtag": "acme"}),
        ("rss", "/feed.json", {}),
    ],
)
@pytest.mark.django_db
def test_deep_json_from_an_api_is_a_malformed_response_in_the_fetch_log(
    feed_server, kind, path, config
):
    brand = brand_create(name="Acme", query="acme")
    serve_json(feed_server, path, DEEP)
    url = feed_server.url(path if kind == "rss" else "")
    source = source_create(brand=brand, kind=kind, url=url, config=config)

    log = source_poll(source_id=source.pk).fetch_log

    assert log.error_class in ("malformed_response", "not_a_feed", "bad_response"), log.error_class
    assert "nested more than 128 levels" in log.error_message


# --- Feeds: every text and date field is the attacker's ---------------------------------------

feed_dates = st.sampled_from(
    [
        "Mon, 01 Jan 0001 00:00:00 +0000",
        "Fri, 31 Dec 9999 23:59:59 -0500",
        "Sat, 01 Jan 0000 00:00:00 +0000",
        "Thu, 01 Jan 1970 00:00:00 +0000",
        "not a date",
        "",
        format_datetime(datetime(2026, 11, 1, 12, 0, tzinfo=UTC)),
    ]
)
# XML 1.0 cannot carry NUL or most controls; what it can carry, the feed carries.
feed_text = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters="\x00", exclude_categories=("Cs", "Cc")
    ),
    max_size=60,
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(st.tuples(feed_text, feed_text, feed_dates), min_size=1, max_size=6))
def test_any_feed_item_is_stored_once_or_reported_and_the_poll_never_crashes(feed_server, items):
    number = next(_paths)
    brand = brand_create(name=f"Acme {number}", query="acme")
    path = f"/feed-{number}.rss"
    xml_items = "".join(
        f"<item><guid>g{n}</guid><title>acme {escape(title)}</title>"
        f"<description>{escape(body)}</description><author>{escape(title)}</author>"
        f"<pubDate>{escape(date)}</pubDate></item>"
        for n, (title, body, date) in enumerate(items)
    )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://news.example/</link>{xml_items}</channel></rss>"
    ).encode()
    feed_server.add(path, feed, content_type="application/rss+xml")
    source = source_create(brand=brand, kind="rss", url=feed_server.url(path))

    log = source_poll(source_id=source.pk).fetch_log
    source_poll(source_id=source.pk)  # a re-poll doubles nothing

    assert log.error_class == "", log.error_message
    stored = Mention.objects.filter(source=source)
    assert stored.count() == len(items) == log.items_new
    for mention in stored:
        assert datetime(1990, 1, 1, tzinfo=UTC) <= mention.published_at
    assert FetchLog.objects.filter(source=source).count() == 2
