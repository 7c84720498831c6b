"""VADER sentiment scoring, with the same output as stock ``vaderSentiment`` but much cheaper.

Stock ``SentimentIntensityAnalyzer.polarity_scores`` (vaderSentiment 3.3.2) re-lower-cases the
whole token list several times for every lexicon word it meets (``_negation_check``,
``_special_idioms_check``, ``_but_check``, ``negated``...), which makes it quadratic in text
length, and it rebuilds the text character by character to find emoji even when the text is
pure ASCII. ``FastSentimentIntensityAnalyzer`` lower-cases once per text, skips the emoji walk
when no emoji can be present, and only does per-word work for words that are in the lexicon.

Every rule below is a line-by-line transcription of the stock code, including its quirks (the
``but`` rule that rewrites list items found by value, the ``never``/``so`` precedence, the
"no" rules); the test suite checks ``==`` on whole result dicts against stock VADER on ~22k
real texts and on generated ones. When upgrading vaderSentiment, re-run those tests first.
"""

from __future__ import annotations

import heapq
import os
import string
import threading
from collections.abc import Sequence
from importlib import metadata
from itertools import compress
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from listening.sentiment.base import SentimentScores, label_for

__all__ = ["FastSentimentIntensityAnalyzer", "VaderScorer", "get_analyzer", "score_text"]

# The scorer's name and version as recorded on each mention it scored.
VADER_NAME = "vader"
VADER_VERSION = metadata.version("vaderSentiment")

_PUNCTUATION = string.punctuation
# ``negated()`` in stock VADER tests ``word in [w]`` for every word of NEGATE; a set lookup is
# the same test.
_NEGATE = frozenset(NEGATE)


def _negated(word_lower: str) -> bool:
    # Stock ``negated([w])`` lower-cases again; str.lower() is idempotent on every code point
    # (checked over the whole Unicode range on Python 3.11), but lowering is cheap and here
    # it keeps the transcription literal.
    word_lower = word_lower.lower()
    return word_lower in _NEGATE or "n't" in word_lower


class FastSentimentIntensityAnalyzer(SentimentIntensityAnalyzer):
    """Drop-in ``SentimentIntensityAnalyzer`` whose ``polarity_scores`` is linear in text length.

    The inherited helper methods are untouched, so code that calls them directly still gets
    stock behaviour.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Stock VADER tests ``char in self.emojis`` one code point at a time, so only the
        # single-code-point keys can ever match (flags, skin tones and ZWJ sequences are
        # replaced piecewise or not at all). None of them is ASCII, which is what makes the
        # ``isascii()`` shortcut in polarity_scores exact.
        self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)
        self._emoji_ascii_free = all(not k.isascii() for k in self._emoji_chars)
        # Every lower-case word that any rule in sentiment_valence() looks at, besides the
        # lexicon itself and "n't" (checked separately). A lexicon word with none of these
        # within three words before or two after it scores exactly its lexicon valence plus
        # caps emphasis; see _word_valence_is_plain().
        self._rule_words = frozenset(
            [*BOOSTER_DICT, *NEGATE, "no", "or", "nor", "never", "so", "this", "without"]
            + ["doubt", "least", "at", "very"]
            + [w for key in (*SPECIAL_CASES, *BOOSTER_DICT) for w in key.split()]
        )

    # -- text preparation ------------------------------------------------------------------

    def emoji_positions(self, text: str) -> list[int]:
        """The sorted offsets of every emoji in text that stock VADER describes."""
        # Set intersection runs in C; most non-ASCII texts (accents, curly quotes) hold no
        # emoji at all. (A regex character class over the ~1,200 emoji was measured 5x
        # slower than stock's own walk: sre scans non-BMP classes linearly.) str.find visits
        # only the emoji: a per-character walk in Python cost ~30 ms on a 100 KB text.
        positions: list[int] = []
        for char in self._emoji_chars.intersection(text):
            pos = text.find(char)
            while pos != -1:
                positions.append(pos)
                pos = text.find(char, pos + 1)
        positions.sort()
        return positions

    def _replace_emoji(self, text: str) -> str:
        """Stock's emoji-to-description rewrite, visiting only the emoji positions."""
        positions = self.emoji_positions(text)
        if not positions:
            return text
        emojis = self.emojis
        pieces: list[str] = []
        last = 0
        for pos in positions:
            pieces.append(text[last:pos])
            # Stock inserts a space before the description unless the previous *input*
            # character is a plain " " (tabs and newlines do not count) or there is none; an
            # emoji right after another emoji therefore gets one too.
            if pos > 0 and text[pos - 1] != " ":
                pieces.append(" ")
            pieces.append(emojis[text[pos]])
            last = pos + 1
        pieces.append(text[last:])
        return "".join(pieces)

    # -- scoring ---------------------------------------------------------------------------

    def polarity_scores(self, text: str) -> dict[str, float]:  # type: ignore[override]
        if type(text) is not str:
            # Stock behaviour for odd input (bytes iterate as ints, etc.) is not worth
            # re-deriving; nobody should pass it, and stock handles it however it does.
            return super().polarity_scores(text)
        if not (text.isascii() and self._emoji_ascii_free):
            text = self._replace_emoji(text)
        text = text.strip()

        # SentiText._words_and_emoticons(): strip punctuation unless that leaves <= 2 chars
        # (probably an emoticon such as ":)"), inlined because it runs once per token.
        words = [
            stripped if len(stripped := token.strip(_PUNCTUATION)) > 2 else token
            for token in text.split()
        ]
        lowered = list(map(str.lower, words))
        lexicon = self.lexicon
        rule_words = self._rule_words

        n = len(words)
        sentiments: list[float] = []
        # Both computed on the first lexicon hit only: most tokens are not in the lexicon.
        is_cap_diff: bool | None = None
        has_nt = False
        for i, item_lower in enumerate(lowered):
            # Ints, not 0.0, where stock appends ints: keeps sum() bit-identical.
            if item_lower in BOOSTER_DICT or item_lower not in lexicon:
                sentiments.append(0)
                continue
            if i < n - 1 and item_lower == "kind" and lowered[i + 1] == "of":
                sentiments.append(0)
                continue
            if is_cap_diff is None:
                # allcap_differential(): some, but not all, words are ALL CAPS.
                allcap = sum(map(str.isupper, words))
                is_cap_diff = 0 < n - allcap < n
                # "\0" cannot be part of "n't", so no false match across a boundary.
                has_nt = "n't" in "\0".join(lowered)
            valence = lexicon[item_lower]
            start = i - 3 if i > 3 else 0
            if (
                valence != 0
                and rule_words.isdisjoint(lowered[start : i + 3])
                and not (has_nt and "n't" in "\0".join(lowered[start:i]))
            ):
                # No booster, negation, "no", "least" or idiom word within reach: every
                # rule in sentiment_valence() is a no-op except caps emphasis (the "+ 0.0"
                # steps are exact because valence is non-zero).
                if is_cap_diff and words[i].isupper():
                    valence = valence + C_INCR if valence > 0 else valence - C_INCR
                sentiments.append(valence)
            else:
                sentiments.append(self._word_valence(i, words, lowered, is_cap_diff))

        if not sentiments:
            return self.score_valence(sentiments, text)
        if is_cap_diff is None:
            # No lexicon word at all: score_valence() of n zeros, whatever "but" does to them.
            return {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
        if "but" in lowered:
            sentiments = self._but_check_lowered(lowered, sentiments)
        return self.score_valence(sentiments, text)

    def _word_valence(
        self, i: int, words: list[str], lowered: list[str], is_cap_diff: bool
    ) -> float:
        """sentiment_valence() for a word known to be in the lexicon (and not a booster)."""
        lexicon = self.lexicon
        item = words[i]
        item_lower = lowered[i]
        n = len(lowered)
        valence = lexicon[item_lower]

        # "no" next to a lexicon word negates that word instead of scoring itself.
        if item_lower == "no" and i != n - 1 and lowered[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowered[i - 1] == "no")
            or (i > 1 and lowered[i - 2] == "no")
            or (i > 2 and lowered[i - 3] == "no" and lowered[i - 1] in ("or", "nor"))
        ):
            valence = lexicon[item_lower] * N_SCALAR

        if item.isupper() and is_cap_diff:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR

        for start_i in range(0, 3):
            j = i - (start_i + 1)
            if i > start_i and lowered[j] not in lexicon:
                # scalar_inc_dec(), inlined
                s = 0.0
                prev_lower = lowered[j]
                if prev_lower in BOOSTER_DICT:
                    s = BOOSTER_DICT[prev_lower]
                    if valence < 0:
                        s *= -1
                    if words[j].isupper() and is_cap_diff:
                        if valence > 0:
                            s += C_INCR
                        else:
                            s -= C_INCR
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                # Always add, even 0.0: it turns -0.0 into 0.0 exactly as stock does.
                valence = valence + s
                valence = self._negation_check_lowered(valence, lowered, start_i, i)
                if start_i == 2:
                    valence = self._special_idioms_check_lowered(valence, lowered, i)

        # _least_check()
        if i > 1 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
            if lowered[i - 2] != "at" and lowered[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _negation_check_lowered(valence: float, lw: list[str], start_i: int, i: int) -> float:
        """_negation_check() on an already lower-cased token list."""
        if start_i == 0 and _negated(lw[i - 1]):
            valence = valence * N_SCALAR
        if start_i == 1:
            if lw[i - 2] == "never" and (lw[i - 1] == "so" or lw[i - 1] == "this"):
                valence = valence * 1.25
            elif lw[i - 2] == "without" and lw[i - 1] == "doubt":
                pass
            elif _negated(lw[i - (start_i + 1)]):
                valence = valence * N_SCALAR
        if start_i == 2:
            # Stock precedence, kept on purpose: (never and so/this two back) OR (so/this one
            # back), so "so good" three words after anything gets x1.25 here.
            if (lw[i - 3] == "never" and (lw[i - 2] == "so" or lw[i - 2] == "this")) or (
                lw[i - 1] == "so" or lw[i - 1] == "this"
            ):
                valence = valence * 1.25
            elif lw[i - 3] == "without" and (lw[i - 2] == "doubt" or lw[i - 1] == "doubt"):
                pass
            elif _negated(lw[i - (start_i + 1)]):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms_check_lowered(valence: float, lw: list[str], i: int) -> float:
        """_special_idioms_check() on an already lower-cased token list (called with i >= 3)."""
        onezero = f"{lw[i - 1]} {lw[i]}"
        twoonezero = f"{lw[i - 2]} {lw[i - 1]} {lw[i]}"
        twoone = f"{lw[i - 2]} {lw[i - 1]}"
        threetwoone = f"{lw[i - 3]} {lw[i - 2]} {lw[i - 1]}"
        threetwo = f"{lw[i - 3]} {lw[i - 2]}"

        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in SPECIAL_CASES:
                valence = SPECIAL_CASES[seq]
                break

        if len(lw) - 1 > i:
            zeroone = f"{lw[i]} {lw[i + 1]}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
        if len(lw) - 1 > i + 1:
            zeroonetwo = f"{lw[i]} {lw[i + 1]} {lw[i + 2]}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]

        # booster/dampener bi-grams such as "sort of" or "kind of"
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    @staticmethod
    def _but_check_lowered(lw: list[str], sentiments: list[float]) -> list[float]:
        """_but_check() on an already lower-cased token list, in O(n log n) instead of O(n^2).

        Stock walks the list and, for each value, rewrites the *first element equal to it*
        (``sentiments.index(value)``), not the element at the current position: with
        repeated values (the zeros of neutral words, a word used twice) an element can be
        scaled twice or not at all. That quirk is kept exactly; only the search changes:
        ``groups`` maps each value to a min-heap of the positions currently holding an equal
        value, so its first element is what ``index()`` would return. Number hashing makes
        0, 0.0 and -0.0 one key, as ``==`` does.
        """
        bi = lw.index("but")
        # Zeros stay zeros and no other value ever equals them, so each zero, in turn, only
        # rewrites the first zero (index(0)) as itself times 0.5 or 1.5: what is left there is
        # the last zero's value as a float (its sign kept), unless the first zero is the "but"
        # itself, which is never rewritten. The rest of the walk only visits the non-zero
        # values (compress() finds them in C).
        n = len(sentiments)
        nonzero = list(compress(range(n), sentiments))
        if len(nonzero) < n:
            first_zero = sentiments.index(0)
            if first_zero != bi:
                last_zero = n - 1 - sentiments[::-1].index(0)
                sentiments[first_zero] = sentiments[last_zero] * 0.5
        groups: dict[float, list[int]] = {}
        for pos in nonzero:
            # Positions arrive in ascending order, so each list is already a valid heap.
            groups.setdefault(sentiments[pos], []).append(pos)
        for k in nonzero:
            # Stock iterates the list while rewriting it, so it reads the current value.
            sentiment = sentiments[k]
            group = groups[sentiment]
            si = group[0]
            if si < bi:
                scaled = sentiment * 0.5
            elif si > bi:
                scaled = sentiment * 1.5
            else:
                continue
            sentiments[si] = scaled
            heapq.heappop(group)
            if not group:
                del groups[sentiment]
            heapq.heappush(groups.setdefault(scaled, []), si)
        return sentiments


# -- module-level helpers ----------------------------------------------------------------

_analyzer: FastSentimentIntensityAnalyzer | None = None
_analyzer_lock = threading.Lock()


def _reset_lock_after_fork() -> None:
    # A fork while another thread holds the lock would leave the child's copy locked forever.
    global _analyzer_lock
    _analyzer_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def get_analyzer() -> FastSentimentIntensityAnalyzer:
    """The process-wide analyzer, built on first use (loading the lexicon takes ~100 ms).

    A fork (Celery prefork) copies the already-built object into the child, which is fine:
    the analyzer is read-only after construction. The lock only matters for threads.
    """
    global _analyzer
    analyzer = _analyzer
    if analyzer is None:
        with _analyzer_lock:
            analyzer = _analyzer
            if analyzer is None:
                analyzer = _analyzer = FastSentimentIntensityAnalyzer()
    return analyzer


def score_text(text: str) -> SentimentScores:
    return _scores(get_analyzer().polarity_scores(text))


class VaderScorer:
    """VADER behind the scorer interface (listening.sentiment.base.Scorer): stock
    vaderSentiment's scores, computed by the fast analyzer above."""

    name = VADER_NAME
    version = VADER_VERSION

    def score_many(self, texts: Sequence[str]) -> list[SentimentScores]:
        analyzer = get_analyzer()
        return [_scores(analyzer.polarity_scores(text)) for text in texts]


def _scores(raw: dict[str, float]) -> SentimentScores:
    return SentimentScores(
        neg=raw["neg"],
        neu=raw["neu"],
        pos=raw["pos"],
        compound=raw["compound"],
        label=label_for(raw["compound"]),
    )
