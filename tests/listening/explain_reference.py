"""The explanation as it was before issue 9: stock VADER's own steps, quadratic in length.

Kept only as the oracle for tests/listening/test_sentiment_explain.py: the linear
listening.sentiment_explain must give exactly this output on every text. Verbatim from
commit d81e75e except that it builds the module's own dataclasses and reuses its summary.
"""

from __future__ import annotations

import threading

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
    negated,
    scalar_inc_dec,
)

from listening.sentiment import label_for
from listening.sentiment_explain import Explanation, WordContribution, _summary

_stock: SentimentIntensityAnalyzer | None = None
_stock_lock = threading.Lock()


def _analyzer() -> SentimentIntensityAnalyzer:
    global _stock
    if _stock is None:
        with _stock_lock:
            if _stock is None:
                _stock = SentimentIntensityAnalyzer()
    return _stock


def _replace_emoji(sia: SentimentIntensityAnalyzer, text: str) -> tuple[str, list[bool]]:
    """Stock's emoji-to-description rewrite, plus which output characters came from emoji."""
    pieces: list[str] = []
    mask: list[bool] = []
    prev_space = True
    for char in text:
        if char in sia.emojis:
            description = sia.emojis[char]
            if not prev_space:
                pieces.append(" ")
                mask.append(False)
            pieces.append(description)
            mask.extend([True] * len(description))
            prev_space = False
        else:
            pieces.append(char)
            mask.append(False)
            prev_space = char == " "
    return "".join(pieces), mask


def _emoji_tokens(text: str, mask: list[bool]) -> list[bool]:
    """For each whitespace-separated token of text.strip(), whether it came from an emoji."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    mask = mask[lead : lead + len(stripped)]
    result: list[bool] = []
    start = None
    # str.split() and str.isspace() agree on what whitespace is.
    for pos, char in enumerate(stripped + " "):
        if char.isspace():
            if start is not None:
                result.append(any(mask[start:pos]))
                start = None
        elif start is None:
            start = pos
    return result


def _trace_flags(
    sia: SentimentIntensityAnalyzer, sentitext: SentiText, i: int, flags: list[set[str]]
) -> None:
    """Record which rules of stock ``sentiment_valence`` change token i (a lexicon word).

    A transcription of vaderSentiment 3.3.2's sentiment_valence(), _negation_check(),
    _special_idioms_check() and _least_check(), keeping the valence only to decide which
    branches run; flags go to flags[i] (and "booster" to the modifying word).
    """
    lexicon = sia.lexicon
    words = sentitext.words_and_emoticons
    lw = [str(w).lower() for w in words]
    is_cap_diff = sentitext.is_cap_diff
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
        if start_i == 0 and negated([lw[j]]):
            valence *= N_SCALAR
            own.add("negated")
        elif start_i == 1:
            if lw[i - 2] == "never" and lw[i - 1] in ("so", "this"):
                valence *= 1.25
                own.add("boosted")
            elif lw[i - 2] == "without" and lw[i - 1] == "doubt":
                pass
            elif negated([lw[j]]):
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
            elif negated([lw[j]]):
                valence *= N_SCALAR
                own.add("negated")
            valence = _trace_idioms(valence, lw, i, own, flags)

    if i > 1 and lw[i - 1] not in lexicon and lw[i - 1] == "least":
        if lw[i - 2] not in ("at", "very"):
            own.add("negated")
    elif i > 0 and lw[i - 1] not in lexicon and lw[i - 1] == "least":
        own.add("negated")


def _trace_idioms(
    valence: float, lw: list[str], i: int, own: set[str], flags: list[set[str]]
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


def stock_explain_text(text: str) -> Explanation:
    """Explain VADER's score of text word by word; same compound as the stored score."""
    sia = _analyzer()
    replaced, mask = _replace_emoji(sia, text)
    from_emoji = _emoji_tokens(replaced, mask)
    text = replaced.strip()

    sentitext = SentiText(text)
    words = sentitext.words_and_emoticons
    lw = [w.lower() for w in words]
    flags: list[set[str]] = [set() for _ in words]
    sentiments: list[float] = []
    for i, item in enumerate(words):
        if from_emoji[i]:
            flags[i].add("emoji")
        if lw[i] in BOOSTER_DICT:
            sentiments.append(0)
            continue
        if i < len(words) - 1 and lw[i] == "kind" and lw[i + 1] == "of":
            # "kind of" is a dampener, never the lexicon's "kind" (+2.4).
            sentiments.append(0)
            flags[i].add("kind of")
            flags[i + 1].add("kind of")
            continue
        sentiments = sia.sentiment_valence(0, sentitext, item, i, sentiments)
        if lw[i] in sia.lexicon:
            _trace_flags(sia, sentitext, i, flags)

    before_but = list(sentiments)
    sentiments = sia._but_check(words, sentiments)
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
            lexicon_valence=sia.lexicon.get(lw[i]),
            contribution=float(sentiments[i]),
            flags=frozenset(flags[i]),
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
