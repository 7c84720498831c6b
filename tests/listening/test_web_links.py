"""One link rule (listening.outside.web_url) wherever a stranger's URL could become a link:
the RSS connector, the mention admin and the dashboard all follow it, case for case."""

from __future__ import annotations

import pytest
from django.contrib import admin

from listening.admin import MentionAdmin
from listening.connectors.rss import parse_feed_fast, parse_feed_feedparser
from listening.models import Mention
from listening.outside import web_url
from tests.feeds import rss_feed, rss_item

# Links the old per-place checks disagreed on: accepted by a bare "starts with http" test,
# refused by web_url (no host, a space, a control), and ordinary ones in odd case.
LINKS = [
    "https://news.example/acme/1",
    "HTTPS://News.example/acme/2",
    "http://news.example/a?b=1&c=<2>",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/relative/path",
    "https://",
    "https://news.example/a b",
    "https://news.example/\u202eevil",
    "https://[::1/",
]


def test_the_rule_itself_on_the_cases() -> None:
    assert [bool(web_url(link)) for link in LINKS] == [True] * 3 + [False] * 7


@pytest.mark.parametrize("parse", [parse_feed_fast, parse_feed_feedparser])
def test_the_rss_connector_keeps_exactly_the_links_web_url_keeps(parse) -> None:
    feed = rss_feed([rss_item(str(n), "Acme", "acme", link=link) for n, link in enumerate(LINKS)])
    parsed = parse(feed)
    assert parsed is not None
    by_id = {item.external_id: item.url for item in parsed.items}
    assert [bool(by_id[str(n)]) for n in range(len(LINKS))] == [
        bool(web_url(link)) for link in LINKS
    ]
    assert all(url == web_url(url) for url in by_id.values())


def test_the_mention_admin_links_only_what_web_url_keeps() -> None:
    model_admin = MentionAdmin(Mention, admin.site)
    for link in LINKS:
        html = model_admin.link(Mention(url=link))
        assert bool(html) == bool(web_url(link)), link
        assert "javascript:" not in html and "data:" not in html
