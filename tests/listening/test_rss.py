"""parse_feed on small hand-written feeds: fields, ids, links, dates, HTML, hostile input."""

# ruff: noqa: E501 - feed fixtures read better on one line each

from datetime import UTC, datetime

import pytest

from listening.connectors.rss import (
    FeedParseError,
    NotAFeed,
    parse_feed,
    parse_feed_fast,
    parse_feed_feedparser,
    stable_item_id,
)
from listening.text import clean_text

RSS20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Shop news</title><link>https://shop.example.com/</link><language>en-gb</language>
<item><title>New &lt;b&gt;phone&lt;/b&gt; out</title><link>/news/1</link>
<guid isPermaLink="false">item-1</guid><author>jane@example.com (Jane Doe)</author>
<pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate>
<description>Short</description>
<content:encoded><![CDATA[<p>Full <b>text</b></p><script>alert('x')</script>]]></content:encoded></item>
<item><title>No guid</title><link>https://shop.example.com/news/2</link>
<dc:creator>Bob</dc:creator><dc:date>2003-06-10T06:00:00+02:00</dc:date>
<description>Second &amp; last</description></item>
<item><title>Other no guid</title><description>x</description></item>
</channel></rss>"""

RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://example.org/"><title>RDF</title><link>https://example.org/</link></channel>
<item rdf:about="https://example.org/a"><title>A</title><link>https://example.org/a</link>
<description>About A</description><dc:date>2004-01-01T00:00:00Z</dc:date><dc:language>fr</dc:language></item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de" xml:base="https://blog.example.net/feed/">
<title>Blog</title><id>urn:x</id><updated>2005-01-01T00:00:00Z</updated>
<entry><id>tag:blog.example.net,2005:1</id><title type="html">Caf&amp;eacute; &lt;i&gt;open&lt;/i&gt;</title>
<link rel="self" href="/self/1"/><link rel="alternate" type="text/html" href="../posts/1"/>
<author><name>Ann</name><email>ann@example.net</email><uri>/ann</uri></author>
<published>2005-01-02T10:00:00-05:00</published><updated>2005-01-03T00:00:00Z</updated>
<summary>Sum</summary><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>One</p><p>Two</p></div></content>
</entry></feed>"""

JSON11 = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "en",
"items": [{"id": "1", "url": "/p/1", "title": "T", "content_html": "<p>Hi</p>",
"authors": [{"name": "Zed", "url": "https://z.example"}], "date_published": "2020-02-03T04:05:06Z"},
{"id": 2, "content_text": "plain", "date_modified": "2020-02-04T00:00:00+01:00"}]}"""


def _both(body: bytes, **kw):  # noqa: ANN003, ANN202
    fast = parse_feed_fast(body, **kw)
    slow = parse_feed_feedparser(body, **kw)
    assert fast is not None

    def key(i):  # noqa: ANN001, ANN202
        return (
            i.external_id,
            i.url,
            clean_text(i.title),
            clean_text(i.body),
            i.author_handle,
            i.author_name,
            i.author_url,
            i.published_at,
            i.language,
        )

    assert [key(i) for i in fast.items] == [key(i) for i in slow.items]
    return fast


def test_rss20_all_fields() -> None:
    feed = _both(RSS20, url="https://shop.example.com/feed.xml")
    assert (feed.format, feed.title, feed.parser) == ("rss20", "Shop news", "fast")
    first, second, third = feed.items
    assert first.external_id == "item-1"
    assert first.url == "https://shop.example.com/news/1"
    assert clean_text(first.title) == "New phone out"
    assert clean_text(first.body) == "Full text"  # content:encoded preferred, script dropped
    assert (first.author_name, first.author_handle) == ("Jane Doe", "jane doe")
    assert first.published_at == datetime(2003, 6, 10, 4, tzinfo=UTC)
    assert first.language == "en-gb"
    assert second.published_at == datetime(2003, 6, 10, 4, tzinfo=UTC)
    assert second.author_name == "Bob"
    assert second.external_id.startswith("sha1:") and third.external_id.startswith("sha1:")
    assert second.external_id != third.external_id
    assert parse_feed(RSS20).items[1].external_id == second.external_id


def test_stable_id_is_stable() -> None:
    assert stable_item_id("u", "t", "d") == stable_item_id("u", "t", "d")
    assert stable_item_id("u", "t", "d") != stable_item_id("u", "t2", "d")


def test_rss10_and_atom_and_json() -> None:
    rdf = _both(RSS10)
    assert rdf.format == "rss10"
    assert rdf.items[0].external_id == "https://example.org/a"
    assert rdf.items[0].published_at == datetime(2004, 1, 1, tzinfo=UTC)
    atom = _both(ATOM)
    entry = atom.items[0]
    assert atom.format == "atom10"
    assert entry.url == "https://blog.example.net/posts/1"
    assert clean_text(entry.title) == "Caf\u00e9 open"
    assert clean_text(entry.body) == "One Two"
    assert entry.author_url == "https://blog.example.net/ann"
    assert entry.published_at == datetime(2005, 1, 2, 15, tzinfo=UTC)
    assert entry.language == "de"
    js = _both(JSON11, url="https://j.example/feed.json")
    assert js.format == "json11"
    assert js.items[0].url == "https://j.example/p/1"
    assert js.items[0].author_name == "Zed"
    assert js.items[1].external_id == "2"
    assert js.items[1].published_at == datetime(2020, 2, 3, 23, tzinfo=UTC)


def test_not_a_feed() -> None:
    with pytest.raises(NotAFeed):
        parse_feed(b"")
    with pytest.raises(NotAFeed, match="HTML page"):
        parse_feed(
            b"<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>",
            content_type="text/html",
        )
    with pytest.raises(NotAFeed):
        parse_feed(b'{"hello": "world"}')


def test_truncated_feed_falls_back_with_warning() -> None:
    body = RSS20[: RSS20.index(b"<item><title>Other")]
    assert parse_feed_fast(body) is None
    feed = parse_feed(body)
    assert feed.parser == "feedparser" and feed.warnings
    assert len(feed.items) >= 2 and feed.items[0].external_id == "item-1"


def test_invalid_utf8_recovers_with_warning() -> None:
    body = RSS20.replace(b"Short", b"Sh\xff\xfert")
    feed = parse_feed(body)
    assert feed.parser == "feedparser" and feed.warnings
    assert len(feed.items) == 3


@pytest.mark.parametrize(
    "body",
    [
        b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><title>t</title><item><title>&d;</title></item></channel></rss>""",
        b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>x&xxe;</title><description>&xxe;</description></item></channel></rss>""",
    ],
)
def test_hostile_entities_are_not_expanded(body: bytes) -> None:
    assert parse_feed_fast(body) is None
    try:
        feed = parse_feed(body)
    except FeedParseError:
        return
    for item in feed.items:
        assert "root:" not in item.title + item.body
        assert len(item.title) < 10_000
