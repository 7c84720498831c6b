"""The connectors' JSON coercions (listening/connectors/values.py): one rule, stated here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listening.connectors.base import SourceState
from listening.connectors.bluesky import _map_post_view
from listening.connectors.hn import HackerNewsConnector
from listening.connectors.mastodon import status_to_item
from listening.connectors.reddit import RedditConnector
from listening.connectors.values import json_count, json_int, json_str

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (-3, -3),
        (0, 0),
        (2**70, 2**70),  # bounded later, by listening.outside, for every item
        (5.0, 5),  # integral floats count as ints: some encoders write 1e3
        (1e3, 1000),
        (-2.0, -2),
        (5.5, None),
        (math.inf, None),
        (-math.inf, None),
        (math.nan, None),
        (True, None),  # bool is never a number, though Python's True is an int
        (False, None),
        ("42", None),  # a string of digits is a string
        (None, None),
        ([1], None),
        ({"n": 1}, None),
    ],
    ids=repr,
)
def test_json_int_takes_ints_and_integral_floats_and_nothing_else(value, expected) -> None:
    assert json_int(value) == expected
    assert json_int(value) is None or type(json_int(value)) is int


def test_a_count_is_a_json_int_that_is_not_negative() -> None:
    assert [json_count(v) for v in (0, 7, 7.0, -1, -1.0, True, "3", None)] == [
        0,
        7,
        7,
        None,
        None,
        None,
        None,
        None,
    ]


def test_json_str_keeps_strings_and_blanks_everything_else() -> None:
    assert json_str("caf\u00e9 \x00") == "caf\u00e9 \x00"
    assert json_str("") == ""
    assert [json_str(v) for v in (None, 5, 5.0, True, ["a"], {"a": "b"})] == [""] * 6


@given(json_values)
def test_no_json_value_makes_them_raise_or_return_another_type(value) -> None:
    number, count, text = json_int(value), json_count(value), json_str(value)
    assert number is None or type(number) is int
    assert count is None or (type(count) is int and count >= 0 and count == number)
    assert type(text) is str


# --- every connector reads counts by the rule ----------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
# (value in the API's JSON, the count on the item)
COUNT_CASES = [(9, 9), (5.0, 5), (True, None), (-2, None), ("7", None), (None, None)]


def _fixture(*parts: str):
    return json.loads((FIXTURES.joinpath(*parts)).read_bytes())


def _state(kind: str, url: str, **config) -> SourceState:
    return SourceState(source_id=1, kind=kind, url=url, search_terms=("acme",), config=config)


def hn_points(feed_server, value: object) -> int | None:
    page = _fixture("hn", "search_partial_built.json")
    page["hits"] = [{**h, "points": value} for h in page["hits"] if h.get("objectID") == "9000003"]
    feed_server.add("/api/v1/search_by_date", json.dumps(page).encode())
    feed_server.add("/api/v1/users/pg", b'{"username": "pg", "karma": 1}')
    [item] = HackerNewsConnector().fetch(_state("hn", feed_server.url(""))).items
    return item.like_count


def reddit_comments(feed_server, value: object) -> int | None:
    listing = _fixture("reddit", "listing_partial_built.json")
    posts = [c for c in listing["data"]["children"] if c.get("kind") == "t3"][:1]
    posts[0]["data"]["num_comments"] = value
    listing["data"]["children"] = posts
    feed_server.add("/search.json", json.dumps(listing).encode())
    [item] = RedditConnector().fetch(_state("reddit", feed_server.url(""))).items
    return item.reply_count


def mastodon_favourites(feed_server, value: object) -> int | None:
    status = {**_fixture("mastodon", "timeline_partial_built.json")[0], "favourites_count": value}
    return status_to_item(status, {}).like_count


def bluesky_likes(feed_server, value: object) -> int | None:
    view = {**_fixture("bluesky", "searchPosts_built_partial.json")["posts"][0], "likeCount": value}
    mapped = _map_post_view(view)
    assert mapped is not None
    return mapped[0].like_count


@pytest.mark.parametrize("read", [hn_points, reddit_comments, mastodon_favourites, bluesky_likes])
def test_every_connector_reads_counts_by_the_one_rule(feed_server, read) -> None:
    assert [read(feed_server, value) for value, _ in COUNT_CASES] == [
        count for _, count in COUNT_CASES
    ]
