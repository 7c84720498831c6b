"""Why VADER scored a text the way it did: per-word contributions and the rules that fired.

The stored score comes from ``listening.sentiment.get_analyzer()`` (fast, stock-identical).
This module walks the same token list with the same analyzer's per-word rule
(``_word_valence``) and ``but`` rule (``_but_check_lowered``), so the explanation cannot drift
from the number it explains, and the scores come from stock ``score_valence``. Flags are found
by a traced transcription of stock ``sentiment_valence`` that only records which rules fire;
its valence is never used in place of the analyzer's.

Cost is linear in text length (issue 9: stock ``sentiment_valence`` lower-cases the whole token
list once per lexicon word, which took 27 s for one 100 KB mention and held a web thread):
the token list is lower-cased once and every rule looks at most three words around a word.
``bench/explain.py`` measures it against stock ``polarity_scores``; the tests compare the
output with the stock-based explanation on every corpus text.

``explain_care`` says what moved Earshot's care-aware score away from plain VADER's
(``CareScorer.explain``'s steps, with the compound after each), within the same bound: a text
too long to score once per step gets its steps grouped by kind.
"""

from __future__ import annotations

import copy
import re
import string
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentiText,
    scalar_inc_dec,
)

from listening.sentiment import FastSentimentIntensityAnalyzer, care, get_analyzer, label_for

__all__ = [
    "CARE_EXPLAIN_BUDGET",
    "FLAGS",
    "CareExplanation",
    "CareStep",
    "Explanation",
    "WordContribution",
    "explain_care",
    "explain_text",
]

FLAGS = frozenset({"booster", "boosted", "negated", "caps", "but", "idiom", "emoji", "kind of"})
_NO_FLAGS: frozenset[str] = frozenset()
_NEGATE = frozenset(NEGATE)


def _negated(words_lower: list[str]) -> bool:
    """Stock ``negated()`` for one lower-cased word, with a set instead of a 59-word list scan."""
    (word,) = words_lower
    return word in _NEGATE or "n't" in word


@dataclass(frozen=True, slots=True)
class WordContribution:
    index: int  # position in VADER's token list
    word: str  # the token as VADER saw it (edge punctuation stripped, emoji described)
    lexicon_valence: float | None  # the raw lexicon value, None when not in the lexicon
    contribution: float  # the valence VADER summed for this token, after every rule
    flags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Explanation:
    compound: float
    pos: float
    neu: float
    neg: float
    label: str
    words: list[WordContribution]
    # "!" and "?" emphasis, added to the sum away from zero (0 when the sum is 0).
    punctuation_emphasis: float
    summary: str
    # sum(contributions) +/- punctuation_emphasis: what VADER normalises into compound.
    raw_sum: float


def _replace_emoji(sia: FastSentimentIntensityAnalyzer, text: str) -> tuple[str, list[int]]:
    """Stock's emoji-to-description rewrite, plus where each description landed.

    Returns the rewritten text and the flat list [start, end, start, end, ...] of the
    descriptions' offsets in it. Only emoji positions are visited (see emoji_positions).
    """
    positions = sia.emoji_positions(text)
    if not positions:
        return text, []
    emojis = sia.emojis
    pieces: list[str] = []
    spans: list[int] = []
    length = last = 0
    for pos in positions:
        pieces.append(text[last:pos])
        length += pos - last
        # Stock inserts a space unless the previous input character is a plain " " or
        # there is none (so an emoji right after another emoji gets one too).
        if pos > 0 and text[pos - 1] != " ":
            pieces.append(" ")
            length += 1
        description = emojis[text[pos]]
        pieces.append(description)
        spans += (length, length + len(description))
        length += len(description)
        last = pos + 1
    pieces.append(text[last:])
    return "".join(pieces), spans


# \s is exactly str.isspace() (checked over all of Unicode), so these are str.split()'s tokens.
_TOKEN_RE = re.compile(r"\S+")


def _emoji_tokens(replaced: str, spans: list[int]) -> set[int]:
    """Indexes of the whitespace-separated tokens of replaced.strip() that overlap a span."""
    if not spans:
        return set()
    lead = len(replaced) - len(replaced.lstrip())
    bounds = [m.span() for m in _TOKEN_RE.finditer(replaced, lead)]
    starts = [start for start, _ in bounds]
    result: set[int] = set()
    for k in range(0, len(spans), 2):
        start, end = spans[k], spans[k + 1]
        # The token starting at or before the span's start, then every token inside it.
        index = max(bisect_right(starts, start) - 1, 0)
        while index < len(bounds) and bounds[index][0] < end:
            if bounds[index][1] > start:
                result.add(index)
            index += 1
    return result


def _trace_flags(
    lexicon: dict[str, float],
    words: list[str],
    lw: list[str],
    is_cap_diff: bool,
    i: int,
    flags: defaultdict[int, set[str]],
) -> None:
    """Record which rules of stock ``sentiment_valence`` change token i (a lexicon word).

    A transcription of vaderSentiment 3.3.2's sentiment_valence(), _negation_check(),
    _special_idioms_check() and _least_check(), keeping the valence only to decide which
    branches run; flags go to flags[i] (and "booster" to the modifying word). lw is words
    lower-cased once by the caller: lower-casing here, per word, is what made stock quadratic.
    """
    item = words[i]
    own = flags[i]
    valence = lexicon[lw[i]]

    if lw[i] == "no" and i != len(lw) - 1 and lw[i + 1] in lexicon:
        valence = 0.0
    if (
        (i > 0 and lw[i - 1] == "no")
        or (i > 1 and lw[i - 2] == "no")
        or (i > 2 and lw[i - 3] == "no" and lw[i - 1] in ("or", "nor"))
    ):
        valence = lexicon[lw[i]] * N_SCALAR
        own.add("negated")
    if item.isupper() and is_cap_diff:
        valence = valence + C_INCR if valence > 0 else valence - C_INCR
        own.add("caps")

    for start_i in range(3):
        j = i - (start_i + 1)
        if not (i > start_i and lw[j] not in lexicon):
            continue
        s = scalar_inc_dec(words[j], valence, is_cap_diff)
        if s != 0:
            own.add("boosted")
            flags[j].add("booster")
            if words[j].isupper() and is_cap_diff:
                flags[j].add("caps")
            s *= (1.0, 0.95, 0.9)[start_i]
        valence = valence + s
        if start_i == 0 and _negated([lw[j]]):
            valence *= N_SCALAR
            own.add("negated")
        elif start_i == 1:
            if lw[i - 2] == "never" and lw[i - 1] in ("so", "this"):
                valence *= 1.25
                own.add("boosted")
            elif lw[i - 2] == "without" and lw[i - 1] == "doubt":
                pass
            elif _negated([lw[j]]):
                valence *= N_SCALAR
                own.add("negated")
        elif start_i == 2:
            if (lw[i - 3] == "never" and lw[i - 2] in ("so", "this")) or lw[i - 1] in (
                "so",
                "this",
            ):
                valence *= 1.25
                own.add("boosted")
            elif lw[i - 3] == "without" and "doubt" in (lw[i - 2], lw[i - 1]):
                pass
            elif _negated([lw[j]]):
                valence *= N_SCALAR
                own.add("negated")
            valence = _trace_idioms(valence, lw, i, own, flags)

    if i > 1 and lw[i - 1] not in lexicon and lw[i - 1] == "least":
        if lw[i - 2] not in ("at", "very"):
            own.add("negated")
    elif i > 0 and lw[i - 1] not in lexicon and lw[i - 1] == "least":
        own.add("negated")


def _trace_idioms(
    valence: float, lw: list[str], i: int, own: set[str], flags: defaultdict[int, set[str]]
) -> float:
    grams = [
        (f"{lw[i - 1]} {lw[i]}", (i - 1, i)),
        (f"{lw[i - 2]} {lw[i - 1]} {lw[i]}", (i - 2, i - 1, i)),
        (f"{lw[i - 2]} {lw[i - 1]}", (i - 2, i - 1)),
        (f"{lw[i - 3]} {lw[i - 2]} {lw[i - 1]}", (i - 3, i - 2, i - 1)),
        (f"{lw[i - 3]} {lw[i - 2]}", (i - 3, i - 2)),
    ]
    for seq, _ in grams:
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            own.add("idiom")
            break
    if len(lw) - 1 > i and f"{lw[i]} {lw[i + 1]}" in SPECIAL_CASES:
        valence = SPECIAL_CASES[f"{lw[i]} {lw[i + 1]}"]
        own.add("idiom")
    if len(lw) - 1 > i + 1 and f"{lw[i]} {lw[i + 1]} {lw[i + 2]}" in SPECIAL_CASES:
        valence = SPECIAL_CASES[f"{lw[i]} {lw[i + 1]} {lw[i + 2]}"]
        own.add("idiom")
    for seq, positions in (grams[3], grams[4], grams[2]):
        if seq in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[seq]
            own.add("boosted")
            if seq == "kind of":
                own.add("kind of")
            for p in positions:
                flags[p].add("booster")
    return valence


def explain_text(text: str) -> Explanation:
    """Explain VADER's score of text word by word; same compound as the stored score.

    Read-only and linear in len(text); safe to call on any stored mention text.
    """
    sia = get_analyzer()
    lexicon = sia.lexicon
    rule_words = sia._rule_words
    replaced, spans = _replace_emoji(sia, text)
    text = replaced.strip()

    sentitext = SentiText(text)
    words = sentitext.words_and_emoticons
    is_cap_diff = sentitext.is_cap_diff
    lw = [w.lower() for w in words]
    # "\0" cannot be part of "n't", so no false match across a word boundary.
    has_nt = "n't" in "\0".join(lw)
    # Most words get no flag at all: only the flagged ones get a set.
    flags: defaultdict[int, set[str]] = defaultdict(set)
    for i in _emoji_tokens(replaced, spans):
        flags[i].add("emoji")
    sentiments: list[float] = []
    for i, item_lower in enumerate(lw):
        # Ints, not 0.0, where stock appends ints: keeps sum() bit-identical.
        if item_lower in BOOSTER_DICT:
            sentiments.append(0)
            continue
        if i < len(words) - 1 and item_lower == "kind" and lw[i + 1] == "of":
            # "kind of" is a dampener, never the lexicon's "kind" (+2.4).
            sentiments.append(0)
            flags[i].add("kind of")
            flags[i + 1].add("kind of")
            continue
        if item_lower not in lexicon:
            sentiments.append(0)
            continue
        sentiments.append(sia._word_valence(i, words, lw, is_cap_diff))
        start = i - 3 if i > 3 else 0
        if rule_words.isdisjoint(lw[start : i + 3]) and not (
            has_nt and "n't" in "\0".join(lw[start:i])
        ):
            # No booster, negation, "no", "least" or idiom word within reach (the same test
            # as the analyzer's shortcut): caps emphasis is the only rule that can fire.
            if is_cap_diff and words[i].isupper():
                flags[i].add("caps")
        else:
            _trace_flags(lexicon, words, lw, is_cap_diff, i, flags)

    if "but" in lw:
        before_but = list(sentiments)
        sentiments = sia._but_check_lowered(lw, sentiments)
        for i, (old, new) in enumerate(zip(before_but, sentiments, strict=True)):
            if old != new:
                flags[i].add("but")

    scores = sia.score_valence(sentiments, text)
    emphasis = sia._punctuation_emphasis(text) if sentiments else 0.0
    total = float(sum(sentiments))
    if total > 0:
        raw_sum = total + emphasis
    elif total < 0:
        raw_sum = total - emphasis
    else:
        raw_sum = total

    contributions = [
        WordContribution(
            index=i,
            word=word,
            lexicon_valence=lexicon.get(lw[i]),
            contribution=float(sentiments[i]),
            flags=frozenset(flags[i]) if i in flags else _NO_FLAGS,
        )
        for i, word in enumerate(words)
    ]
    label = label_for(scores["compound"])
    return Explanation(
        compound=scores["compound"],
        pos=scores["pos"],
        neu=scores["neu"],
        neg=scores["neg"],
        label=label,
        words=contributions,
        punctuation_emphasis=emphasis if total else 0.0,
        summary=_summary(label, scores["compound"], contributions, emphasis if total else 0.0),
        raw_sum=raw_sum,
    )


def _summary(label: str, compound: float, words: list[WordContribution], emphasis: float) -> str:
    weighted = sorted(
        (w for w in words if w.contribution), key=lambda w: abs(w.contribution), reverse=True
    )
    if not weighted:
        return f"{label.capitalize()} ({compound:+.4f}): no word in VADER's lexicon counted."
    parts = []
    for w in weighted[:3]:
        notes = sorted(w.flags - {"booster"})
        note = f", {'/'.join(notes)}" if notes else ""
        parts.append(f"“{w.word}” {w.contribution:+.2f}{note}")
    more = f" and {len(weighted) - 3} more" if len(weighted) > 3 else ""
    punct = f"; punctuation {emphasis:+.2f}" if emphasis else ""
    return f"{label.capitalize()} ({compound:+.4f}): {', '.join(parts)}{more}{punct}."


# --- Earshot's care scorer: what moved the compound away from plain VADER's --------------------

# CareScorer.explain() scores the whole text once per step, and a step per hashtag makes its
# work grow with hashtags x length (a 40 KB text full of them took 2.4 s). Above this many
# characters scored in all (steps x length: a tweet with 20 steps is about 6,000) the steps
# are grouped by kind, a handful of scorings whatever the length (issue 9: a 100 KB mention
# must not hold a web thread).
CARE_EXPLAIN_BUDGET = 250_000
# Grouped steps name at most this many care words or patterns each, then "and N more".
_GROUP_NAMES = 8


@dataclass(frozen=True, slots=True)
class CareStep:
    what: str  # the rule, word or change, as CareScorer.explain() names it
    delta: float  # the change of the compound this step made
    compound: float  # the compound after this step


@dataclass(frozen=True, slots=True)
class CareExplanation:
    """How Earshot's care scorer gets from plain VADER's compound to its own, today."""

    plain_compound: float
    compound: float  # Earshot's compound of the text now (CareScorer().score_many)
    label: str  # care_label(compound)
    positive_threshold: float
    negative_threshold: float
    # plain_compound + the deltas so far, step by step; the last compound is ``compound``.
    steps: list[CareStep]
    # The text was too long to score each step on its own: steps are grouped by kind.
    is_grouped: bool


def _care_words_in(normalised: str) -> list[str]:
    """The care lexicon's words in a normalised text, once each, in order of appearance,
    found as CareScorer.explain() finds them."""
    lexicon = care.care_lexicon()
    seen: dict[str, None] = {}
    for token in normalised.split():
        word = token.strip(string.punctuation).lower()
        if word in lexicon:
            seen.setdefault(word)
    return list(seen)


def _named(names: list[str]) -> str:
    more = f" and {len(names) - _GROUP_NAMES} more" if len(names) > _GROUP_NAMES else ""
    return ", ".join(names[:_GROUP_NAMES]) + more


def _grouped_care_steps(
    text: str, normalised: str, words: list[str], hits: list[care.Pattern]
) -> list[tuple[str, float]]:
    """CareScorer.explain()'s steps grouped by kind: the text as the scorer reads it, the care
    words, the complaint patterns. At most four scorings of the text, whatever its length."""
    plain = get_analyzer()
    analyzer = copy.copy(plain)
    # As in CareScorer.explain(): our marked words (emoji, patterns) known from the start.
    analyzer.lexicon = dict(plain.lexicon)
    analyzer.lexicon.update(
        (w, v) for w, v in care.get_care_analyzer().lexicon.items() if w.startswith(care._MARK)
    )
    steps: list[tuple[str, float]] = []
    current = plain.polarity_scores(text)["compound"]

    def step(what: str, scored_text: str) -> None:
        nonlocal current
        compound = analyzer.polarity_scores(scored_text)["compound"]
        steps.append((what, compound - current))
        current = compound

    if normalised != text:
        step(
            "the text as Earshot reads it: @handles and URLs left out, hashtags split, emoji"
            " and HTML entities read",
            normalised,
        )
    if words:
        lexicon = care.care_lexicon()
        names = []
        for word in words:
            valence = lexicon[word]
            if valence == 0:
                analyzer.lexicon.pop(word, None)
                names.append(f"{word!r} not sentiment")
            else:
                analyzer.lexicon[word] = valence
                names.append(f"{word!r} {valence:+g}")
        step(f"care words: {_named(names)}", normalised)
    if hits:
        for pattern in hits:
            analyzer.lexicon[pattern.token] = pattern.valence
        named = [f"{p.what} ({p.rule})" for p in hits]
        step(f"complaint patterns: {_named(named)}", care._with_tokens(normalised, hits))
    return steps


def explain_care(text: str, *, budget: int = CARE_EXPLAIN_BUDGET) -> CareExplanation:
    """Earshot's care scorer on ``text`` today: plain VADER's compound, each step of
    CareScorer.explain() with the compound after it, Earshot's compound and label with the
    thresholds. Work is linear in the text: when steps x length would pass ``budget``
    characters scored, the steps are grouped by kind (``is_grouped``)."""
    plain_compound = get_analyzer().polarity_scores(text)["compound"]
    today = care.CareScorer().score_many([text])[0]
    normalised = care.normalise(text)
    words = _care_words_in(normalised)
    hits = care.pattern_hits(normalised)
    # An upper bound of explain()'s steps: each hashtag, emoji, care word and pattern, and the
    # entity, URL, handle and apostrophe changes.
    emoji = len(set(text).intersection(care.care_emoji())) if not text.isascii() else 0
    most_steps = text.count("#") + emoji + len(words) + len(hits) + 4
    is_grouped = most_steps * (len(text) + 1) > budget
    if is_grouped:
        raw = _grouped_care_steps(text, normalised, words, hits)
    else:
        raw = care.CareScorer().explain(text)
    steps = []
    compound = plain_compound
    for what, delta in raw:
        # VADER rounds every compound to four places, so the running sum is exact at four.
        compound = round(compound + delta, 4)
        steps.append(CareStep(what=what, delta=delta, compound=compound))
    return CareExplanation(
        plain_compound=plain_compound,
        compound=today.compound,
        label=today.label,
        positive_threshold=care.POSITIVE_THRESHOLD,
        negative_threshold=care.NEGATIVE_THRESHOLD,
        steps=steps,
        is_grouped=is_grouped,
    )
