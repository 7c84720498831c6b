"""Earshot's keyword query language: compile a brand's query once, match it against many items.

Usage::

    query = compile_query('acme OR "acme corp" NOT site:acme.example')
    doc = MatchDocument(text, author="jdoe Jane Doe", url=item_url, lang="en")
    terms = query.match(doc)  # None, or the positive terms that matched, e.g. ["acme"]

An item is tokenised once into a MatchDocument, which is then matched against every brand's
compiled query; the document builds its more expensive indexes (phrase positions, hashtags,
handles, author words, URL host) only when a query first asks for them.

The language
------------
* Terms match whole words, case-insensitively (NFKC + str.casefold), so ``acme`` matches
  "Acme's", "ACME!", "#acme" and "@acme" but not "acmecorp". A word is a run of Unicode word
  characters (``\\w``, plus the BMP's combining marks so "हिन्दी" stays one word).
  ``\\w`` includes the underscore, so "acme_corp" is one word and ``acme`` does not match it.
* Scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) are split into one
  word per character, so a term like ``東京`` is a phrase of its characters and matches
  "東京タワーに行った" as a substring would.
* Invisible format characters (Unicode category Cf: zero-width space, ZWNJ, ZWJ, word
  joiner, soft hyphen, BOM, bidi controls, tag characters) are ignored in items and queries,
  so "ac\\u200bme" and "a\\u00adcme" match ``acme``. Stored text keeps them; only what the
  matcher sees is normalised.
* Accents are significant ("cafe" does not match "café"). A casefolded Turkish "İ" becomes a
  plain "i" so "İstanbul" matches ``istanbul``; the dotless "ı" stays distinct.
* ``"quoted phrases"`` match consecutive words; punctuation between them is ignored.
  A bare term with inner punctuation (``re:invent``, ``wi-fi``, ``acme.com``) is the phrase of
  its words; so is an unknown ``foo:bar``.
* ``AND``, ``OR``, ``NOT`` (uppercase only; lowercase and/or/not are ordinary terms),
  parentheses, implicit AND between adjacent terms, precedence NOT > AND > OR, and ``-term``
  as a shorthand for ``NOT term``.
* ``refund*`` matches words starting with "refund"; only a trailing wildcard after a word
  character is allowed (also on the last word of a phrase, on hashtags and on handles).
* ``#acmefail`` matches only the hashtag "#AcmeFail". ``@acme`` matches only the mention
  "@acme", including "@acme@mastodon.social" (the handle is the part before a second "@");
  ``@acme@mastodon.social`` matches only that full address. Bluesky-style "@acme.bsky.social"
  in a text is the mention "@acme" followed by the words "bsky social"; as a query term it is
  an error (write ``@acme``). Inside quotes, "#" and "@" are plain punctuation; typographic
  quotes (“...”) work like straight ones.
* Field filters: ``author:jdoe`` / ``author:"Jane Doe"`` (whole words of the item's author
  handle and name), ``site:acme.example`` (URL host is the domain or a subdomain of it; a
  leading "www." is ignored; items without a URL never match), ``lang:en`` (the item's
  language tag is "en" or starts with "en-"). The language is the one the source gives;
  for an item whose source gives none it is detected from the text (listening.language,
  offline, about 9 us), once per item and only when a query has a ``lang:`` term, so
  ``lang:es`` matches a Spanish post from any source. An item whose language cannot be told
  (a few words, emoji only, a mix) matches no ``lang:`` term, and so does match
  ``NOT lang:es``.

A query has at most MAX_QUERY_LENGTH (4,096) characters and MAX_QUERY_TERMS (256) terms,
phrases and field filters; compile_query() rejects a bigger one with a QueryError that says
the limit.

match() returns the positive terms of the branches that made the query match, in query order,
deduplicated; terms under NOT never appear. A query must contain a positive term in every way it
can match (``NOT acme`` or ``acme OR NOT globex`` are rejected), so a match is never empty.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from listening.language import detect_language

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_QUERY_TERMS",
    "CompiledQuery",
    "MatchDocument",
    "QueryError",
    "compile_query",
    "query_terms",
]

# Size caps, enforced by compile_query() and so by the admin, add_brand, routing rules and the
# "test a query" page alike (issue 9: a 1 MB phrase or 100,000 ORed terms saved fine, then
# cost 28 ms for every incoming item). Real brand queries are a few dozen terms; these leave
# room for long product lists. Every term, phrase and field filter counts, excluded ones too.
MAX_QUERY_LENGTH = 4096  # characters, spaces and operators included
MAX_QUERY_TERMS = 256


class QueryError(ValueError):
    """A query that cannot be compiled; str(exc) says what is wrong and where."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        # 1-based character offset into the query text (a "column" for one-line queries).
        self.position = position


# --- Characters and normalisation -------------------------------------------------------------


def _class_ranges(codepoints: Iterable[int]) -> str:
    """Render ascending code points as the inside of a regex character class, merging runs."""
    parts: list[str] = []
    start = prev = -2
    for cp in chain(codepoints, [-2]):
        if cp == prev + 1:
            prev = cp
            continue
        if start >= 0:
            parts.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
        start = prev = cp
    return "".join(parts)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


# Combining marks are not \w in Python's re, but they are part of the word they follow.
# Only the BMP's: sre checks non-BMP class ranges one by one, which made tokenising ~2.5x
# slower, and the non-BMP marks belong to historic or rare scripts (Brahmi, Grantha, ...).
_MARKS = _class_ranges(cp for cp in range(0x300, 0x10000) if _is_mark(chr(cp)))
# Scripts written without spaces between words: each character is its own word.
_UNSEGMENTED_BLOCKS = [
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
]
_UNSEGMENTED = (
    _class_ranges(
        cp
        for lo, hi in _UNSEGMENTED_BLOCKS
        for cp in range(lo, hi + 1)
        if chr(cp).isalnum() or _is_mark(chr(cp))
    )
    + "\\U00020000-\\U0003ffff"  # CJK extensions B and later: all ideographs
)

# After NFKC + casefold an ASCII text has no marks and no unsegmented script, so its words are
# the runs of ASCII word characters ([A-Za-z0-9_], what \w means under re.ASCII); most items
# are ASCII. Mapping every other byte to a space and splitting finds exactly those runs, about
# 4x faster than re.findall(r"\w+", text, re.ASCII) on a 50-word item (this runs per item).
_ASCII_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ASCII_NON_WORD_TO_SPACE = bytes(c if c in _ASCII_WORD_BYTES else 0x20 for c in range(256))
_WORD_RE = re.compile(rf"[{_UNSEGMENTED}][{_MARKS}]*|(?:[^\W{_UNSEGMENTED}][{_MARKS}]*)+")
_NAME = rf"[\w{_MARKS}]+"  # a hashtag or handle body: one unsplit run of word characters
_NAME_RE = re.compile(_NAME)
_DOMAIN = r"(?:[\w-]+\.)+[\w-]+"
_DOMAIN_RE = re.compile(_DOMAIN)
_HASHTAG_RE = re.compile(rf"(?<!\w)#({_NAME})")
# "(?<![\w@])" keeps the "@" of an e-mail address (jdoe@acme.example) from being a mention.
_MENTION_RE = re.compile(rf"(?<![\w@])@({_NAME})(?:@({_DOMAIN}))?")
_LANG_RE = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8})*")


# Invisible format characters (Unicode category Cf): zero-width space, ZWNJ and ZWJ, word
# joiner, soft hyphen, BOM, bidi controls, tag characters... Issue 9: "ac\u200bme" and
# "a\u00adcme" slipped past the query `acme`. Every Cf code point is in planes 0, 1 and 14
# (checked on Python 3.11's Unicode 14), which keeps building this class cheap at import.
_FORMAT_RE = re.compile(
    "["
    + _class_ranges(
        cp
        for plane in (range(0x20000), range(0xE0000, 0xE1000))
        for cp in plane
        if unicodedata.category(chr(cp)) == "Cf"
    )
    + "]+"
)


def _fold(text: str) -> str:
    """Normalise for caseless comparison; the same function is applied to queries and items.

    Only what the matcher sees is normalised; stored text keeps every character.
    """
    # Format characters are removed before NFKC so that what they separated composes as if
    # they were never there. No Cf is ASCII, and str.isprintable() (a C loop, ~50x cheaper
    # than the substitution) is False for every Cf, so the common texts skip the regex; a
    # text that is non-printable for another reason (a newline) just pays for a no-op.
    if not text.isascii() and not text.isprintable():
        text = _FORMAT_RE.sub("", text)
    folded = unicodedata.normalize("NFKC", text).casefold()
    # "İ".casefold() is "i" + COMBINING DOT ABOVE; without this "İstanbul" != "istanbul".
    return folded.replace("i\u0307", "i") if "\u0307" in folded else folded


def _split_words(folded: str) -> list[str]:
    if folded.isascii():
        return folded.encode("ascii").translate(_ASCII_NON_WORD_TO_SPACE).decode("ascii").split()
    return _WORD_RE.findall(folded)


def _words(text: str) -> list[str]:
    return _split_words(_fold(text))


def _normalise_host(host: str) -> str:
    host = _fold(host.strip()).rstrip(".")
    if "xn--" in host:
        # Compare IDNs in Unicode form, whichever way each side spelled them.
        with suppress(UnicodeError):
            host = _fold(host.encode("ascii").decode("idna"))
    return host.removeprefix("www.")


def _normalise_lang(tag: str) -> str:
    return tag.strip().casefold().replace("_", "-")


# --- The tokenised item -----------------------------------------------------------------------


class _Tokens:
    """The words of one text in order, with the indexes phrases and wildcards need."""

    __slots__ = ("words", "word_set", "_positions", "_sorted")

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.word_set = frozenset(words)
        self._positions: dict[str, list[int]] | None = None
        self._sorted: list[str] | None = None

    def positions(self, word: str) -> list[int]:
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for index, w in enumerate(self.words):
                positions.setdefault(w, []).append(index)
            self._positions = positions
        return self._positions.get(word, [])

    def has_prefix(self, prefix: str) -> bool:
        if self._sorted is None:
            self._sorted = sorted(self.word_set)
        index = bisect_left(self._sorted, prefix)
        return index < len(self._sorted) and self._sorted[index].startswith(prefix)


_T = TypeVar("_T")


class _computed_once(Generic[_T]):  # noqa: N801 - a decorator, like cached_property
    """functools.cached_property without its lock. Python 3.11's takes an RLock on every first
    access (measured 2.9 us against 1.6 us), and a brand's #hashtag and @handle terms make two
    per item heard (issue 12). A document lives in one thread: the lock guarded nothing."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, doc: Any, owner: type | None = None) -> _T:
        if doc is None:
            return self  # type: ignore[return-value]  # the descriptor, as on the class
        # A non-data descriptor: from now on the instance's own attribute answers.
        value = doc.__dict__[self.name] = self.func(doc)
        return value


class MatchDocument:
    """One incoming item, tokenised once and matched against several brands' queries."""

    def __init__(self, text: str, *, author: str = "", url: str = "", lang: str = "") -> None:
        self.text = text
        self.author = author
        self.url = url
        self.lang = lang
        self._folded = _fold(text)
        self.tokens = _Tokens(_split_words(self._folded))
        self._given_language = _normalise_lang(lang)
        if self._given_language:
            # The source's language answers; the detecting ``language`` below never runs.
            self.language = self._given_language

    @_computed_once
    def language(self) -> str:
        """The item's language: the source's, else detected from the text the first time a
        ``lang:`` term asks ("" when detection is unsure). Items the source gave no language
        cost a detection (about 9 us) only when some brand's query has a lang: term."""
        return _normalise_lang(detect_language(self.text))

    @property
    def detected_language(self) -> str | None:
        """The language detected for this item if a ``lang:`` term made detection run, else
        None (it did not run, or the source gave one): ingest stores it instead of detecting
        the same text again (listening.scoring.sentiments_for)."""
        if self._given_language or "language" not in self.__dict__:
            return None
        return self.__dict__["language"]

    @_computed_once
    def hashtags(self) -> frozenset[str]:
        if "#" not in self._folded:
            return frozenset()
        return frozenset(_HASHTAG_RE.findall(self._folded))

    @_computed_once
    def _mentions(self) -> tuple[frozenset[str], frozenset[str]]:
        if "@" not in self._folded:
            return frozenset(), frozenset()
        found = _MENTION_RE.findall(self._folded)
        handles = frozenset(name for name, _ in found)
        addresses = frozenset(f"{name}@{domain}" for name, domain in found if domain)
        return handles, addresses

    @property
    def handles(self) -> frozenset[str]:
        """Mentioned handles without "@" and without any "@instance" part."""
        return self._mentions[0]

    @property
    def addresses(self) -> frozenset[str]:
        """Mentioned full addresses, "name@instance.example", when written with an instance."""
        return self._mentions[1]

    @_computed_once
    def author_tokens(self) -> _Tokens:
        return _Tokens(_words(self.author))

    @_computed_once
    def host(self) -> str | None:
        url = self.url.strip()
        if not url:
            return None
        if "//" not in url:  # a bare "acme.example/path" still has a host
            url = "//" + url
        try:
            host = urlsplit(url).hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            return None
        return _normalise_host(host) if host else None


# --- Compiled query nodes ---------------------------------------------------------------------


class _Node:
    __slots__ = ()

    def matches(self, doc: MatchDocument) -> bool:
        raise NotImplementedError

    def collect(self, doc: MatchDocument, out: list[str]) -> bool:
        """Like matches(), and append the labels of the positive terms that made it match."""
        raise NotImplementedError

    def loose_not(self) -> _Not | None:
        """A NOT that lets this node match without any positive term, if there is one."""
        raise NotImplementedError

    def positive_labels(self) -> Iterable[str]:
        raise NotImplementedError


class _Term(_Node):
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def collect(self, doc: MatchDocument, out: list[str]) -> bool:
        if self.matches(doc):
            out.append(self.label)
            return True
        return False

    def loose_not(self) -> _Not | None:
        return None

    def positive_labels(self) -> Iterable[str]:
        return (self.label,)


class _Probe:
    """A word, prefix or phrase test over a _Tokens (the item's text or its author)."""

    __slots__ = ()

    def test(self, tokens: _Tokens) -> bool:
        raise NotImplementedError


class _WordProbe(_Probe):
    __slots__ = ("word",)

    def __init__(self, word: str) -> None:
        self.word = word

    def test(self, tokens: _Tokens) -> bool:
        return self.word in tokens.word_set


class _PrefixProbe(_Probe):
    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def test(self, tokens: _Tokens) -> bool:
        return tokens.has_prefix(self.prefix)


class _PhraseProbe(_Probe):
    __slots__ = ("words", "wildcard", "_exact")

    def __init__(self, words: list[str], wildcard: bool) -> None:
        self.words = tuple(words)
        self.wildcard = wildcard
        self._exact = frozenset(words[:-1] if wildcard else words)

    def test(self, tokens: _Tokens) -> bool:
        # Cheap rejection before looking at positions: most items lack some word entirely.
        if not self._exact <= tokens.word_set:
            return False
        words, n, seq = self.words, len(self.words), tokens.words
        last = n - 1
        for start in tokens.positions(words[0]):
            if start + n > len(seq):
                break
            for offset in range(1, n):
                word = seq[start + offset]
                expected = words[offset]
                if offset == last and self.wildcard:
                    if not word.startswith(expected):
                        break
                elif word != expected:
                    break
            else:
                return True
        return False


class _TextTerm(_Term):
    __slots__ = ("probe",)

    def __init__(self, label: str, probe: _Probe) -> None:
        super().__init__(label)
        self.probe = probe

    def matches(self, doc: MatchDocument) -> bool:
        return self.probe.test(doc.tokens)


class _AuthorTerm(_TextTerm):
    __slots__ = ()

    def matches(self, doc: MatchDocument) -> bool:
        return self.probe.test(doc.author_tokens)


class _HashtagTerm(_Term):
    __slots__ = ("tag", "wildcard")

    def __init__(self, label: str, tag: str, wildcard: bool) -> None:
        super().__init__(label)
        self.tag = tag
        self.wildcard = wildcard

    def matches(self, doc: MatchDocument) -> bool:
        if self.wildcard:
            return any(tag.startswith(self.tag) for tag in doc.hashtags)
        return self.tag in doc.hashtags


class _HandleTerm(_Term):
    __slots__ = ("handle", "wildcard")

    def __init__(self, label: str, handle: str, wildcard: bool) -> None:
        super().__init__(label)
        self.handle = handle
        self.wildcard = wildcard

    def matches(self, doc: MatchDocument) -> bool:
        if self.wildcard:
            return any(handle.startswith(self.handle) for handle in doc.handles)
        return self.handle in doc.handles


class _AddressTerm(_Term):
    __slots__ = ("address",)

    def __init__(self, label: str, address: str) -> None:
        super().__init__(label)
        self.address = address

    def matches(self, doc: MatchDocument) -> bool:
        return self.address in doc.addresses


class _SiteTerm(_Term):
    __slots__ = ("domain", "_suffix")

    def __init__(self, label: str, domain: str) -> None:
        super().__init__(label)
        self.domain = domain
        self._suffix = "." + domain

    def matches(self, doc: MatchDocument) -> bool:
        host = doc.host
        return host is not None and (host == self.domain or host.endswith(self._suffix))


class _LangTerm(_Term):
    __slots__ = ("code", "_prefix")

    def __init__(self, label: str, code: str) -> None:
        super().__init__(label)
        self.code = code
        self._prefix = code + "-"

    def matches(self, doc: MatchDocument) -> bool:
        lang = doc.language
        return lang == self.code or lang.startswith(self._prefix)


class _Not(_Node):
    __slots__ = ("child", "operator", "position")

    def __init__(self, child: _Node, operator: str, position: int) -> None:
        self.child = child
        self.operator = operator  # "NOT" or "-", for error messages
        self.position = position

    def matches(self, doc: MatchDocument) -> bool:
        return not self.child.matches(doc)

    def collect(self, doc: MatchDocument, out: list[str]) -> bool:
        return not self.child.matches(doc)  # excluded terms are never reported

    def loose_not(self) -> _Not | None:
        return self

    def positive_labels(self) -> Iterable[str]:
        return ()


class _Group(_Node):
    __slots__ = ("children",)

    def __init__(self, children: list[_Node]) -> None:
        self.children = tuple(children)

    def positive_labels(self) -> Iterable[str]:
        return chain.from_iterable(child.positive_labels() for child in self.children)


class _And(_Group):
    __slots__ = ()

    def matches(self, doc: MatchDocument) -> bool:
        # A plain loop: all() over a generator costs ~0.3 us more per node on the hot path.
        for child in self.children:  # noqa: SIM110
            if not child.matches(doc):
                return False
        return True

    def collect(self, doc: MatchDocument, out: list[str]) -> bool:
        found: list[str] = []
        for child in self.children:
            if not child.collect(doc, found):
                return False
        out.extend(found)
        return True

    def loose_not(self) -> _Not | None:
        # Matching without a positive term needs every conjunct to allow it.
        loose = [child.loose_not() for child in self.children]
        return loose[0] if all(loose) else None


class _Or(_Group):
    __slots__ = ()

    def matches(self, doc: MatchDocument) -> bool:
        for child in self.children:  # noqa: SIM110 (see _And.matches)
            if child.matches(doc):
                return True
        return False

    def collect(self, doc: MatchDocument, out: list[str]) -> bool:
        matched = False
        for child in self.children:  # no short-circuit: report every matching alternative
            matched = child.collect(doc, out) or matched
        return matched

    def loose_not(self) -> _Not | None:
        # One alternative that can match without a positive term is enough.
        return next((n for n in (child.loose_not() for child in self.children) if n), None)


class CompiledQuery:
    """A parsed query, ready to be matched against many MatchDocuments."""

    __slots__ = ("source", "_root")

    def __init__(self, source: str, root: _Node) -> None:
        self.source = source
        self._root = root

    def match(self, doc: MatchDocument) -> list[str] | None:
        # Most items match nothing: decide with short-circuiting first, collect terms after.
        if not self._root.matches(doc):
            return None
        out: list[str] = []
        self._root.collect(doc, out)
        return list(dict.fromkeys(out))

    @property
    def terms(self) -> list[str]:
        """The query's positive terms in query order, deduplicated, labelled as match() does."""
        return list(dict.fromkeys(self._root.positive_labels()))

    def __repr__(self) -> str:
        return f"CompiledQuery({self.source!r})"


def query_terms(compiled: CompiledQuery) -> list[str]:
    """The positive terms a compiled query looks for (e.g. to highlight them in a UI)."""
    return compiled.terms


# --- Tokenising the query ---------------------------------------------------------------------

_QUOTES = '"“”'  # word processors turn "..." into “...”; accept both
_FIELD_RE = re.compile(r"(author|site|lang):", re.IGNORECASE)
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_TERM_START = frozenset({"TERM", "PHRASE", "LPAREN", "NOT"})
_MAX_DEPTH = 50  # deeper nesting is a mistake or abuse, and would exhaust Python's stack


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # TERM, PHRASE, AND, OR, NOT, LPAREN, RPAREN, EOF
    text: str  # as written; for PHRASE the text between the quotes
    position: int  # 1-based


def _closing_quote(text: str, opening: int) -> int:
    for index in range(opening + 1, len(text)):
        if text[index] in _QUOTES:
            return index
    raise QueryError(
        f"Unbalanced quote: the quote at position {opening + 1} is never closed", opening + 1
    )


def _ends_bare_term(char: str) -> bool:
    return char.isspace() or char in "()" or char in _QUOTES


def _ends_not_shorthand(char: str) -> bool:
    return char.isspace() or char == ")"


def _tokenise(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        position = index + 1
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(_Token("LPAREN" if char == "(" else "RPAREN", char, position))
            index += 1
        elif char in _QUOTES:
            end = _closing_quote(text, index)
            inner = text[index + 1 : end]
            if not inner.strip():
                raise QueryError(
                    f"Empty phrase: the quotes at position {position} contain nothing to match",
                    position,
                )
            tokens.append(_Token("PHRASE", inner, position))
            index = end + 1
        elif char == "-" and index + 1 < length and not _ends_not_shorthand(text[index + 1]):
            # A leading "-" is NOT: "-acme", '-"acme corp"', "-(a b)"; "wi-fi" is untouched.
            tokens.append(_Token("NOT", "-", position))
            index += 1
        else:
            end = index
            while end < length and not _ends_bare_term(text[end]):
                end += 1
            if end < length and text[end] in _QUOTES and _FIELD_RE.fullmatch(text[index:end]):
                end = _closing_quote(text, end) + 1  # author:"Jane Doe" is one token
            word = text[index:end]
            tokens.append(_Token(word if word in _OPERATORS else "TERM", word, position))
            index = end
    tokens.append(_Token("EOF", "", length + 1))
    return tokens


# --- Building terms ---------------------------------------------------------------------------


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or _is_mark(char)


def _split_wildcard(raw: str, position: int) -> tuple[str, bool]:
    """Strip a trailing "*" from raw (which starts at position); reject any other "*"."""
    star = raw.find("*")
    if star == -1:
        return raw, False
    where = position + star
    if star != len(raw) - 1:
        raise QueryError(
            f'Misplaced wildcard: "*" at position {where} must be at the end of a word,'
            " as in refund*",
            where,
        )
    if star == 0 or not _is_word_char(raw[star - 1]):
        raise QueryError(
            f'Misplaced wildcard: "*" at position {where} must follow a word, as in refund*',
            where,
        )
    return raw[:-1], True


def _probe(words: list[str], wildcard: bool) -> _Probe:
    if len(words) > 1:
        return _PhraseProbe(words, wildcard)
    return _PrefixProbe(words[0]) if wildcard else _WordProbe(words[0])


def _no_words(what: str, raw: str, position: int) -> QueryError:
    return QueryError(
        f'{what} "{raw}" at position {position} contains no letters or digits to match', position
    )


def _text_term(raw: str, position: int) -> _Term:
    body, wildcard = _split_wildcard(raw, position)
    words = _words(body)
    if not words:
        raise _no_words("Term", raw, position)
    star = "*" if wildcard else ""
    label = words[0] + star if len(words) == 1 else _fold(raw)
    return _TextTerm(label, _probe(words, wildcard))


def _phrase_term(inner: str, position: int) -> _Term:
    body, wildcard = _split_wildcard(inner, position + 1)
    words = _words(body)
    if not words:
        raise _no_words("Phrase", inner, position)
    star = "*" if wildcard else ""
    label = words[0] + star if len(words) == 1 else " ".join(_fold(body).split()) + star
    return _TextTerm(label, _probe(words, wildcard))


def _hashtag_term(raw: str, position: int) -> _Term:
    body, wildcard = _split_wildcard(raw[1:], position + 1)
    tag = _fold(body)
    if not _NAME_RE.fullmatch(tag):
        raise QueryError(
            f'Hashtag "{raw}" at position {position} may contain only letters, digits and'
            " underscores after the #",
            position,
        )
    return _HashtagTerm(f"#{tag}{'*' if wildcard else ''}", tag, wildcard)


def _handle_term(raw: str, position: int) -> _Term:
    body, wildcard = _split_wildcard(raw[1:], position + 1)
    name, _, instance = _fold(body).partition("@")
    if not _NAME_RE.fullmatch(name) or (instance and not _DOMAIN_RE.fullmatch(instance)):
        raise QueryError(
            f'Handle "{raw}" at position {position} must look like @name or @name@instance.example',
            position,
        )
    if instance:
        if wildcard:
            raise QueryError(
                f'Misplaced wildcard: "*" at position {position + len(raw) - 1} cannot end a'
                " full @name@instance address",
                position + len(raw) - 1,
            )
        return _AddressTerm(f"@{name}@{instance}", f"{name}@{instance}")
    return _HandleTerm(f"@{name}{'*' if wildcard else ''}", name, wildcard)


def _field_term(field: str, value: str, position: int, value_position: int) -> _Term:
    if value[:1] in _QUOTES and len(value) >= 2:  # the tokeniser saw the closing quote
        value, value_position = value[1:-1], value_position + 1
    if not value.strip():
        raise QueryError(
            f'Field filter "{field}:" at position {position} needs a value,'
            f" as in {_FIELD_EXAMPLES[field]}",
            position,
        )
    if field == "author":
        return _author_term(value, position, value_position)
    if field == "site":
        return _site_term(value, position)
    return _lang_term(value, position)


_FIELD_EXAMPLES = {"author": "author:jdoe", "site": "site:acme.example", "lang": "lang:en"}


def _author_term(value: str, position: int, value_position: int) -> _Term:
    # "author:@jdoe" is a natural way to write a handle; the "@" is not part of the words.
    stripped = value.lstrip("@")
    body, wildcard = _split_wildcard(stripped, value_position + len(value) - len(stripped))
    words = _words(body)
    if not words:
        raise _no_words("Field filter", f"author:{value}", position)
    star = "*" if wildcard else ""
    shown = words[0] if len(words) == 1 else f'"{" ".join(words)}{star}"'
    return _AuthorTerm(f"author:{shown}{star if len(words) == 1 else ''}", _probe(words, wildcard))


def _site_term(value: str, position: int) -> _Term:
    domain = _normalise_host(value)
    if not _DOMAIN_RE.fullmatch(domain) and not _NAME_RE.fullmatch(domain):
        raise QueryError(
            f'Field filter "site:{value}" at position {position} must be a domain such as'
            " acme.example, without scheme, path or wildcard (subdomains are included)",
            position,
        )
    return _SiteTerm(f"site:{domain}", domain)


def _lang_term(value: str, position: int) -> _Term:
    code = _normalise_lang(value)
    if not _LANG_RE.fullmatch(code):
        raise QueryError(
            f'Field filter "lang:{value}" at position {position} must be a language code'
            " such as en or en-US",
            position,
        )
    return _LangTerm(f"lang:{code}", code)


def _build_term(token: _Token) -> _Term:
    if token.kind == "PHRASE":
        return _phrase_term(token.text, token.position)
    raw, position = token.text, token.position
    field = _FIELD_RE.match(raw)
    if field:
        return _field_term(
            field.group(1).lower(), raw[field.end() :], position, position + field.end()
        )
    if raw[0] == "#":
        return _hashtag_term(raw, position)
    if raw[0] == "@":
        return _handle_term(raw, position)
    return _text_term(raw, position)


# --- Parsing ----------------------------------------------------------------------------------


def _describe(token: _Token) -> str:
    return f'"{token.text}" at position {token.position}'


def _unclosed(paren: _Token) -> QueryError:
    return QueryError(f"Unbalanced parenthesis: {_describe(paren)} is never closed", paren.position)


def _stray(paren: _Token) -> QueryError:
    return QueryError(
        f'Unbalanced parenthesis: {_describe(paren)} has no matching "("', paren.position
    )


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary ([AND] unary)*;
    unary := NOT unary | primary; primary := term | "(" or ")"."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> _Node:
        node = self.parse_or(None)
        token = self.peek()
        if token.kind == "RPAREN":
            raise _stray(token)
        return node

    def parse_or(self, after: _Token | None) -> _Node:
        children = [self.parse_and(after)]
        while self.peek().kind == "OR":
            operator = self.take()
            children.append(self.parse_and(operator))
        return children[0] if len(children) == 1 else _Or(children)

    def parse_and(self, after: _Token | None) -> _Node:
        children = [self.parse_unary(after)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                operator = self.take()
                children.append(self.parse_unary(operator))
            elif kind in _TERM_START:  # implicit AND
                children.append(self.parse_unary(None))
            else:
                break
        return children[0] if len(children) == 1 else _And(children)

    def parse_unary(self, after: _Token | None) -> _Node:
        if self.peek().kind != "NOT":
            return self.parse_primary(after)
        operator = self.take()
        self.enter(operator)
        child = self.parse_unary(operator)
        self.depth -= 1
        return _Not(child, operator.text, operator.position)

    def parse_primary(self, after: _Token | None) -> _Node:
        token = self.take()
        if token.kind in ("TERM", "PHRASE"):
            return _build_term(token)
        if token.kind != "LPAREN":
            raise self.missing_term(token, after)
        if self.peek().kind == "RPAREN":
            raise QueryError(
                f"Empty parentheses: {_describe(token)} encloses nothing", token.position
            )
        self.enter(token)
        node = self.parse_or(token)
        self.depth -= 1
        if self.take().kind != "RPAREN":  # parse_or stops only at ")" or the end
            raise _unclosed(token)
        return node

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise QueryError(
                f"Query nested too deeply at position {token.position}", token.position
            )

    @staticmethod
    def missing_term(token: _Token, after: _Token | None) -> QueryError:
        """The error for `token` standing where a term should be, right after `after`."""
        if after is not None and after.kind in _OPERATORS:
            found = "" if token.kind == "EOF" else f", found {_describe(token)}"
            return QueryError(
                f"Dangling operator: {_describe(after)} needs a term after it{found}",
                after.position,
            )
        if token.kind in _OPERATORS:
            return QueryError(
                f"Dangling operator: {_describe(token)} needs a term before it", token.position
            )
        if token.kind == "RPAREN":
            return _stray(token)
        if after is not None:  # the end of the query right after "("
            return _unclosed(after)
        return QueryError("The query is empty", None)


def compile_query(text: str) -> CompiledQuery:
    """Parse and compile a keyword query; raises QueryError saying what is wrong and where."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"The query is too long: {len(text):,} characters, the limit is"
            f" {MAX_QUERY_LENGTH:,}; shorten it or split it across brands",
            MAX_QUERY_LENGTH + 1,
        )
    if not text.strip():
        raise QueryError("The query is empty: write at least one term, such as acme")
    tokens = _tokenise(text)
    terms = [token for token in tokens if token.kind in ("TERM", "PHRASE")]
    if len(terms) > MAX_QUERY_TERMS:
        extra = terms[MAX_QUERY_TERMS]
        raise QueryError(
            f"The query has too many terms: {len(terms):,}, the limit is {MAX_QUERY_TERMS:,}"
            f" (terms, phrases and field filters, excluded ones too); the first one over it"
            f" is {_describe(extra)}",
            extra.position,
        )
    root = _Parser(tokens).parse()
    loose = root.loose_not()
    if loose is not None:
        shown = "NOT" if loose.operator == "NOT" else f'"{loose.operator}"'
        raise QueryError(
            f"A query needs at least one positive term: {shown} at position {loose.position}"
            " would match almost every item on its own",
            loose.position,
        )
    return CompiledQuery(text, root)
