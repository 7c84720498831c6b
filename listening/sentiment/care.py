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

Pure: no ORM, no settings; the data files load once per process.
"""

from __future__ import annotations

import copy
import html
import re
import string
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vaderSentiment.vaderSentiment import NEGATE

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

CARE_NAME = "earshot-care"
# Bump the first part when the data files, rules or thresholds change: it is recorded on every
# mention scored, so rescoring can tell old labels from new ones.
CARE_VERSION = f"1.0+vader{VADER_VERSION}"

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


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: cheap to dedupe
class Branch:
    """One line of data/care_patterns.tsv: its regex only runs when every trigger group has
    a word in the text (groups are separated by " + " in the file)."""

    groups: tuple[frozenset[bytes], ...]
    regex: re.Pattern[str]


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
        known[2].append(Branch(groups, re.compile(regex)))
    return tuple(
        Pattern(rule, valence, what, tuple(branches))
        for rule, (valence, what, branches) in rules.items()
    )


@lru_cache(maxsize=1)
def _trigger_index() -> tuple[dict[bytes, tuple[tuple[int, Branch], ...]], frozenset[bytes]]:
    """First-group trigger word -> (rule position, branch) that it may wake; and those words."""
    index: dict[bytes, list[tuple[int, Branch]]] = {}
    for position, pattern in enumerate(care_patterns()):
        for branch in pattern.branches:
            for word in branch.groups[0]:
                index.setdefault(word, []).append((position, branch))
    return {word: tuple(found) for word, found in index.items()}, frozenset(index)


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
        text = text.replace(_MARK, " ")
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


def pattern_hits(normalised: str) -> list[Pattern]:
    """The complaint patterns that match a normalised text, once each, in file order."""
    return _hits_and_words(normalised)[0]


def _hits_and_words(normalised: str) -> tuple[list[Pattern], set[bytes], str]:
    """pattern_hits(), with the text's words (as bytes) and its lower-cased form."""
    lowered = normalised.lower()
    cut = lowered.encode().translate(_WORD_GAPS)
    # Quotes are apostrophes too ("''true''"); VADER strips them from word ends, so do we.
    words = {w.strip(b"'") for w in cut.split()} if b"'" in cut else set(cut.split())
    index, trigger_words = _trigger_index()
    woken: dict[int, list[Branch]] = {}
    # Intersecting with a set visits the text's few words; with the dict, all its keys.
    for word in words.intersection(trigger_words):
        for position, branch in index[word]:
            woken.setdefault(position, []).append(branch)
    if not woken:
        return [], words, lowered
    patterns = care_patterns()
    hits = []
    for position in sorted(woken):
        for branch in dict.fromkeys(woken[position]):
            if all(not group.isdisjoint(words) for group in branch.groups[1:]) and (
                branch.regex.search(lowered) is not None
            ):
                hits.append(patterns[position])
                break
    if not any(p.valence < 0 and not p.is_polite for p in hits):
        # Manners count only beside a complaint.
        hits = [p for p in hits if not p.is_polite]
    return hits, words, lowered


@lru_cache(maxsize=1)
def _care_words() -> tuple[frozenset[bytes], tuple[str, ...]]:
    """The care lexicon's plain words as bytes (as _hits_and_words cuts them), and the rest."""
    words = care_lexicon()
    plain = [w for w in words if w.isascii() and w.isalpha()]
    return frozenset(w.encode() for w in plain), tuple(w for w in words if w not in plain)


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


class CareScorer:
    """The care-aware scorer behind listening.sentiment.base.Scorer."""

    name = CARE_NAME
    version = CARE_VERSION

    def score_many(self, texts: Sequence[str]) -> list[SentimentScores]:
        analyzer = get_care_analyzer()
        out = []
        for text in texts:
            normalised = normalise(text)
            raw = analyzer.polarity_scores(_with_tokens(normalised, pattern_hits(normalised)))
            out.append(_scores(raw, care_label(raw["compound"])))
        return out

    def score_with_plain_many(
        self, texts: Sequence[str]
    ) -> list[tuple[SentimentScores, SentimentScores]]:
        """(plain VADER's scores with the paper's label, Earshot's scores) per text, in order.

        Plain VADER's are exactly VaderScorer's (stock vaderSentiment's); ingest keeps them as
        ``compound``/``label`` and Earshot's as ``earshot_compound``/``earshot_label``.
        """
        plain = get_analyzer()
        analyzer = get_care_analyzer()
        care_words, other_care_words = _care_words()
        out = []
        for text in texts:
            normalised = normalise(text)
            hits, words, lowered = _hits_and_words(normalised)
            raw = analyzer.polarity_scores(_with_tokens(normalised, hits))
            if (
                not hits
                and normalised == text
                and care_words.isdisjoint(words)
                and not any(word in lowered for word in other_care_words)
            ):
                # Nothing the care scorer reads differently is in this text: both analyzers
                # see the same words with the same valences, so VADER's scores are these.
                plain_raw = raw
            else:
                plain_raw = plain.polarity_scores(text)
            out.append(
                (
                    _scores(plain_raw, label_for(plain_raw["compound"])),
                    _scores(raw, care_label(raw["compound"])),
                )
            )
        return out

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
