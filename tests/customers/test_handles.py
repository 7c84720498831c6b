"""One normalisation for customer handles and author handles (customers.handles), checked
against what the real connectors store from recorded API answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from customers.handles import (
    HandleError,
    email_local,
    handle_key,
    handle_local,
    handles_parse,
    name_key,
)
from listening.connectors.bluesky import _map_post_view
from listening.connectors.mastodon import status_to_item

SEARCH = "test_entity_searchv2__02_GET_mastodon_social_api_v2_search.json"


@pytest.mark.parametrize(
    ("platform", "written", "key"),
    [
        ("mastodon", "@Ann@Example.Social", "ann@example.social"),
        ("mastodon", "ann@example.social", "ann@example.social"),
        ("Mastodon", "https://example.social/@Ann", "ann@example.social"),
        ("mastodon", "@ann", "ann"),
        ("bluesky", "@Ann.Example.com", "ann.example.com"),
        ("bluesky", "https://bsky.app/profile/ann.bsky.social", "ann.bsky.social"),
        ("bsky", "did:plc:abc123", "did:plc:abc123"),
        ("twitter", "@Ann", "ann"),
        ("x", "ann", "ann"),
        ("reddit", "u/Ann_R", "ann_r"),
        ("reddit", "https://www.reddit.com/user/Ann_R/", "ann_r"),
        ("hn", "https://news.ycombinator.com/user?id=pg", "pg"),
        ("hackernews", "https://news.ycombinator.com/user?id=PG", "pg"),
        ("twitter", "@", ""),
    ],
)
def test_it_normalises_handles_as_written_by_people(platform, written, key):
    assert handle_key(platform, written) == key


def test_the_local_part_drops_the_instance_and_the_default_bluesky_domain():
    assert handle_local("mastodon", "ann_smith@example.social") == "ann_smith"
    assert handle_local("bluesky", "ann_smith.bsky.social") == "ann_smith"
    assert handle_local("bluesky", "ann.example.com") == "ann.example.com"
    assert handle_local("bluesky", "did:plc:abc") == ""
    assert handle_local("twitter", "ann_smith") == "ann_smith"


def test_names_compare_without_accents_case_punctuation_or_spacing():
    assert name_key("  José  O'Neil ") == "jose o neil"
    assert name_key("JOSE O’NEIL") == "jose o neil"
    assert email_local("Ann.Smith+shop@Example.com") == "ann.smith"
    assert email_local("not-an-address") == ""


def test_the_handles_column_is_parsed_platform_by_platform():
    parsed = handles_parse(
        "mastodon:@ann@example.social bluesky:ann.example.com twitter:@ann TWITTER:ANN"
    )
    assert [(h.platform, h.key) for h in parsed] == [
        ("mastodon", "ann@example.social"),
        ("bluesky", "ann.example.com"),
        ("twitter", "ann"),
    ]
    assert handles_parse("") == []


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("@ann", 'handle "@ann" has no platform'),
        ("twitter:", 'handle "twitter:" has no platform'),
        ("twitter:@", "no usable handle"),
        ("t w:x", "no platform"),
        ("<b>:x", "unknown platform name"),
    ],
)
def test_a_bad_handles_cell_says_which_part(cell, message):
    with pytest.raises(HandleError, match=message):
        handles_parse(cell)


def test_mastodon_authors_from_recorded_statuses_get_the_customers_key(shared_data: Path):
    data = json.loads(
        (shared_data / "api_mastodon" / "responses" / SEARCH).read_text(encoding="utf-8")
    )
    items = [status_to_item(status, {}) for status in data["statuses"]]
    stored = {item.author_handle for item in items}
    assert "Jo@social.sublingual.xyz" in stored  # the connector keeps the server's case
    for item in items:
        user, _, host = item.author_handle.partition("@")
        written = [f"@{user.upper()}@{host.upper()}", item.author_url, f"{user}@{host}"]
        for form in written:
            assert handle_key("mastodon", form) == handle_key("mastodon", item.author_handle)


def test_bluesky_authors_from_recorded_posts_get_the_customers_key(recorded_posts):
    items = [_map_post_view(view)[0] for view in recorded_posts.values()]
    assert items
    for item in items:
        key = handle_key("bluesky", item.author_handle)
        assert key == item.author_handle.lower()
        assert handle_key("bluesky", f"@{item.author_handle.upper()}") == key
        assert handle_key("bluesky", item.author_url) == key
