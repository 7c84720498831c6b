"""Earshot's care-aware scorer: VADER, extended for what customers write to brands (issue 13).

Plain VADER was built for general social text. On customer-care text it reads "Order delayed
3 hours, still no update" as neutral and "please help" as praise. ``CareScorer`` keeps VADER's
lexicon and every one of its rules (negation, boosters, caps, "but", punctuation emphasis) and
changes what it reads:

1. ``@handles`` and URLs are left out (they are addresses, not sentiment, and a URL's "?" or
   "!" would count as emphasis); hashtags are split into words (``#neverbuyingagain`` -> never
   buying again; camelCase first, else a split over known words); the emoji in
   ``data/care_emoji.tsv`` get valences of their own (VADER scores "thumbs down" as 0).
2. ``data/care_lexicon.tsv`` adds care words (delayed, refund, outage...) and overrides VADER
   words that are not praise in a support conversation (please, help, support...). VADER's
   rules apply to them as to any lexicon word, so "not delayed" is negated as usual.
3. Each complaint pattern of ``data/care_patterns.tsv`` that matches (waiting times, "still",
   "again", repeated contact, no answer, problem questions, sarcasm...) adds one scored word to
   the text, so VADER's normalisation turns the whole into a compound as usual.
4. Labels use thresholds chosen on one half of the airline dev split (``bench/sentiment_eval.py``
   reports the other half), not VADER's +-0.05.

Every rule is meant for customer care in general (telecom, banks, retail, software, delivery,
travel): a rule that only fits one industry fails the next brand. ``explain()`` says which
rule or word moved the score away from plain VADER's; ``score_with_plain_many()`` gives plain
VADER's scores and Earshot's for a batch in one call, as ingest stores both.

What the scores are is defined by the steps above: the care analyzer's ``polarity_scores`` of
the normalised text with the pattern words in front (``care_polarity``). How they are computed
is cheaper, with the same results (tests compare on the real corpora): plain VADER's words and
valences are shared wherever the care reading holds the same words around a word, the
patterns' regexes run as searches re can skip through (``Branch``), and VADER's final step is
done on the valences that are not zero.

Pure: no ORM, no settings; the data files load once per process.
"""

from __future__ import annotations

import copy
import html
import math
import os
import re
import string
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, compress, count, islice
from operator import ne
from pathlib import Path
from typing import TypeVar

from vaderSentiment.vaderSentiment import BOOSTER_DICT as _BOOSTERS
from vaderSentiment.vaderSentiment import C_INCR, N_SCALAR, NEGATE, SPECIAL_CASES
from vaderSentiment.vaderSentiment import normalize as vader_normalize

from listening.sentiment.base import SentimentScores, label_for
from listening.sentiment.vader import (
    VADER_VERSION,
    FastSentimentIntensityAnalyzer,
    get_analyzer,
)

__all__ = [
    "CARE_NAME",
    "CARE_VERSION",
    "CareScorer",
    "care_features",
    "care_label",
    "get_care_analyzer",
    "normalise",
]

_V = TypeVar("_V")

CARE_NAME = "earshot-care"
# Bump the first part when the data files, rules or thresholds change: it is recorded on every
# mention scored, so rescoring can tell old labels from new ones.
CARE_VERSION = f"1.1+vader{VADER_VERSION}"

# Chosen on half A of the airline dev split (bench/sentiment_eval.py --tune); see the README's
# figures for half B, which the choice never saw. Customer-care text leans negative: a
# message to a brand that scores mildly positive is usually a polite complaint or a question.
POSITIVE_THRESHOLD = 0.45
NEGATIVE_THRESHOLD = -0.05

DATA = Path(__file__).resolve().parent / "data"

# Marks our own scored words (pattern hits, emoji) so that no customer text can spell one:
# the control character SUB is stripped from the input first (not whitespace to str.split,
# unlike the unit separator). VADER strips only ASCII punctuation
# from token ends, so the mark survives its tokeniser.
_MARK = "\x1a"

# Each regex starts with a literal (the lookbehinds come after it), which lets re skip to the
# candidates instead of trying every position: ~9x faster on tweets than a leading lookbehind.
_URL_RE = re.compile(r"(?:[hH][tT][tT][pP][sS]?://|[wW][wW][wW]\.)\S+")
_HANDLE_RE = re.compile(r"@(?<![\w@]@)\w+")
# "&#39;" is an HTML entity, not a hashtag.
_HASHTAG_RE = re.compile(r"#(?<![\w&]#)(\w+)")
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_MACROS = {
    "{NUM}": r"(?:\d+(?:[.,]\d+)?\+?|\d+\s*-\s*\d+|an?|one|two|three|four|five|six|seven|eight"
    r"|nine|ten|twelve|fifteen|twenty|thirty|forty|fifty|several|many|a few|a couple(?: of)?"
    r"|couple(?: of)?|multiple)",
    "{TIME}": r"(?:hours?|hrs?|h|minutes?|mins?|m|days?|weeks?|wks?|months?)",
}


def _top_level_split(regex: str) -> list[str]:
    """regex cut at each "|" that stands outside groups and character classes."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex[i + 1 : i + 2] == "]":  # "[]...]": the first "]" is a member
                i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
        i += 1
    parts.append(regex[start:])
    return parts


def _group_end(regex: str) -> int:
    """Where the group that opens regex closes."""
    depth, i, in_class = 0, 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced group in {regex!r}")


_QUANTIFIERS = ("?", "*", "+", "{")


def _distributed(part: str) -> list[str]:
    r"""part (no "|" at its top level) as alternatives where it starts with \b and a group:
    "\b(?:a|b)c" -> ["\bac", "\bbc"] (the same matches). Any other part is kept whole."""
    if not part.startswith("\\b(?:"):
        return [part]
    rest = part[2:]
    end = _group_end(rest)
    after = rest[end + 1 :]
    if after[:1] in _QUANTIFIERS:
        return [part]
    return [
        expanded
        for alternative in _top_level_split(rest[3:end])
        for expanded in _distributed("\\b" + alternative + after)
    ]


def _literal_start(body: str) -> str:
    """The literal text every match of body starts with ("thank" for "thanks? you")."""
    end = 0
    while end < len(body) and ((body[end].isascii() and body[end].isalnum()) or body[end] in " '-"):
        end += 1
    if body[end : end + 1] in _QUANTIFIERS:
        end -= 1
    return body[:end]


# The literal of a search that only a text with a digit can match.
_DIGIT = None
_ANY_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = b"0123456789"


def _has_digit(text: str) -> bool:
    r"""Whether re's \d matches somewhere in text. On ASCII text (most), \d is 0-9 and
    deleting them from the bytes (memchr speed) says it ~6x faster than re's scan, which
    tests each character's Unicode category (~4 us on a 300-character post)."""
    if text.isascii():
        encoded = text.encode()
        return len(encoded.translate(None, _ASCII_DIGITS)) != len(encoded)
    return _ANY_DIGIT.search(text) is not None


_DIGIT_CLASS = re.compile(r"\[[0-9]+(?:-[0-9])?\]")


def _search(alternative: str) -> tuple[str | None, re.Pattern[str]]:
    r"""(literal, regex) for one alternative: the regex as re can scan for it fastest.

    "\bword..." becomes "word(?<!\wword)...": the same test as \b (the character before the
    word is not a word character), written behind the word so that re has a first
    character to skip to. "\b\d+..." and "\b[4-9]..." likewise, for a digit.
    """
    if not alternative.startswith("\\b"):
        return "", re.compile(alternative)
    body = alternative[2:]
    literal = _literal_start(body)
    if literal:
        word_end = 0
        while word_end < len(body) and body[word_end].isascii() and body[word_end].isalnum():
            word_end += 1
        if body[word_end : word_end + 1] in _QUANTIFIERS:
            word_end -= 1
        if word_end > 0:
            word = body[:word_end]
            return literal, re.compile(word + rf"(?<!\w{word})" + body[word_end:])
        return literal, re.compile(alternative)
    if body.startswith("\\d+"):
        return _DIGIT, re.compile(r"\d(?<!\w\d)\d*" + body[3:])
    if (digits := _DIGIT_CLASS.match(body)) and body[digits.end() : digits.end() + 1] not in (
        _QUANTIFIERS
    ):
        first = digits.group()
        return _DIGIT, re.compile(first + rf"(?<!\w{first})" + body[digits.end() :])
    return "", re.compile(alternative)


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz")
# What may follow a search's first word so that the word stands alone in every match.
_WORD_END = re.compile(r" |\\b|\\s(?![*?{])|\[[^\w\]\\]+\](?![*?{])")


def _gate_word(body: str, literal: str) -> bytes | None:
    r"""The word every match of body (after its \b) starts with, standing alone among the
    text's pieces (see _hits_and_words), or None when a match may glue it to more letters.

    \b and the end tested after it (a space, \s, \b, punctuation) stand where the text's
    bytes other than a-z become spaces, or at an apostrophe, which the pieces are split at.
    """
    end = 0
    while end < len(literal) and literal[end] in _WORD_CHARS:
        end += 1
    word = literal[:end]
    if not word or not _WORD_END.match(body, end):
        return None
    return word.encode()


# How _search() starts a search that starts with a word: the word, then \b behind it.
_HEAD = re.compile(r"([a-z0-9]+)\(\?<!\\w\1\)")


def _merged_heads(
    worded: list[tuple[bytes, re.Pattern[str]]], literal: list[tuple[str, re.Pattern[str]]]
) -> tuple[list[tuple[bytes, re.Pattern[str]]], list[tuple[str, re.Pattern[str]]]]:
    r"""worded and literal searches (see Branch) with those that start with the same word as
    one search, "word(?<!\wword)(?:rest|rest...)": re then visits each place the word stands
    once, not once a search (waiting_time's "a few", "a couple" and "an hour" each visited
    every "a" of a text). The merged search matches where one of them does, and runs where
    the least demanding of their tests lets it (each test is only a necessary condition: a
    worded search's word is a literal of the text too, and literals share their start)."""
    groups: dict[str, list[tuple[bytes | str, re.Pattern[str]]]] = {}
    for gate, compiled in (*worded, *literal):
        head = _HEAD.match(compiled.pattern)
        groups.setdefault(head.group() if head else str(id(compiled)), []).append((gate, compiled))
    merged_worded: list[tuple[bytes, re.Pattern[str]]] = []
    merged_literal: list[tuple[str, re.Pattern[str]]] = []
    for head, searches in groups.items():
        if len(searches) == 1:
            gate, compiled = searches[0]
            if isinstance(gate, bytes):
                merged_worded.append((gate, compiled))
            else:
                merged_literal.append((gate, compiled))
            continue
        rests = "|".join(f"(?:{c.pattern[len(head) :]})" for _g, c in searches)
        compiled = re.compile(f"{head}(?:{rests})")
        gates = [g for g, _c in searches]
        if all(isinstance(g, bytes) and g == gates[0] for g in gates):
            merged_worded.append((gates[0], compiled))  # type: ignore[arg-type]
        else:
            texts = [g.decode() if isinstance(g, bytes) else g for g in gates]
            merged_literal.append((os.path.commonprefix(texts), compiled))
    return merged_worded, merged_literal


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: cheap to dedupe
class Branch:
    r"""One line of data/care_patterns.tsv: its regex only runs when every trigger group has
    a word in the text (groups are separated by " + " in the file).

    The regex runs as separate searches, one per alternative ("\b(?:a|b)c" is "\bac" or
    "\bbc"), each rewritten so that re can skip to its first word in C and run only on texts
    that hold that word (or literal, or a digit): a pattern that starts with \b gives re
    nothing to skip to, so search() tries it at every position (~3 us a tweet, ~10 us a
    50-word post, per branch). Matching is the same (tests compare on real corpora).
    """

    groups: tuple[frozenset[bytes], ...]
    worded: tuple[tuple[bytes, re.Pattern[str]], ...]  # (first word, regex)
    gate_words: frozenset[bytes]
    literal: tuple[tuple[str, re.Pattern[str]], ...]
    digit: tuple[re.Pattern[str], ...]
    always: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, groups: tuple[frozenset[bytes], ...], regex: str) -> Branch:
        worded, literal, digit, always = [], [], [], []
        for alternative in (a for part in _top_level_split(regex) for a in _distributed(part)):
            gate, compiled = _search(alternative)
            if gate is None:
                digit.append(compiled)
            elif not gate:
                always.append(compiled)
            elif (word := _gate_word(alternative[2:], gate)) is not None:
                worded.append((word, compiled))
            else:
                literal.append((gate, compiled))
        worded, literal = _merged_heads(worded, literal)
        return cls(
            groups,
            tuple(worded),
            frozenset(w for w, _r in worded),
            tuple(literal),
            tuple(digit),
            tuple(always),
        )

    def matches(self, lowered: str, pieces: set[bytes]) -> bool:
        """Whether the branch's regex matches lowered, whose pieces (see _hits_and_words)
        are given."""
        if not self.gate_words.isdisjoint(pieces):
            for word, regex in self.worded:
                if word in pieces and regex.search(lowered) is not None:
                    return True
        for literal, regex in self.literal:
            if literal in lowered and regex.search(lowered) is not None:
                return True
        if self.digit and _has_digit(lowered):
            for regex in self.digit:
                if regex.search(lowered) is not None:
                    return True
        return any(regex.search(lowered) is not None for regex in self.always)


@dataclass(frozen=True, slots=True)
class Pattern:
    rule: str
    valence: float
    what: str  # the rule as the case page's "why?" names it
    branches: tuple[Branch, ...]

    @property
    def token(self) -> str:
        return _MARK + self.rule

    @property
    def is_polite(self) -> bool:
        """A polite_* rule counts only when a complaint rule hit as well."""
        return self.rule.startswith("polite_")


def _rows(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


@lru_cache(maxsize=1)
def care_lexicon() -> dict[str, float]:
    """Word -> valence from data/care_lexicon.tsv (0 means: drop VADER's entry)."""
    return {row[0]: float(row[1]) for row in _rows("care_lexicon.tsv")}


@lru_cache(maxsize=1)
def care_emoji() -> dict[str, tuple[float, str]]:
    """Emoji -> (valence, name) from data/care_emoji.tsv."""
    return {row[0]: (float(row[1]), row[2]) for row in _rows("care_emoji.tsv")}


@lru_cache(maxsize=1)
def care_patterns() -> tuple[Pattern, ...]:
    """The rules of data/care_patterns.tsv in file order, each with its branches."""
    rules: dict[str, tuple[float, str, list[Branch]]] = {}
    for rule, valence, what, triggers, regex in _rows("care_patterns.tsv"):
        for macro, expansion in _MACROS.items():
            regex = regex.replace(macro, expansion)
        known = rules.setdefault(rule, (float(valence), what, []))
        if known[:2] != (float(valence), what):
            raise ValueError(f"care_patterns.tsv: {rule} has two valences or names")
        groups = tuple(
            frozenset(word.encode() for word in group.split()) for group in triggers.split(" + ")
        )
        known[2].append(Branch.of(groups, regex))
    return tuple(
        Pattern(rule, valence, what, tuple(branches))
        for rule, (valence, what, branches) in rules.items()
    )


# A branch as the trigger index holds it: (rank in file order, its rule's position, the rule,
# whether the rule is polite_*, the branch's trigger groups after the first, the branch).
_Woken = tuple[int, int, "Pattern", bool, tuple[frozenset[bytes], ...], Branch]


@lru_cache(maxsize=1)
def _trigger_index() -> tuple[
    dict[bytes, tuple[_Woken, ...]],
    frozenset[bytes],
    frozenset[bytes],
    dict[bytes, tuple[int, ...]],
    tuple[_Woken, ...],
]:
    """First-group trigger word -> the branches it may wake, in file order; those words;
    every word that a trigger group holds or a worded search starts with; and the first
    mapping again with the branches as ranks, which index the last item."""
    index: dict[bytes, list[_Woken]] = {}
    looked_for: set[bytes] = set()
    by_rank: list[_Woken] = []
    for position, pattern in enumerate(care_patterns()):
        for branch in pattern.branches:
            woken = (len(by_rank), position, pattern, pattern.is_polite, branch.groups[1:], branch)
            for word in branch.groups[0]:
                index.setdefault(word, []).append(woken)
            looked_for.update(*branch.groups, branch.gate_words)
            by_rank.append(woken)
    return (
        {word: tuple(found) for word, found in index.items()},
        frozenset(index),
        frozenset(looked_for),
        {word: tuple(w[0] for w in found) for word, found in index.items()},
        tuple(by_rank),
    )


@lru_cache(maxsize=1)
def _hashtag_vocabulary() -> frozenset[str]:
    words = {w for w in get_analyzer().lexicon if w.isalpha()}
    words.update(w for w in care_lexicon() if w.isalpha())
    words.update(
        line.strip()
        for line in (DATA / "hashtag_words.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    # Single letters other than "a" and "i" would split anything into anything.
    return frozenset(w for w in words if len(w) > 1 or w in ("a", "i"))


_NEGATIONS = frozenset(NEGATE) | {"no", "never", "not"}
_PUNCTUATION = string.punctuation
_MAX_WORD = 16
_MAX_HASHTAG = 40


@lru_cache(maxsize=8192)
def split_hashtag(body: str) -> str:
    """The words of a hashtag's body (without "#"), or the body itself when no split is sure.

    camelCase and digits split first ("NeverAgain" -> "never again"); an all-lower or
    all-upper body is split into the fewest known words, words of one or two letters counting
    double (dynamic programming over data/hashtag_words.txt and the two lexicons); a body
    that is a word itself, or that no sequence of known words covers, stays whole.
    """
    if not body.islower() and not body.isupper() and not body.isdigit():
        pieces = _CAMEL_RE.findall(body)
        if len(pieces) > 1:
            return " ".join(split_hashtag(p) if p.isalpha() else p for p in pieces).lower()
    lower = body.lower()
    vocabulary = _hashtag_vocabulary()
    if lower in vocabulary or len(lower) > _MAX_HASHTAG or not lower.isalpha():
        return lower
    n = len(lower)
    # best[i]: cheapest cover of lower[:i], with where its last word starts. A word costs 1,
    # a word of one or two letters 2, so "buyingagain" is not read as "buy in gag a in".
    best: list[tuple[int, int] | None] = [None] * (n + 1)
    best[0] = (0, 0)
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_WORD), end):
            before = best[start]
            if before is not None and lower[start:end] in vocabulary:
                candidate = (before[0] + 1 + (end - start <= 2), start)
                if best[end] is None or candidate < best[end]:  # type: ignore[operator]
                    best[end] = candidate
    if best[n] is None:
        return lower
    words = []
    end = n
    while end > 0:
        start = best[end][1]  # type: ignore[index]
        words.append(lower[start:end])
        end = start
    return " ".join(reversed(words))


# VADER negates a word when "never", "not"... stands up to three words before it, so
# "#neverflyingagain #fail" would read "fail" as negated. Three neutral tokens after a split
# hashtag that holds a negation keep it to its own words.
_NEGATION_FENCE = " . . . "


def _split_hashtag_match(match: re.Match[str]) -> str:
    words = split_hashtag(match.group(1))
    if " " in words and not _NEGATIONS.isdisjoint(words.split()):
        return " " + words + _NEGATION_FENCE
    return " " + words + " "


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("s" if n != 1 else "")


def normalise(text: str, on_step: Callable[[str, str], None] | None = None) -> str:
    """The text as the care scorer reads it: no handles or URLs, hashtags split, emoji marked.

    on_step(what, text_so_far), if given, is called after each change (explain() scores
    each); scoring passes none and pays only for the changes a text needs.
    """
    if _MARK in text:
        # The care scorer's own marker may not come from outside; read as a space, which can
        # split a token VADER read whole ("L\x1a" -> "L", a VADER word): a step of its own.
        text = text.replace(_MARK, " ")
        if on_step is not None:
            on_step("control character U+001A read as a space", text)
    if "&" in text and ";" in text:
        # Feeds and APIs often leave "&amp;" or "&lt;3" escaped; VADER knows "<3".
        unescaped = html.unescape(text)
        if on_step is not None and unescaped != text:
            on_step("HTML entities read as characters", unescaped)
        text = unescaped
    if "http" in text or "HTTP" in text or "www." in text or "WWW." in text:
        text, n = _URL_RE.subn(" ", text)
        if on_step is not None and n:
            on_step(f"left out {_plural(n, 'URL')}", text)
    if "@" in text:
        text, n = _HANDLE_RE.subn(" ", text)
        if on_step is not None and n:
            on_step(f"left out {_plural(n, '@handle')}", text)
    if "#" in text:
        if on_step is None:
            text = _HASHTAG_RE.sub(_split_hashtag_match, text)
        else:
            while match := _HASHTAG_RE.search(text):
                text = text[: match.start()] + _split_hashtag_match(match) + text[match.end() :]
                words = split_hashtag(match.group(1))
                if words != match.group(1).lower():
                    on_step(f"{match.group(0)} read as {words!r}", text)
    if not text.isascii():
        if "\u2019" in text:
            # VADER's negation rules and our patterns know only the ASCII apostrophe ("can't").
            text = text.replace("\u2019", "'")
            if on_step is not None:
                on_step("\u2019 read as an apostrophe", text)
        text = _mark_emoji(text, on_step)
    return text


def _mark_emoji(text: str, on_step: Callable[[str, str], None] | None) -> str:
    table = care_emoji()
    found = sorted(set(text).intersection(table), key=text.index)
    for char in found:
        text = text.replace(char, f" {_emoji_token(char)} ")
        if on_step is not None:
            valence, name = table[char]
            on_step(f"{char} ({name}) read as {valence:+g}", text)
    if found:
        # The emoji variation selector after a replaced emoji would be a word of its own.
        text = text.replace("\ufe0f", "")
    return text


def _emoji_token(char: str) -> str:
    return f"{_MARK}emoji{ord(char):x}"


# Bytes other than a-z and the apostrophe become spaces: "3hrs" holds the word "hrs". On
# bytes, translate() is one table lookup a byte (twice as fast as str.translate with a dict).
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz'")
_WORD_GAPS = bytes(b if b in _WORD_BYTES else 0x20 for b in range(256))


def _words_and_pieces(lowered: str) -> tuple[set[bytes], set[bytes]]:
    """The words of a lower-cased text as the trigger words are matched (runs of a-z and
    the apostrophe, quotes stripped from their ends), and its pieces: the same cut at
    apostrophes too, where re's \b may stand ("y'all"), for Branch.matches."""
    cut = lowered.encode().translate(_WORD_GAPS)
    words = set(cut.split())
    if b"'" not in cut:
        return words, words
    pieces = set(cut.replace(b"'", b" ").split())
    # Quotes are apostrophes too ("''true''"); VADER strips them from word ends, so do we.
    if cut.startswith(b"'") or cut.endswith(b"'") or b" '" in cut or b"' " in cut:
        words = {w.strip(b"'") for w in words}
    return words, pieces


def pattern_hits(normalised: str, tokens: list[str] | None = None) -> list[Pattern]:
    """The complaint patterns that match a normalised text, once each, in file order
    (tokens: normalised.split(), if known already)."""
    return _hits_and_words(normalised, tokens)[0]


def _trigger_words_of(token: str) -> tuple[bytes, ...]:
    """The words of one whitespace-separated token, as _words_and_pieces() cuts them, that
    a trigger group holds or a worded search starts with (no other word changes what
    _hits_and_words() does). A text's words are the union of its tokens': every whitespace
    character is among the bytes that cut words apart (and str.lower() maps each character
    alone, except a Greek final sigma, which is not a-z either). Quotes are stripped from
    every word, as _words_and_pieces() does: it skips that only when no word has a quote at
    an end."""
    looked_for = _trigger_index()[2]
    cut = token.lower().encode().translate(_WORD_GAPS)
    return tuple(w for w in (w.strip(b"'") for w in cut.split()) if w in looked_for)


def _pieces_of(token: str) -> tuple[bytes, ...]:
    """The pieces of one whitespace-separated token (see _words_and_pieces()) that a worded
    search starts with (Branch.matches() looks for no other)."""
    looked_for = _trigger_index()[2]
    cut = token.lower().encode().translate(_WORD_GAPS)
    return tuple(w for w in cut.replace(b"'", b" ").split() if w in looked_for)


def _hits_and_words(
    normalised: str, tokens: list[str] | None = None
) -> tuple[list[Pattern], set[bytes], str]:
    """pattern_hits(), with the text's words that trigger groups hold (as bytes) and its
    lower-cased form (tokens: normalised.split(), if known already).

    A text's words and pieces (_words_and_pieces()) are gathered from its tokens', which
    are kept (_TokenCache), and only those that the trigger groups and searches look for:
    building every word of the text anew cost more than the rest of the search."""
    if tokens is None:
        tokens = normalised.split()
    words = set(chain.from_iterable(map(_TRIGGER_WORDS_OF.__getitem__, tokens)))
    index, trigger_words, _looked_for, ranks, by_rank = _trigger_index()
    # Intersecting with a set visits the text's few words; with the dict, all its keys.
    found = words.intersection(trigger_words)
    if not found:
        return [], words, ""
    woken: Iterable[_Woken]
    if len(found) == 1:
        woken = index[found.pop()]
    else:
        # Each branch once, in file order: as ranks (ints), all in C.
        woken = map(
            by_rank.__getitem__, sorted(set(chain.from_iterable(map(ranks.__getitem__, found))))
        )
    hits: list[Pattern] = []
    hit = -1
    complaint = False
    lowered = ""
    pieces: set[bytes] = set()
    for _rank, position, pattern, is_polite, groups, branch in woken:
        if position == hit:
            continue  # the rule already hit through an earlier branch
        # Manners count only beside a complaint: polite_* rules come last in the file (a test
        # checks), so their regexes need not run on a text with none.
        if is_polite and not complaint:
            continue
        for group in groups:
            if group.isdisjoint(words):
                break
        else:
            if not lowered:
                lowered = normalised.lower()
                # Without an apostrophe, a text's pieces are its words.
                pieces = (
                    set(chain.from_iterable(map(_PIECES_OF.__getitem__, tokens)))
                    if "'" in lowered
                    else words
                )
            if branch.matches(lowered, pieces):
                hits.append(pattern)
                hit = position
                complaint = complaint or pattern.valence < 0
    return hits, words, lowered


def _with_tokens(normalised: str, hits: Sequence[Pattern]) -> str:
    if not hits:
        return normalised
    tokens = " ".join(p.token for p in hits)
    # An ALL-CAPS text gets its marks in caps too, so they do not make VADER's "some words
    # in caps" emphasis apply where stock VADER would see none.
    if normalised.isupper():
        tokens = tokens.upper()
    # In front: VADER's negation and idiom rules look backwards, so nothing the customer wrote
    # can negate a pattern's valence (the pattern itself already read the context).
    return f"{tokens} {normalised}"


def _care_lexicon_for(base: dict[str, float]) -> dict[str, float]:
    lexicon = dict(base)
    for word, valence in care_lexicon().items():
        if valence == 0:
            lexicon.pop(word, None)
        else:
            lexicon[word] = valence
    for char, (valence, _name) in care_emoji().items():
        lexicon[_emoji_token(char)] = valence
    for pattern in care_patterns():
        lexicon[pattern.token] = pattern.valence
    return lexicon


_care_analyzer: FastSentimentIntensityAnalyzer | None = None
_care_lock = threading.Lock()


def get_care_analyzer() -> FastSentimentIntensityAnalyzer:
    """VADER's fast analyzer with the care lexicon, emoji and pattern words added (shared)."""
    global _care_analyzer
    analyzer = _care_analyzer
    if analyzer is None:
        with _care_lock:
            analyzer = _care_analyzer
            if analyzer is None:
                analyzer = copy.copy(get_analyzer())
                analyzer.lexicon = _care_lexicon_for(get_analyzer().lexicon)
                _care_analyzer = analyzer
    return analyzer


def care_label(compound: float) -> str:
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _scores(raw: dict[str, float], label: str) -> SentimentScores:
    return SentimentScores(
        neg=raw["neg"], neu=raw["neu"], pos=raw["pos"], compound=raw["compound"], label=label
    )


def care_polarity(text: str) -> tuple[dict[str, float], list[Pattern]]:
    """VADER-style scores of text as the care scorer reads it, and the patterns that hit."""
    normalised = normalise(text)
    hits = pattern_hits(normalised)
    return get_care_analyzer().polarity_scores(_with_tokens(normalised, hits)), hits


def care_features(text: str) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """(plain VADER scores, care scores, names of the patterns that hit) for one text.

    The learned model (listening/sentiment/learned.py) uses these as features.
    """
    care, hits = care_polarity(text)
    return get_analyzer().polarity_scores(text), care, [p.rule for p in hits]


# -- plain VADER's scores and Earshot's in one pass ------------------------------------------
#
# Ingest stores both for every mention, so score_with_plain_many() computes them together:
# VADER's tokens of a text that normalise() leaves as it is serve both readings, a text in
# which no word scores differently in the two lexicons (and no pattern hits) is scored once,
# and score_valence() is done here on the valences that are not zero. Every step is
# FastSentimentIntensityAnalyzer.polarity_scores' (listening/sentiment/vader.py), called
# piecewise, so both results are exactly what the two analyzers give (tests compare on real
# corpora); if that module changes, those tests say so.


def _vader_words(
    analyzer: FastSentimentIntensityAnalyzer, text: str
) -> tuple[str, list[str], list[str]]:
    """VADER's reading of text: (the text its punctuation emphasis counts in, its tokens, its
    words lower-cased), as polarity_scores() prepares them.

    VADER's words are its tokens with punctuation stripped from the ends; the rules read them
    lower-cased, and otherwise only ask whether they are in caps, which the tokens answer
    alike (punctuation has no case), so the tokens stand in for them where nothing compares
    words of two readings."""
    if not (text.isascii() and analyzer._emoji_ascii_free):
        text = analyzer._replace_emoji(text)
    text = text.strip()
    tokens = text.split()
    return text, tokens, list(map(_LOWERED_OF.__getitem__, tokens))


class _TokenCache(dict[str, _V]):
    """token -> what is made of it (VADER's word, ...), computed on first sight: most tokens
    of a batch were seen before, and a dict lookup (run in C by map()) costs much less than
    making the word again (making a few dozen small objects is a good part of scoring a
    short text). Emptied when it reaches `limit` entries, as a stream's vocabulary has no
    bound (numbers, typos, tracking codes)."""

    __slots__ = ("_of", "_limit")

    def __init__(self, of: Callable[[str], _V], limit: int) -> None:
        super().__init__()
        self._of = of
        self._limit = limit

    def __missing__(self, token: str) -> _V:
        value = self._of(token)
        if len(self) >= self._limit:
            self.clear()
        self[token] = value
        return value


def _word_of(token: str) -> str:
    # SentiText._words_and_emoticons(): strip punctuation unless that leaves <= 2 chars
    # (probably an emoticon such as ":)").
    stripped = token.strip(_PUNCTUATION)
    return stripped if len(stripped) > 2 else token


_TOKEN_CACHE_SIZE = 1 << 15
_WORD_OF = _TokenCache(_word_of, _TOKEN_CACHE_SIZE)
_LOWERED_OF = _TokenCache(lambda token: _word_of(token).lower(), _TOKEN_CACHE_SIZE)
_TRIGGER_WORDS_OF = _TokenCache(_trigger_words_of, _TOKEN_CACHE_SIZE)
_PIECES_OF = _TokenCache(_pieces_of, _TOKEN_CACHE_SIZE)


@dataclass(frozen=True, slots=True)
class _PlainReading:
    """Plain VADER's words and valences of a text, and the shifts (care reading's index to
    plain VADER's) at which the two readings may hold the same words: the care reading adds
    pattern words in front, and normalise() mostly removes handles in front or URLs at the end.
    """

    shifts: tuple[int, ...]
    words: list[str]
    valences: list[float]
    is_cap_diff: bool | None


def _valences(
    analyzer: FastSentimentIntensityAnalyzer,
    words: list[str],
    lowered: list[str],
    plain: _PlainReading | None = None,
) -> tuple[list[float], bool | None]:
    """polarity_scores()' valence of each word (before the "but" rule), and whether some but
    not all words are in caps (None when no word is in the lexicon).

    With plain VADER's reading of the same text, a word whose neighbourhood is the same as
    that of a word of plain VADER's (the words from three before it to two after, the caps
    rule, no word the two lexicons score differently) takes that word's valence instead of
    VADER's rules running again: those rules read nothing else. (words may be VADER's tokens,
    see _vader_words, if plain's are too: equal tokens make equal words.)
    """
    n = len(words)
    # Words outside the lexicon, and boosters, score int 0 (as in stock, so that sum() stays
    # bit-identical); a set intersection in C finds the few that do not.
    scoring = _scoring_words(analyzer).intersection(lowered)
    sentiments: list[float] = [0] * n
    if not scoring:
        return sentiments, None
    lexicon = analyzer.lexicon
    rule_words = analyzer._rule_words
    allcap = sum(map(str.isupper, words))
    is_cap_diff = 0 < n - allcap < n
    has_nt = "n't" in "\0".join(lowered)
    if plain is not None and plain.is_cap_diff != is_cap_diff:
        plain = None
    rescored = _rescored_words()
    first = True
    # Only the scoring words' positions, found in C.
    for i in compress(range(n), map(scoring.__contains__, lowered)):
        item_lower = lowered[i]
        if i < n - 1 and item_lower == "kind" and lowered[i + 1] == "of":
            continue
        first = False
        # _rule_free_valence(), inlined: it runs for most scoring words.
        valence = lexicon[item_lower]
        start = i - 3 if i > 3 else 0
        if (
            valence != 0
            and rule_words.isdisjoint(lowered[start : i + 3])
            and not (has_nt and "n't" in "\0".join(lowered[start:i]))
        ):
            if is_cap_diff and words[i].isupper():
                valence = valence + C_INCR if valence > 0 else valence - C_INCR
            sentiments[i] = valence
            continue
        if plain is not None and rescored.isdisjoint(lowered[start : i + 2]):
            for shift in plain.shifts:
                at = i + shift
                plain_start = at - 3 if at > 3 else 0
                if (
                    0 <= at < len(plain.words)
                    and i - start == at - plain_start
                    and words[start : i + 3] == plain.words[plain_start : at + 3]
                ):
                    valence = plain.valences[at]
                    break
            else:
                valence = _word_valence(lexicon, i, words, lowered, is_cap_diff)
            sentiments[i] = valence
            continue
        sentiments[i] = _word_valence(lexicon, i, words, lowered, is_cap_diff)
    # Only "kind of" seen: stock computes caps on the first scored word, and there was none.
    return sentiments, None if first else is_cap_diff


def _valences_from_plain(
    words: list[str],
    lowered: list[str],
    marks: int,
    plain_valences: list[float],
    plain_n: int,
    runs: Sequence[tuple[int, int, int]],
    plain_cap_diff: bool | None,
) -> tuple[list[float], bool | None] | None:
    """_valences() with the care analyzer, for a care reading that is `marks` pattern words
    followed by runs of plain VADER's words: (care index after the marks, plain index,
    length), in order, covering the rest of the care reading (the text less whole tokens
    such as handles and URLs, see _token_runs). A word whose neighbourhood (three words
    before it to two after, as VADER's rules read it) lies inside one run, at the same
    distance from the ends of both readings where it reaches them, and holds no word the two
    lexicons score differently, keeps plain VADER's valence; only the others go through
    VADER's rules. None when the caps rule differs."""
    n = len(words)
    scoring = _care_scoring_words().intersection(lowered)
    if not scoring:
        return [0] * n, None
    if scoring == _KIND:
        return None  # "kind of" alone scores nothing and leaves the caps rule unread
    allcap = sum(map(str.isupper, words))
    is_cap_diff = 0 < n - allcap < n
    if plain_cap_diff is not None and is_cap_diff != plain_cap_diff:
        return None
    # (When plain VADER saw no scoring word, every word it shares with the care reading that
    # is not rescored scores 0 in both, whatever the caps rule.)
    sentiments: list[float] = [0] * marks
    dirty: set[int] = set(range(min(n, marks + 3)))
    for care_at, plain_at, length in runs:
        care_at += marks
        sentiments += plain_valences[plain_at : plain_at + length]
        if care_at != 0 or plain_at != 0:
            # What the run's first three words look back at differs between the readings.
            dirty.update(range(care_at, min(care_at + 3, n)))
        if care_at + length != n or plain_at + length != plain_n:
            # What its last two look ahead at differs.
            dirty.update(range(max(care_at, care_at + length - 2), care_at + length))
    rescored = _rescored_words().intersection(lowered)
    if rescored:
        # A word reads the lexicon three words back and one ahead.
        for at in compress(range(n), map(rescored.__contains__, lowered)):
            dirty.update(range(max(0, at - 1), min(n, at + 4)))
    care = get_care_analyzer()
    lexicon = care.lexicon
    rule_words = care._rule_words
    has_nt = "n't" in "\0".join(lowered)
    for i in dirty:
        item_lower = lowered[i]
        if item_lower not in scoring or (
            item_lower == "kind" and i < n - 1 and lowered[i + 1] == "of"
        ):
            sentiments[i] = 0
            continue
        valence = _rule_free_valence(lexicon, rule_words, i, words, lowered, has_nt, is_cap_diff)
        if valence is None:
            valence = _word_valence(lexicon, i, words, lowered, is_cap_diff)
        sentiments[i] = valence
    return sentiments, is_cap_diff


_KIND = frozenset(["kind"])

# The words of the idioms and of the booster n-grams ("kind of") that
# _special_idioms_check_lowered() looks up: all of them hold a space, so none can match a
# neighbourhood that holds none of these words.
_IDIOM_WORDS = frozenset(
    word for key in (*SPECIAL_CASES, *_BOOSTERS) if " " in key for word in key.split(" ")
)
_NEGATE_WORDS = frozenset(NEGATE)
_special_idioms_check_lowered = FastSentimentIntensityAnalyzer._special_idioms_check_lowered


def _word_valence(
    lexicon: dict[str, float], i: int, words: list[str], lowered: list[str], is_cap_diff: bool
) -> float:
    """FastSentimentIntensityAnalyzer._word_valence() with the analyzer's lexicon, unrolled:
    the same operations on the same values in the same order (so the same floats), with
    _negation_check_lowered() inlined and the idiom check skipped when no idiom word is near.
    (Lower-cased words need no second lower() before the negation test: it is idempotent.)"""
    item_lower = lowered[i]
    valence = lexicon[item_lower]
    if item_lower == "no" and i != len(lowered) - 1 and lowered[i + 1] in lexicon:
        valence = 0.0
    if (
        (i > 0 and lowered[i - 1] == "no")
        or (i > 1 and lowered[i - 2] == "no")
        or (i > 2 and lowered[i - 3] == "no" and lowered[i - 1] in ("or", "nor"))
    ):
        valence = lexicon[item_lower] * N_SCALAR
    if is_cap_diff and words[i].isupper():
        if valence > 0:
            valence += C_INCR
        else:
            valence -= C_INCR
    if i > 0:
        one = lowered[i - 1]
        if one not in lexicon:
            s = 0.0
            if one in _BOOSTERS:
                s = _BOOSTERS[one]
                if valence < 0:
                    s *= -1
                if is_cap_diff and words[i - 1].isupper():
                    if valence > 0:
                        s += C_INCR
                    else:
                        s -= C_INCR
            valence = valence + s
            if one in _NEGATE_WORDS or "n't" in one:
                valence = valence * N_SCALAR
        if i > 1:
            two = lowered[i - 2]
            if two not in lexicon:
                s = 0.0
                if two in _BOOSTERS:
                    s = _BOOSTERS[two]
                    if valence < 0:
                        s *= -1
                    if is_cap_diff and words[i - 2].isupper():
                        if valence > 0:
                            s += C_INCR
                        else:
                            s -= C_INCR
                if s != 0:
                    s = s * 0.95
                valence = valence + s
                if two == "never" and (one == "so" or one == "this"):
                    valence = valence * 1.25
                elif two == "without" and one == "doubt":
                    pass
                elif two in _NEGATE_WORDS or "n't" in two:
                    valence = valence * N_SCALAR
            if i > 2:
                three = lowered[i - 3]
                if three not in lexicon:
                    s = 0.0
                    if three in _BOOSTERS:
                        s = _BOOSTERS[three]
                        if valence < 0:
                            s *= -1
                        if is_cap_diff and words[i - 3].isupper():
                            if valence > 0:
                                s += C_INCR
                            else:
                                s -= C_INCR
                    if s != 0:
                        s = s * 0.9
                    valence = valence + s
                    if (three == "never" and (two == "so" or two == "this")) or (
                        one == "so" or one == "this"
                    ):
                        valence = valence * 1.25
                    elif three == "without" and (two == "doubt" or one == "doubt"):
                        pass
                    elif three in _NEGATE_WORDS or "n't" in three:
                        valence = valence * N_SCALAR
                    if not _IDIOM_WORDS.isdisjoint(lowered[i - 3 : i + 3]):
                        valence = _special_idioms_check_lowered(valence, lowered, i)
        # _least_check()
        if one not in lexicon and one == "least":
            if i > 1:
                if lowered[i - 2] != "at" and lowered[i - 2] != "very":
                    valence = valence * N_SCALAR
            else:
                valence = valence * N_SCALAR
    return valence


def _rule_free_valence(
    lexicon: dict[str, float],
    rule_words: frozenset[str],
    i: int,
    words: list[str],
    lowered: list[str],
    has_nt: bool,
    is_cap_diff: bool,
) -> float | None:
    """Word i's valence when no booster, negation, "no", "least" or idiom word is within
    reach (only the caps rule applies, as in FastSentimentIntensityAnalyzer.polarity_scores);
    None when VADER's rules must run (``_word_valence``)."""
    valence = lexicon[lowered[i]]
    start = i - 3 if i > 3 else 0
    if (
        valence == 0
        or not rule_words.isdisjoint(lowered[start : i + 3])
        or (has_nt and "n't" in "\0".join(lowered[start:i]))
    ):
        return None
    if is_cap_diff and words[i].isupper():
        return valence + C_INCR if valence > 0 else valence - C_INCR
    return valence


def _scoring_words(analyzer: FastSentimentIntensityAnalyzer) -> frozenset[str]:
    """The analyzer's lexicon words that score (boosters score 0 even when in the lexicon)."""
    return _plain_scoring_words() if analyzer is get_analyzer() else _care_scoring_words()


@lru_cache(maxsize=1)
def _plain_scoring_words() -> frozenset[str]:
    return frozenset(get_analyzer().lexicon.keys() - _BOOSTERS.keys())


@lru_cache(maxsize=1)
def _care_scoring_words() -> frozenset[str]:
    return frozenset(get_care_analyzer().lexicon.keys() - _BOOSTERS.keys())


def _scored(
    analyzer: FastSentimentIntensityAnalyzer,
    sentiments: list[float],
    is_cap_diff: bool | None,
    lowered: list[str],
    text: str,
) -> tuple[float, float, float, float]:
    """(neg, neu, pos, compound) as polarity_scores() rounds them; sentiments may be changed."""
    if not sentiments:
        return 0.0, 0.0, 0.0, 0.0
    if is_cap_diff is None:
        return 0.0, 1.0, 0.0, 0.0
    # score_valence() reads the non-zero valences only: the sum of all is theirs (a zero
    # added to a sum changes nothing: Python's sum() never holds -0.0), and the sift counts
    # the zeros without reading them.
    scored = list(compress(sentiments, sentiments))
    if "but" in lowered:
        scored = _but_checked(lowered, sentiments, scored)
    # score_valence(), line by line.
    sum_s = float(sum(scored))
    exclamations = min(text.count("!"), 4)
    questions = text.count("?")
    emphasis = exclamations * 0.292 + (
        0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96
    )
    if sum_s > 0:
        sum_s += emphasis
    elif sum_s < 0:
        sum_s -= emphasis
    compound = vader_normalize(sum_s)
    pos_sum = 0.0
    neg_sum = 0.0
    # Stock adds float(sentiment) +- 1: the valences are floats already, and a call a word
    # is a good part of this loop's cost.
    for sentiment in scored:
        if sentiment > 0:
            pos_sum += sentiment + 1
        else:
            neg_sum += sentiment - 1
    neu_count = len(sentiments) - len(scored)
    if pos_sum > math.fabs(neg_sum):
        pos_sum += emphasis
    elif pos_sum < math.fabs(neg_sum):
        neg_sum -= emphasis
    total = pos_sum + math.fabs(neg_sum) + neu_count
    return (
        round(math.fabs(neg_sum / total), 3),
        round(math.fabs(neu_count / total), 3),
        round(math.fabs(pos_sum / total), 3),
        round(compound, 4),
    )


def _but_checked(lowered: list[str], sentiments: list[float], values: list[float]) -> list[float]:
    """The non-zero valences (values, in order) after FastSentimentIntensityAnalyzer's
    _but_check_lowered(), which may rewrite sentiments.

    Stock rewrites, for each value in turn, the first element equal to it: when no value the
    rule writes equals a value it reads, that element is always the value's own (the ones
    before it hold values already rewritten), so each is just scaled (x0.5 before "but",
    x1.5 after). What the rule does to the zeros leaves zeros, which score_valence() does not
    read. Anything else takes the exact walk."""
    bi = lowered.index("but")
    nonzero = compress(range(len(sentiments)), sentiments)
    scaled = [v * 0.5 if k < bi else v * 1.5 for k, v in zip(nonzero, values, strict=True)]
    if sentiments[bi] or 0 in scaled or not set(values).isdisjoint(scaled):
        sentiments = FastSentimentIntensityAnalyzer._but_check_lowered(lowered, sentiments)
        return list(compress(sentiments, sentiments))
    return scaled


@lru_cache(maxsize=1)
def _rescored_words() -> frozenset[str]:
    """Lower-case words that the care lexicon scores otherwise than VADER's (or only one has):
    a text with none of them gets the same valences from both analyzers."""
    plain, care = get_analyzer().lexicon, get_care_analyzer().lexicon
    return frozenset(w for w in plain.keys() | care.keys() if plain.get(w) != care.get(w))


def _token_runs(
    text: str, normalised: str, tokens: list[str] | None = None
) -> tuple[list[str], list[tuple[int, int, int]]] | None:
    """normalised's tokens, and where they stand in text's (tokens: text.split(), if known
    already): runs of (index in normalised, index in text, length), when normalised holds
    text's tokens less some whole ones (the handles and URLs normalise() left out) and both
    are plain ASCII (so that VADER's words are their tokens'); else None."""
    if not (text.isascii() and normalised.isascii()):
        return None
    if tokens is None:
        tokens = text.split()
    kept = normalised.split()
    n_tokens = len(tokens)
    n_kept = len(kept)
    if n_kept >= n_tokens:
        return None
    left_out = n_tokens - n_kept
    # Most often: handles in front, or URLs at the end.
    if tokens[left_out:] == kept:
        return kept, [(0, left_out, n_kept)]
    if tokens[:n_kept] == kept:
        return kept, [(0, 0, n_kept)]
    runs = []
    at = 0
    here = 0
    while here < n_kept:
        # Greedy, earliest match: finds an embedding whenever there is one, and any
        # embedding pairs equal tokens, which is all the sharing needs.
        try:
            at = tokens.index(kept[here], at)
        except ValueError:
            return None
        # The run goes on to the first token that differs (found in C).
        length = next(
            compress(count(), map(ne, islice(tokens, at, None), islice(kept, here, None))),
            min(n_tokens - at, n_kept - here),
        )
        runs.append((here, at, length))
        here += length
        at += length
    return kept, runs


def _care_only(text: str) -> SentimentScores:
    """Earshot's scores of text, without plain VADER's where they would cost extra work."""
    normalised = normalise(text)
    hits = pattern_hits(normalised)
    if normalised == text:
        # Plain VADER's words and valences are the care reading's starting point here.
        return _plain_and_care(text, normalised, hits)[1]
    care = get_care_analyzer()
    care_text, care_words, care_lowered = _vader_words(care, normalised)
    if hits:
        marks = [p.token for p in hits]
        care_lowered = marks + care_lowered
        care_words = ([m.upper() for m in marks] if normalised.isupper() else marks) + care_words
    valences, is_cap_diff = _valences(care, care_words, care_lowered)
    neg, neu, pos, compound = _scored(care, valences, is_cap_diff, care_lowered, care_text)
    return SentimentScores(neg, neu, pos, compound, care_label(compound))


def _plain_and_care(
    text: str, normalised: str | None = None, hits: list[Pattern] | None = None
) -> tuple[SentimentScores, SentimentScores]:
    """(plain VADER's scores, Earshot's) of text (normalised and hits: if known already)."""
    plain = get_analyzer()
    care = get_care_analyzer()
    # VADER's tokens stand in for its words (see _vader_words) until words are compared.
    plain_text, words, lowered = _vader_words(plain, text)
    # Whether VADER's tokens are text's (no emoji was described): then they are also the
    # normalised text's wherever that is text.
    text_tokens = words if text.isascii() and plain._emoji_ascii_free else None
    if normalised is None or hits is None:
        normalised = normalise(text)
        hits = _hits_and_words(normalised, text_tokens if normalised == text else None)[0]
    valences, is_cap_diff = _valences(plain, words, lowered)
    if normalised == text:
        if not hits and _rescored_words().isdisjoint(lowered):
            # Nothing the care scorer reads differently: one set of scores, two labels.
            neg, neu, pos, compound = _scored(plain, valences, is_cap_diff, lowered, plain_text)
            return (
                SentimentScores(neg, neu, pos, compound, label_for(compound)),
                SentimentScores(neg, neu, pos, compound, care_label(compound)),
            )
        care_text, care_words, care_lowered = plain_text, words, lowered
        runs: list[tuple[int, int, int]] | None = [(0, 0, len(words))]
        shifts: tuple[int, ...] = (0,)
    elif (kept := _token_runs(text, normalised, text_tokens)) is not None:
        # normalise() only left out whole tokens (handles, URLs).
        care_text = normalised.strip()
        runs = kept[1]
        care_words = []
        care_lowered = []
        for _care_at, plain_at, length in runs:
            care_words += words[plain_at : plain_at + length]
            care_lowered += lowered[plain_at : plain_at + length]
        shifts = (runs[0][1] - runs[0][0],) if runs else (0,)
    else:
        care_text, care_words, care_lowered = _vader_words(care, normalised)
        shifts = (0, len(words) - len(care_words))
        runs = None
        # _valences() compares the two readings' words: make them words.
        words = list(map(_WORD_OF.__getitem__, words))
        care_words = list(map(_WORD_OF.__getitem__, care_words))
    if hits:
        # What _with_tokens() writes in front of the text, as VADER would read it.
        marks = [p.token for p in hits]
        care_lowered = marks + care_lowered
        care_words = ([m.upper() for m in marks] if normalised.isupper() else marks) + care_words
        shifts = tuple(shift - len(marks) for shift in shifts)
    found = None
    if runs is not None:
        found = _valences_from_plain(
            care_words, care_lowered, len(hits), valences, len(words), runs, is_cap_diff
        )
    if found is None:
        found = _valences(
            care, care_words, care_lowered, _PlainReading(shifts, words, valences, is_cap_diff)
        )
    care_valences, care_cap_diff = found
    # Plain VADER's valences are read above, before the "but" rule rewrites them here.
    neg, neu, pos, compound = _scored(plain, valences, is_cap_diff, lowered, plain_text)
    plain_scores = SentimentScores(neg, neu, pos, compound, label_for(compound))
    neg, neu, pos, compound = _scored(care, care_valences, care_cap_diff, care_lowered, care_text)
    return plain_scores, SentimentScores(neg, neu, pos, compound, care_label(compound))


class CareScorer:
    """The care-aware scorer behind listening.sentiment.base.Scorer."""

    name = CARE_NAME
    version = CARE_VERSION

    def score_many(self, texts: Sequence[str]) -> list[SentimentScores]:
        return [_care_only(text) for text in texts]

    def score_with_plain_many(
        self, texts: Sequence[str]
    ) -> list[tuple[SentimentScores, SentimentScores]]:
        """(plain VADER's scores with the paper's label, Earshot's scores) per text, in order.

        Plain VADER's are exactly VaderScorer's (stock vaderSentiment's); ingest keeps them as
        ``compound``/``label`` and Earshot's as ``earshot_compound``/``earshot_label``.
        Earshot's are exactly what ``get_care_analyzer().polarity_scores`` gives for the
        normalised text with the pattern words in front (tests compare on real corpora): one
        pass shares VADER's tokens and valences wherever the care reading does not change them.
        A text repeated in the batch (retweets, cross-posts) is scored once: the scores are
        immutable and depend on nothing but the text.
        """
        scored: dict[str, tuple[SentimentScores, SentimentScores]] = {}
        pairs = []
        for text in texts:
            pair = scored.get(text)
            if pair is None:
                pair = scored[text] = _plain_and_care(text)
            pairs.append(pair)
        return pairs

    def explain(self, text: str) -> list[tuple[str, float]]:
        """What moved the compound from plain VADER's to Earshot's, step by step.

        Each entry is (what, delta): the change of the compound when that step is applied
        after the ones before it, in this order: @handles and URLs left out, each hashtag
        split, each emoji read, each care-lexicon word, each complaint pattern. Plain VADER's
        compound plus every delta is Earshot's compound. Steps that changed the text but not
        the score are listed with delta 0.0 (say, a URL left out).
        """
        plain = get_analyzer()
        analyzer = copy.copy(plain)
        # Our marked words cannot occur before normalise() writes them, so they can all be
        # known from the start; care-lexicon words are added one at a time below.
        care = get_care_analyzer().lexicon
        analyzer.lexicon = dict(plain.lexicon)
        analyzer.lexicon.update((w, v) for w, v in care.items() if w.startswith(_MARK))
        steps: list[tuple[str, float]] = []
        current = plain.polarity_scores(text)["compound"]

        def step(what: str, scored_text: str) -> None:
            nonlocal current
            compound = analyzer.polarity_scores(scored_text)["compound"]
            steps.append((what, compound - current))
            current = compound

        normalised = normalise(text, step)
        care_words = care_lexicon()
        seen: set[str] = set()
        for token in normalised.split():
            word = token.strip(string.punctuation).lower()
            if word in care_words and word not in seen:
                seen.add(word)
                valence = care_words[word]
                if valence == 0:
                    analyzer.lexicon.pop(word, None)
                    what = f"{word!r}: not sentiment in customer care"
                else:
                    old = plain.lexicon.get(word)
                    analyzer.lexicon[word] = valence
                    what = f"{word!r}: care word {valence:+g}" + (
                        f" (VADER {old:+g})" if old is not None else ""
                    )
                step(what, normalised)
        hits = pattern_hits(normalised)
        for n, pattern in enumerate(hits, start=1):
            analyzer.lexicon[pattern.token] = pattern.valence
            step(f"{pattern.what} ({pattern.rule})", _with_tokens(normalised, hits[:n]))
        return steps
