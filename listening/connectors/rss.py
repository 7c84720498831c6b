"""Parse RSS 2.0 / RSS 1.0 / Atom / JSON Feed bodies into RawItems (no HTTP here).

Two paths give the same items:

- a fast path (lxml + a small port of the feedparser rules that matter for our fields) for
  well-formed feeds, ~20x cheaper than feedparser per item;
- feedparser for everything else (ill-formed XML, odd encodings, DOCTYPEs, RSS 0.9x, CDF,
  Atom 0.3, ...).

The fast path *declines* (returns None) whenever it is not certain to produce what feedparser
would: the corpus test (tests/listening/test_rss_corpora.py) compares both on every feed the
fast path accepts. Comparison is on the stored text (clean_text), because feedparser sanitises
HTML while the fast path keeps the raw markup for clean_text to strip.

Field rules, identical on both paths:
- external_id: guid / atom:id / rdf:about / JSON id; else stable_item_id(link, title, date).
- url: the item link as feedparser resolves it (xml:base, feed URL; guid isPermaLink as link);
  only http(s) URLs are kept.
- body: the first full content (content:encoded, atom:content, JSON content_html/_text) that is
  text, HTML or XHTML; else the summary / description (JSON summary).
- author: the entry author's name (else e-mail); handle = that value lower-cased and trimmed;
  author_url = the author's uri/url.
- published_at: the published date (pubDate, atom:published, dcterms:issued, JSON
  date_published), else the updated date (dc:date, atom:updated, JSON date_modified), parsed
  with feedparser's own date parser so both paths agree; UTC; None if unparseable.
- language: the xml:lang in effect at the body (else title) element, else the item's own
  <language>, else the feed's language.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date as _feedparser_parse_date
from feedparser.encodings import parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin as _feedparser_urljoin
from feedparser.urls import make_safe_absolute_uri
from lxml import etree

from listening.connectors.base import (
    Connector,
    ConnectorError,
    FetchedPage,
    RawItem,
    SourceState,
)
from listening.connectors.http import safe_get
from listening.connectors.values import json_str
from listening.outside import API_JSON_MAX_DEPTH, json_loads_bounded, web_url
from listening.text import clean_text


class FeedParseError(ConnectorError):
    """The body looks like a feed but nothing usable could be parsed from it."""

    error_class = "malformed_feed"


class NotAFeed(FeedParseError):
    """The body is no feed at all: an HTML page, an empty body, JSON that is not a JSON Feed."""

    error_class = "not_a_feed"


@dataclass(slots=True)
class ParsedFeed:
    items: list[RawItem]
    # feedparser's version names ("rss20", "rss10", "atom10", ...) plus "json1" / "json11".
    format: str
    title: str
    warnings: list[str] = field(default_factory=list)
    parser: str = "fast"  # "fast" or "feedparser"


MAX_EXTERNAL_ID = 255


# A plain absolute web URL (lower-case scheme, simple host, no userinfo, no empty query or
# fragment, no ";" params, no controls or spaces): urljoin() returns it unchanged, and joining
# 24,000 of them was 15% of the benchmark's parse time.
_PLAIN_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9.\-_]+(?::[0-9]{1,5})?(?:/[^\x00-\x20\x7f?#;\\]*)?"
    r"(?:\?[^\x00-\x20\x7f#]+)?(?:#[^\x00-\x20\x7f]+)?\Z"
)


def _urljoin(base: str, uri: str) -> str:
    """feedparser's _urljoin, skipped for URLs it would return unchanged."""
    if _PLAIN_ABSOLUTE_URL.match(uri):
        return uri
    return _feedparser_urljoin(base, uri)


def stable_item_id(link: str, title: str, published: str) -> str:
    """An id for items that carry none: same item, same id across polls and parser paths."""
    digest = hashlib.sha1(f"{link}\n{title}\n{published}".encode(), usedforsecurity=False)
    return "sha1:" + digest.hexdigest()


def _cap_id(external_id: str) -> str:
    if len(external_id) <= MAX_EXTERNAL_ID:
        return external_id
    # The column is 255 chars; a hash keeps over-long ids (data: URIs, query strings) unique.
    return "sha1:" + hashlib.sha1(external_id.encode(), usedforsecurity=False).hexdigest()


# The two date forms nearly every feed writes: W3C/ISO 8601 (Atom, JSON Feed) and RFC 822
# (RSS), each in its canonical spelling. feedparser's _parse_date tries up to nine parsers in
# Python for each (the RFC 822 form only after the W3C one has failed); for these spellings
# its answer is the time minus the offset, which _parse_date below computes directly
# (tests/listening/test_rss_dates.py compares both on every date of the feed corpora and on
# generated ones). Anything else, or a value datetime refuses, goes to feedparser as before.
_W3C_DATE_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?(?:[Zz]|([+-])(\d\d):(\d\d))"
)
_RFC822_DATE_RE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d\d?) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d)"
    r" (?:GMT|UT|Z|([+-])(\d\d)(\d\d))"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}


def _parse_date(value: str) -> time.struct_time | None:
    """feedparser's date parsing (a UTC 9-tuple or None), answered directly for the canonical
    W3C and RFC 822 spellings."""
    if match := _W3C_DATE_RE.fullmatch(value):
        year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    elif match := _RFC822_DATE_RE.fullmatch(value):
        day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
        month = _MONTHS[month]
    else:
        return _feedparser_parse_date(value)
    try:
        # Naive, as feedparser computes it: utctimetuple() then reads it as UTC.
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))  # noqa: DTZ001
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            stamp = stamp - offset if sign == "+" else stamp + offset
        return stamp.utctimetuple()
    except (OverflowError, ValueError):
        # Out of range (year 1 minus an offset, 24:00:00...): feedparser's other parsers may
        # still read something, so ask it as before.
        return _feedparser_parse_date(value)


def _to_datetime(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _make_item(
    *,
    external_id: str,
    link: str,
    title: str,
    body: str,
    author_name: str,
    author_email: str,
    author_url: str,
    published: time.struct_time | None,
    language: str,
) -> RawItem:
    url = web_url(link)
    published_at = _to_datetime(published)
    external_id = external_id.strip()
    if not external_id:
        stamp = published_at.isoformat() if published_at else ""
        # The clean title: raw titles differ in markup between paths (feedparser sanitises).
        external_id = stable_item_id(url, clean_text(title), stamp)
    name = (author_name or author_email or "").strip()
    return RawItem(
        external_id=_cap_id(external_id),
        url=url,
        title=title,
        body=body,
        author_handle=name.lower(),
        author_name=name,
        author_url=web_url(author_url or ""),
        published_at=published_at,
        language=(language or "").strip(),
    )


def _base_uri(url: str) -> str:
    # Exactly what feedparser.parse derives from the Content-Location header.
    return make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""


# --------------------------------------------------------------------------------------------
# JSON Feed (https://jsonfeed.org/version/1 and /1.1). feedparser 6.0.x has no JSON Feed
# support (it is only on its development branch), so both paths use this code.

_JSON_VERSIONS = {
    "https://jsonfeed.org/version/1": "json1",
    "http://jsonfeed.org/version/1": "json1",
    "https://jsonfeed.org/version/1.1": "json11",
    "http://jsonfeed.org/version/1.1": "json11",
}


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _parse_json_feed(body: bytes, url: str, parser: str) -> ParsedFeed:
    try:
        data = json_loads_bounded(body.decode("utf-8-sig"), max_depth=API_JSON_MAX_DEPTH)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAFeed(f"The URL returned JSON that could not be parsed ({exc})") from exc
    version = data.get("version") if isinstance(data, dict) else None
    fmt = _JSON_VERSIONS.get(version) if isinstance(version, str) else None
    if fmt is None or not isinstance(data.get("items", []), list):
        raise NotAFeed("The URL returned JSON, but not a JSON Feed (no jsonfeed.org version)")
    base = _base_uri(url)
    feed_language = json_str(data.get("language"))
    items: list[RawItem] = []
    warnings: list[str] = []
    for index, entry in enumerate(data.get("items") or []):
        if not isinstance(entry, dict):
            warnings.append(f"item {index} skipped: not a JSON object")
            continue
        raw_id = entry.get("id")
        # The spec says id is a string, but many feeds emit numbers; both are stable ids.
        item_id = (
            str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
        )
        link = json_str(entry.get("url"))
        authors = entry.get("authors")
        author = authors[0] if isinstance(authors, list) and authors else entry.get("author")
        author = author if isinstance(author, dict) else {}
        date = json_str(entry.get("date_published")) or json_str(entry.get("date_modified"))
        items.append(
            _make_item(
                external_id=item_id,
                link=_urljoin(base, link.strip()) if link.strip() else "",
                title=json_str(entry.get("title")),
                body=json_str(entry.get("content_html"))
                or json_str(entry.get("content_text"))
                or json_str(entry.get("summary")),
                author_name=json_str(author.get("name")),
                author_email="",
                author_url=json_str(author.get("url")),
                published=_parse_date(date) if date.strip() else None,
                language=json_str(entry.get("language")) or feed_language,
            )
        )
    return ParsedFeed(
        items=items,
        format=fmt,
        title=json_str(data.get("title")).strip(),
        warnings=warnings,
        parser=parser,
    )


# --------------------------------------------------------------------------------------------
# feedparser path


_TEXTUAL_TYPES = {"text/plain", "text/html", "application/xhtml+xml"}


def _fp_body(entry: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    for content in entry.get("content") or []:
        if content.get("type") in _TEXTUAL_TYPES and content.get("value"):
            return content["value"], content
    return entry.get("summary", "") or "", entry.get("summary_detail")


def parse_feed_feedparser(body: bytes, *, content_type: str = "", url: str = "") -> ParsedFeed:
    """Parse with feedparser (sanitising, lenient); the reference for the fast path."""
    if _looks_like_json(body) and "xml" not in content_type.lower():
        return _parse_json_feed(body, url, "feedparser")
    headers: dict[str, str] = {}
    if url:
        headers["content-location"] = url
        # With a Content-Location but no Content-Type, feedparser would assume ISO-8859-1 for
        # undeclared encodings (HTTP/1.0 rules); a file without headers defaults to UTF-8.
        # application/xml keeps the no-header behaviour while passing the base URL.
        headers["content-type"] = content_type or "application/xml"
    elif content_type:
        headers["content-type"] = content_type
    # Bytes, never a URL or path: feedparser would otherwise open files or fetch URLs itself.
    result = feedparser.parse(body, response_headers=headers or None)
    version = result.get("version") or ""
    entries = result.get("entries") or []
    warnings: list[str] = []
    bozo = result.get("bozo_exception") if result.get("bozo") else None
    if not entries and not version:
        raise _classify_failure(body, content_type, bozo)
    if bozo is not None:
        warnings.append(f"Feed is not well-formed, parsed leniently: {bozo}")
    feed = result.get("feed") or {}
    feed_language = feed.get("language") or ""
    items: list[RawItem] = []
    for entry in entries:
        body_text, body_detail = _fp_body(entry)
        detail = body_detail or entry.get("title_detail") or {}
        author = entry.get("author_detail") or {}
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(
            _make_item(
                external_id=entry.get("id", "") or "",
                link=entry.get("link", "") or "",
                title=entry.get("title", "") or "",
                body=body_text,
                author_name=author.get("name", "") or "",
                author_email=author.get("email", "") or "",
                author_url=author.get("href", "") or "",
                published=published,
                language=detail.get("language") or entry.get("language") or feed_language,
            )
        )
    return ParsedFeed(
        items=items,
        format=version,
        title=(feed.get("title") or "").strip(),
        warnings=warnings,
        parser="feedparser",
    )


_HTML_SNIFF_RE = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)


def _classify_failure(body: bytes, content_type: str, bozo: Exception | None) -> FeedParseError:
    mime = parse_content_type(content_type)[0].lower() if content_type else ""
    head = body[:4096].lstrip()
    if not head.strip(b"\x00\xef\xbb\xbf \t\r\n"):
        return NotAFeed("The URL returned an empty body, not a feed")
    if mime in ("text/html", "application/xhtml+xml") or _HTML_SNIFF_RE.search(head):
        shown = f" ({mime})" if mime else ""
        return NotAFeed(
            f"The URL returned an HTML page, not a feed{shown}; "
            "look for a <link rel=alternate> feed address"
        )
    if head[:1] == b"<" or b"<?xml" in head[:100] or "xml" in mime:
        reason = f": {bozo}" if bozo is not None else ""
        return FeedParseError(f"The feed could not be parsed{reason}")
    shown = f" ({mime})" if mime else ""
    return NotAFeed(f"The URL returned something that is not a feed{shown}")


# --------------------------------------------------------------------------------------------
# Fast path: lxml, hardened, mirroring feedparser's strict-parser rules for our fields.


class _Decline(Exception):  # noqa: N818 - internal control flow, never escapes this module
    """The fast path cannot be sure to match feedparser: hand the body to feedparser."""


_XML_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    recover=False,
    remove_comments=True,
)

# feedparser's namespace URI -> prefix table, so element names map exactly as in feedparser.
_NS = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_ATTR_PREFIX = {_XML_NS: "xml", "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf"}

_TITLE = {"title", "dc:title", "media:title"}
_SUMMARY = {"description", "dc:description", "media:description", "summary", "itunes:summary"}
_CONTENT = {"content", "content:encoded", "fullitem"}
_AUTHOR = {"author", "dc:author", "dc:creator", "itunes:author"}
_PUBLISHED = {"pubdate", "published", "issued", "dcterms:issued"}
_UPDATED = {"updated", "modified", "dc:date", "dcterms:modified"}
_LANGUAGE = {"language", "dc:language"}
_IGNORED_SUBTREES = {"source"}  # feedparser keeps atom:source fields out of the entry
# Elements that switch feedparser into another context or meaning inside an item.
_UNSAFE_IN_ITEM = {
    "abstract", "body", "xhtml:body", "image", "textinput", "item", "entry", "channel", "feed",
    "managingeditor", "lastbuilddate", "contributor",
    "dc:contributor", "dcterms:created", "svg", "name", "email", "uri", "url", "homepage",
    "itunes:name", "itunes:email", "itunes:owner",
    "expirationdate", "tags", "keywords", "newlocation", "info",
}  # fmt: skip
_AUTHOR_CHILDREN = {"name", "email", "uri", "url", "homepage"}

_EMAIL_RE = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_LINK_ENTITY_RE = re.compile("&([A-Za-z0-9_]+);")
_CDATA_OR_DROPPED_RE = re.compile(
    r"<!\[CDATA\[|<(?:iframe|object|noscript|template)\b[^>]*>(?!\s*</)", re.IGNORECASE
)
_SAFE_ENCODINGS = {"utf-8", "ascii", "latin-1"}


def _fixup(text: str) -> str:
    """feedparser's post-processing of every text element (mixin.pop)."""
    text = text.strip()
    if text.isascii():
        return text
    # feedparser undoes UTF-8 read as ISO-8859-1, then maps C1 controls to cp1252 characters.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252)


def _key_of(el: etree._Element, cache: dict[tuple[str, str | None], str]) -> str:
    tag = el.tag
    prefix_given = el.prefix
    cache_key = (tag, prefix_given)
    key = cache.get(cache_key)
    if key is not None:
        return key
    if tag[0] == "{":
        uri, local = tag[1:].split("}", 1)
        low = uri.lower()
        if "backend.userland.com/rss" in low:
            low = "http://backend.userland.com/rss"
        prefix = _NS.get(low, prefix_given or "")
    else:
        prefix, local = "", tag
    key = f"{prefix.lower()}:{local.lower()}" if prefix else local.lower()
    cache[cache_key] = key
    return key


def _attrs(el: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in el.attrib.items():
        if name[0] == "{":
            uri, local = name[1:].split("}", 1)
            prefix = _ATTR_PREFIX.get(uri) or _NS.get(uri.lower(), "")
            name = f"{prefix}:{local}" if prefix else local
        out[name.lower()] = value
    return out


def _text_only(el: etree._Element) -> str:
    if len(el):
        raise _Decline("markup inside a text element")
    return el.text or ""


def _content_type(attrs: dict[str, str], default: str) -> str:
    return _FeedParserMixin.map_content_type(attrs.get("type", default).lower())


def _xhtml_markup(el: etree._Element) -> str:
    # feedparser re-serialises inline XHTML with local names; clean_text only needs the tags'
    # names (block vs inline) and the text, so a namespace-free serialisation is equivalent.
    parts = [el.text or ""]
    for child in el:
        copy = etree.fromstring(etree.tostring(child, with_tail=False))
        for node in copy.iter():
            if isinstance(node.tag, str):
                node.tag = etree.QName(node).localname
        etree.cleanup_namespaces(copy)
        parts.append(etree.tostring(copy, encoding="unicode", with_tail=False))
        parts.append(child.tail or "")
    return "".join(parts)


class _FastWalker:
    """Walk an lxml tree like feedparser's SAX handler, for the fields RawItem needs."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.lang: str | None = None
        self.base_stack: list[str] = []
        self.lang_stack: list[str | None] = []
        self.cache: dict[tuple[str, str | None], str] = {}
        self.feed_language = ""
        self.feed_title = ""
        self.items: list[RawItem] = []
        self.check_html = True

    # xml:base / xml:lang bookkeeping, as feedparser's unknown_starttag / unknown_endtag.
    def enter(self, attrs: dict[str, str] | None) -> None:
        if attrs:
            given = attrs.get("xml:base", attrs.get("base"))
            if given:
                if self.base:
                    self.base = make_safe_absolute_uri(self.base, given) or self.base
                else:
                    self.base = _urljoin(self.base, given)
            lang = attrs.get("xml:lang", attrs.get("lang"))
            if lang == "":
                self.lang = None
            elif lang is not None:
                self.lang = lang
        self.base_stack.append(self.base)
        self.lang_stack.append(self.lang)

    def leave(self) -> None:
        self.base_stack.pop()
        if self.base_stack and self.base_stack[-1]:
            self.base = self.base_stack[-1]
        self.lang_stack.pop()
        if self.lang_stack:
            self.lang = self.lang_stack[-1]

    def html_field(self, el: etree._Element, attrs: dict[str, str], default_type: str) -> str:
        ctype = _content_type(attrs, default_type)
        if attrs.get("mode") or attrs.get("src") is not None:
            raise _Decline("content mode/src")
        if ctype == "application/xhtml+xml":
            return _xhtml_markup(el)
        if ctype not in ("text/plain", "text/html"):
            raise _Decline(f"content type {ctype}")
        text = _fixup(_text_only(el))
        # feedparser sanitises HTML (and RSS text that looks like HTML) and keeps iframe/object
        # fallback text and CDATA markers as text, where clean_text drops them.
        if "<" in text and _CDATA_OR_DROPPED_RE.search(text):
            raise _Decline("markup feedparser's sanitiser treats differently")
        return text

    def walk_root(self, root: etree._Element, version: str) -> None:
        self.enter(_attrs(root) if root.attrib else None)
        root_lang = self.lang
        if root_lang:
            self.feed_language = root_lang.replace("_", "-")
        for el in root:
            self.walk_feed_level(el, version)
        self.leave()

    def walk_feed_level(self, el: etree._Element, version: str) -> None:
        if not isinstance(el.tag, str):
            return
        key = _key_of(el, self.cache)
        attrs = _attrs(el) if el.attrib else None
        if key in ("item", "entry"):
            self.enter(attrs)
            self.walk_item(el, attrs or {}, version)
            self.leave()
            return
        if key in ("image", "textinput", "source"):
            return  # no items inside; feedparser keeps their titles out of the feed title
        self.enter(attrs)
        if key == "channel":
            if attrs and ("lastmod" in attrs or "href" in attrs):
                raise _Decline("CDF channel attributes")
            for child in el:
                self.walk_feed_level(child, version)
        elif key in _LANGUAGE and not len(el):
            self.feed_language = _fixup(el.text or "")
        elif key == "title" and not len(el) and not self.feed_title:
            self.feed_title = _fixup(el.text or "")
        else:
            # Anything else at feed level must not hide an item (feedparser finds them anywhere).
            for sub in el.iter("{*}item", "{*}entry", "item", "entry"):
                if _key_of(sub, self.cache) in ("item", "entry"):
                    raise _Decline("item nested in an unexpected element")
        self.leave()

    def walk_item(self, item: etree._Element, attrs: dict[str, str], version: str) -> None:
        if "lastmod" in attrs or "href" in attrs:
            raise _Decline("CDF item")
        external_id = attrs.get("rdf:about") or ""
        link: str | None = None
        # feedparser's state for the text fields, see _base.Namespace._start_description etc.
        title: str | None = None
        title_lang: str | None = None
        summary = ""
        summary_lang: str | None = None
        summary_set = summary_detail = has_content = False
        contents: list[tuple[str, str | None]] = []
        authors: list[tuple[str, str, str, bool]] = []
        author_name = author_email = author_url = ""
        published: time.struct_time | None = None
        updated: time.struct_time | None = None
        item_language = ""
        seen: set[str] = set()
        for el in item:
            if not isinstance(el.tag, str):
                continue
            key = _key_of(el, self.cache)
            el_attrs = _attrs(el) if el.attrib else {}
            role = key
            if key in _TITLE:
                role = "title"
            elif key in _SUMMARY:
                role = "summary"
            elif key in _CONTENT:
                role = "content"
            elif key in _AUTHOR:
                role = "author"
            elif key in _PUBLISHED:
                role = "published"
            elif key in _UPDATED:
                role = "updated"
            elif key in ("guid", "id"):
                role = "id"
            elif key in _LANGUAGE:
                role = "language"
            elif key == "link" and (
                el_attrs.get("url") or el_attrs.get("uri") or el_attrs.get("href")
            ):
                role = "atomlink"
            elif key == "link":
                role = "link"
            elif key in _UNSAFE_IN_ITEM:
                raise _Decline(f"<{key}> in an item")
            elif key not in _IGNORED_SUBTREES:
                self.check_nested(el)
                continue
            else:
                continue
            if role not in ("atomlink", "title", "summary", "content", "author"):
                if role in seen:
                    raise _Decline(f"repeated {role} in an item")
                seen.add(role)
            self.enter(el_attrs)
            if role == "title":
                if key == "media:title" and "title" in seen:
                    raise _Decline("media:title beside a title")
                seen.add("title")
                value = self.html_field(el, el_attrs, "text/plain")
                if value.strip() and not clean_text(value):
                    raise _Decline("title that sanitises to nothing")
                # The first non-empty title wins (feedparser's title_depth rule).
                if not title:
                    title, title_lang = value, self.lang
            elif role == "summary":
                if summary_set and not has_content:
                    # A second summary/description is taken as content (text/plain default).
                    contents.append((self.html_field(el, el_attrs, "text/plain"), self.lang))
                    has_content = True
                else:
                    default = "text/html" if key.endswith("description") else "text/plain"
                    summary = self.html_field(el, el_attrs, default)
                    summary_lang, summary_set, summary_detail = self.lang, True, True
            elif role == "content":
                default = "text/html" if key != "content" else "text/plain"
                value = self.html_field(el, el_attrs, default)
                contents.append((value, self.lang))
                has_content = True
                if not summary_set:
                    summary, summary_set = value, True
            elif role == "author":
                authors.append((*self.author(el), len(el) > 0))
            elif role == "published":
                value = _fixup(_text_only(el))
                published = _parse_date(value) if value else None
            elif role == "updated":
                value = _fixup(_text_only(el))
                updated = _parse_date(value) if value else None
            elif role == "id":
                value = _fixup(_text_only(el))
                is_link = el_attrs.get("ispermalink", "true") == "true"
                if value and is_link:
                    value = _urljoin(self.base or "", value)
                external_id = value
                if is_link and link is None:
                    link = value
            elif role == "language":
                item_language = _fixup(_text_only(el))
            elif role == "link":
                value = _fixup(_text_only(el))
                if value:
                    value = _urljoin(self.base or "", value)
                value = _LINK_ENTITY_RE.sub(r"&\g<1>", value.replace("&amp;", "&"))
                link = value
            elif role == "atomlink":
                href = el_attrs.get("url") or el_attrs.get("uri") or el_attrs.get("href") or ""
                rel = el_attrs.get("rel", "alternate").lower()
                default_type = "application/atom+xml" if rel == "self" else "text/html"
                ltype = _FeedParserMixin.map_content_type(el_attrs.get("type", default_type))
                if rel == "alternate" and ltype.lower() in ("text/html", "application/xhtml+xml"):
                    link = _urljoin(self.base or "", href)
            self.leave()
        if len(authors) > 1 and any(has_children for *_, has_children in authors):
            raise _Decline("several authors, not all plain text")
        for name, email, href, _ in authors:
            # feedparser keeps the first plain-text author that parsed to something.
            if name or email or href:
                author_name, author_email, author_url = name, email, href
                break
        body_pick = next(((v, lang) for v, lang in contents if v), None)
        if body_pick is not None:
            text, lang = body_pick
        else:
            text = summary
            lang = summary_lang if summary_detail else title_lang
        self.items.append(
            _make_item(
                external_id=external_id,
                link=link or "",
                title=title or "",
                body=text,
                author_name=author_name,
                author_email=author_email,
                author_url=author_url,
                published=published or updated,
                language=(lang.replace("_", "-") if lang else "")
                or item_language
                or self.feed_language,
            )
        )

    def check_nested_element(self, el: etree._Element) -> None:
        self.check_nested(el, include_self=True)

    def check_nested(self, el: etree._Element, include_self: bool = False) -> None:
        # Unknown extension elements are fine as long as nothing inside maps to a field.
        for sub in el.iter() if include_self else el.iterdescendants():
            if isinstance(sub.tag, str):
                key = _key_of(sub, self.cache)
                if (
                    key in _TITLE
                    or key in _SUMMARY
                    or key in _CONTENT
                    or key in _AUTHOR
                    or key in _PUBLISHED
                    or key in _UPDATED
                    or key in _UNSAFE_IN_ITEM
                    or key in ("guid", "id", "link", "language", "dc:language")
                ):
                    raise _Decline(f"<{key}> nested in an extension element")

    def author(self, el: etree._Element) -> tuple[str, str, str]:
        if not len(el):
            text = _fixup(el.text or "")
            if not text:
                return "", "", ""
            email = ""
            match = _EMAIL_RE.search(text)
            if match:
                email = match.group(0)
                text = text.replace(email, "").replace("()", "").replace("<>", "")
                text = text.replace("&lt;&gt;", "").strip()
                if text and text[0] == "(":
                    text = text[1:]
                if text and text[-1] == ")":
                    text = text[:-1]
                text = text.strip()
            return text, email, ""
        if (el.text or "").strip():
            raise _Decline("author with text and children")
        found: dict[str, str] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            key = _key_of(child, self.cache)
            if key not in _AUTHOR_CHILDREN:
                self.check_nested_element(child)
                continue
            if key in found or (child.tail or "").strip():
                raise _Decline("unusual author element")
            self.enter(_attrs(child) if child.attrib else None)
            value = _text_only(child)
            if key in ("uri", "url", "homepage"):
                value = _fixup(value)
                value = _urljoin(self.base or "", value) if value else value
                key = "href"
                if "href" in found:
                    raise _Decline("two author URLs")
            else:
                value = value.strip()
            found[key] = value
            self.leave()
        return found.get("name", ""), found.get("email", ""), found.get("href", "")


def _fast_version(root: etree._Element) -> str | None:
    tag = root.tag
    if not isinstance(tag, str):
        return None
    nsmap = root.nsmap
    version = ""
    for prefix, uri in nsmap.items():
        low = (uri or "").lower()
        if (prefix, low) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
            return None  # RSS 0.90: leave to feedparser
        if low in ("http://purl.org/rss/1.0/", "http://www.w3.org/2005/atom"):
            found = "rss10" if low == "http://purl.org/rss/1.0/" else "atom10"
            if version and version != found:
                return None
            version = found
    local = etree.QName(tag).localname
    uri = etree.QName(tag).namespace
    if local == "rss" and uri is None:
        if version and version.startswith("rss"):
            return version
        return "rss20" if root.get("version", "").startswith("2.") else None
    if local == "RDF" and uri == "http://www.w3.org/1999/02/22-rdf-syntax-ns#":
        return "rss10" if version == "rss10" else None
    if local == "feed" and uri == "http://www.w3.org/2005/Atom":
        return "atom10" if version == "atom10" else None
    return None


def _effective_encoding(body: bytes, content_type: str) -> str | None:
    """The encoding feedparser would decode with, if it is one the fast path can trust."""
    if body[:3] == codecs.BOM_UTF8:
        bom = "utf-8"
    elif body[:2] in (codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE) or body[:1] == b"\x00":
        return None
    else:
        bom = ""
    match = re.match(rb"^(?:\xef\xbb\xbf)?<\?.*encoding=['\"](.*?)['\"].*\?>", body[:200])
    xml_encoding = match.group(1).decode("ascii", "replace").lower() if match else ""
    mime, http_encoding = parse_content_type(content_type) if content_type else ("", "")
    mime = mime.lower()
    if (
        mime in ("text/xml", "text/xml-external-parsed-entity")
        or (mime.startswith("text/") and mime.endswith("+xml"))
        or mime.startswith("text/")
    ):
        chosen = http_encoding or "us-ascii"
    else:
        chosen = http_encoding or xml_encoding or "utf-8"
    try:
        chosen_name = codecs.lookup(chosen).name
        declared = codecs.lookup(xml_encoding or bom or "utf-8").name
    except LookupError:
        return None
    if chosen_name not in ("utf-8", "ascii", "iso8859-1", "latin-1"):
        return None
    if chosen_name == "ascii":
        if not body.isascii():
            return None
        return "ascii"
    if chosen_name != declared:
        return None
    return chosen_name


def parse_feed_fast(body: bytes, *, content_type: str = "", url: str = "") -> ParsedFeed | None:
    """lxml fast path; None means "not certain to match feedparser, use parse_feed_feedparser"."""
    if _looks_like_json(body):
        if "xml" in content_type.lower():
            return None
        try:
            return _parse_json_feed(body, url, "fast")
        except NotAFeed:
            return None
    if _effective_encoding(body, content_type) is None:
        return None
    # DOCTYPE / entity declarations: feedparser rewrites them (and expands safe entities);
    # refusing them here also means no entity expansion of any kind on this path.
    if b"<!DOCTYPE" in body[:4096] or b"<!ENTITY" in body:
        return None
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    version = _fast_version(root)
    if version is None:
        return None
    warnings: list[str] = []
    mime = parse_content_type(content_type)[0].lower() if content_type else ""
    if mime and not (mime in ("application/xml", "text/xml") or mime.endswith("+xml")):
        # feedparser parses these too but flags them; keep the same warning.
        warnings.append(f"{content_type} is not an XML media type")
    walker = _FastWalker(_base_uri(url))
    try:
        walker.walk_root(root, version)
    except _Decline:
        return None
    return ParsedFeed(
        items=walker.items,
        format=version,
        title=walker.feed_title,
        warnings=warnings,
        parser="fast",
    )


def parse_feed(body: bytes, *, content_type: str = "", url: str = "") -> ParsedFeed:
    """Parse a fetched body: fast path when certain, feedparser otherwise.

    Raises NotAFeed (HTML page, empty body, non-feed JSON) or FeedParseError (broken feed with
    nothing usable).
    """
    if not body or not body.strip(b"\x00\xef\xbb\xbf \t\r\n"):
        raise NotAFeed("The URL returned an empty body, not a feed")
    parsed = parse_feed_fast(body, content_type=content_type, url=url)
    if parsed is not None:
        return parsed
    return parse_feed_feedparser(body, content_type=content_type, url=url)


# Feed formats first, anything else accepted: some servers label feeds text/html or
# application/octet-stream, and the parser tells feeds apart by content anyway.
_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9,"
    " application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


class RssConnector(Connector):
    """RSS 0.9x/1.0/2.0, Atom and JSON Feed: one kind, told apart by content."""

    kind = "rss"
    url_help = (
        "The feed's address: RSS 0.9x/1.0/2.0, Atom or JSON Feed (told apart by content), "
        "e.g. https://news.example/feed.xml."
    )

    def fetch(self, state: SourceState) -> FetchedPage:
        response = safe_get(
            state.url,
            etag=state.etag,
            last_modified=state.last_modified,
            headers={"Accept": _FEED_ACCEPT},
        )
        if response.status == 304:
            return FetchedPage(
                http_status=304,
                not_modified=True,
                etag=state.etag,
                last_modified=state.last_modified,
            )
        try:
            parsed = parse_feed(
                response.body,
                content_type=response.headers.get("Content-Type", ""),
                url=response.final_url,
            )
        except ConnectorError as exc:
            exc.http_status = response.status
            raise
        return FetchedPage(
            items=parsed.items,
            http_status=response.status,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
            warnings=parsed.warnings,
        )
