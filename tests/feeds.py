"""Small feeds built in tests (the real-world corpora live in ../shared/data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


def rss_item(
    guid: str,
    title: str,
    body: str = "",
    *,
    link: str = "",
    author: str = "",
    published: datetime | None = None,
) -> str:
    published = published or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    parts = [f"<title>{escape(title)}</title>"]
    if guid:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if link:
        parts.append(f"<link>{escape(link)}</link>")
    if body:
        parts.append(f"<description>{escape(body)}</description>")
    if author:
        parts.append(f"<author>{escape(author)}</author>")
    parts.append(f"<pubDate>{format_datetime(published)}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def rss_feed(items: list[str], *, title: str = "Test feed", language: str = "en") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example/</link>"
        f"<language>{language}</language>" + "".join(items) + "</channel></rss>"
    ).encode()


def numbered_items(
    count: int, *, prefix: str = "item", start: int = 0, text: str = ""
) -> list[str]:
    """count items about Acme, with distinct ids and times, and a little sentiment."""
    base = datetime(2026, 10, 1, tzinfo=UTC)
    moods = [
        "love the new Acme phone, great battery",
        "Acme support is terrible and slow",
        "Acme opens a store downtown on Friday",
    ]
    return [
        rss_item(
            f"{prefix}-{n}",
            f"Post {n}",
            text or f"{moods[n % 3]} (post {n})",
            link=f"https://news.example/{prefix}/{n}",
            author=f"user{n % 7}@example.com (User {n % 7})",
            published=base + timedelta(minutes=n),
        )
        for n in range(start, start + count)
    ]
