"""FastSentimentIntensityAnalyzer must give exactly stock VADER's output, on every input.

Stock ``vaderSentiment`` is the oracle everywhere: the whole dicts are compared with ``==``,
plus ``repr`` so that even a ``-0.0`` against ``0.0`` would show up.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from listening.sentiment import (
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    FastSentimentIntensityAnalyzer,
    SentimentScores,
    get_analyzer,
    label_for,
    score_text,
)

STOCK = SentimentIntensityAnalyzer()
FAST = get_analyzer()


def assert_same(text: str) -> None:
    expected = STOCK.polarity_scores(text)
    got = FAST.polarity_scores(text)
    assert got == expected, f"{text!r}: fast {got} != stock {expected}"
    assert repr(got) == repr(expected), f"{text!r}: fast {got!r} != stock {expected!r}"


# -- corpora -------------------------------------------------------------------------------


def ground_truth_texts(folder: Path) -> list[str]:
    texts: list[str] = []
    for name, expected_count in (
        ("tweets_GroundTruth.txt", 4200),
        ("movieReviewSnippets_GroundTruth.txt", 10605),
    ):
        # CRLF lines; read bytes, because text mode would turn "\r\n" into "\n" behind our
        # back, and str.splitlines() would also split on characters inside the texts.
        raw = (folder / name).read_bytes().decode("utf-8")
        lines = [line for line in raw.split("\r\n") if line]
        assert len(lines) == expected_count, name
        texts.extend(line.split("\t", 2)[2] for line in lines)
    return texts


def airline_texts(folder: Path) -> list[str]:
    with (folder / "airline_tweets_dev.csv").open(encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    assert len(texts) == 7313
    return texts


def corpus_texts(shared_data: Path) -> list[str]:
    """Every text of the VADER ground truth and the airline tweets (the shared_data fixture)."""
    gt = shared_data / "vader_ground_truth"
    air = shared_data / "airline_tweets"
    return ground_truth_texts(gt) + airline_texts(air)


@pytest.mark.slow
def test_identical_to_stock_on_every_corpus_text(shared_data: Path) -> None:
    texts = corpus_texts(shared_data)
    mismatches = []
    for text in texts:
        expected = STOCK.polarity_scores(text)
        got = FAST.polarity_scores(text)
        if got != expected or repr(got) != repr(expected):
            mismatches.append((text, expected, got))
    # Guards against a reader bug silently comparing fewer texts (text-mode reading once
    # turned the whole CRLF tweet file into a single "text").
    assert len(texts) == 4200 + 10605 + 7313, f"compared {len(texts)} texts"
    assert not mismatches, (
        f"{len(mismatches)} of {len(texts)} texts differ from stock VADER; first: {mismatches[:3]}"
    )


@pytest.mark.slow
def test_identical_on_very_long_texts_built_from_corpus_sentences(shared_data: Path) -> None:
    texts = corpus_texts(shared_data)
    rng = random.Random(20140601)
    for words in (500, 800, 2000):
        for _ in range(5):
            parts: list[str] = []
            while sum(len(p.split()) for p in parts) < words:
                parts.append(rng.choice(texts))
            assert_same(" ".join(parts))


# -- hand-written edge cases ---------------------------------------------------------------

VADER_EXAMPLES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "Without a doubt, an excellent idea.",
]

EDGE_CASES = [
    # empty and whitespace
    "",
    " ",
    "   \t\n  ",
    "\n",
    "good\tbad\nugly",
    "  leading and trailing spaces are good  ",
    "\tgreat\t",
    "line one is great\r\nline two is awful\r\n",
    "nbsp\u00a0separated\u00a0great\u2003words",
    # emoji: alone, adjacent, no spaces, after tabs/newlines, flags, ZWJ, skin tones, VS16
    "😀",
    "😀😀😀",
    "I love it😀",
    "😀I love it",
    "great 😀 day",
    "great\t😀\tday",
    "great\n😀",
    "worst day ever 😡😡",
    "❤️",
    "I ❤️ NY",
    "I❤️NY",
    "<3 you",
    "🇺🇸 flag 🇫🇷🇩🇪",
    "👨‍👩‍👧 family",
    "👍🏽 thumbs",
    "©️ ® © and ™",
    "💘💋😁 no spaces at all💘",
    # non-ASCII words and punctuation
    "café is très bon, naïve but good",
    "Ich bin überrascht, wie GUT das ist!",
    "Я удивлен, как это хорошо",
    "“smart quotes” are great… aren’t they?",
    "don’t like it",
    "İSTANBUL is beautiful",
    "ΣΟΦΟΣ wise ΣΟΦΟΣ",
    # emoticons
    ":)",
    ":-(",
    ":(",
    "<3",
    ":D",
    ":-D",
    ":P",
    "xD lol",
    ";)",
    "I am happy :) but sad :(",
    "(: reversed :(",
    # caps
    "GREAT",
    "GREAT GOOD",
    "this is GREAT",
    "THIS IS GREAT",
    "this is VERY good",
    "VERY GOOD",
    "this is good VERY",
    "Kind OF good",
    "not GOOD",
    # kind of / sort of
    "kind of good",
    "it was kind of good",
    "it was kind of",
    "kind",
    "sort of bad",
    "it's kinda great",
    "just enough good",
    # but
    "good but bad",
    "bad but good",
    "but",
    "but good",
    "good but",
    "good good but good good bad",
    "nice nice nice but nice nice",
    "good, but not great. But ok but fine",
    "BUT it is great",
    # punctuation
    "good!",
    "good!!!",
    "good!!!!!!!!",
    "bad!!!",
    "good?",
    "good??",
    "good???",
    "good????????",
    "is it good?!?!",
    "!!!",
    "???",
    "ok!!!",
    # idioms and special cases
    *SPECIAL_CASES,
    *(f"it is {key} indeed" for key in SPECIAL_CASES),
    *(f"that was {key}" for key in SPECIAL_CASES),
    "you are the shit",
    "this is the bomb!",
    "kiss of death for the plan",
    "a cake to die for",
    "yeah right, great",
    "the bus stop was awful",
    "my beating heart is happy",
    "cut the mustard",
    "under the weather",
    # negations and never / without / least / no
    "never so good",
    "never this good",
    "never good",
    "it was never so very good",
    "so good",
    "not so good",
    "without doubt good",
    "without a doubt good",
    "without any doubt, good",
    "without good",
    "least good",
    "the least good",
    "at least good",
    "very least good",
    "no good",
    "no no good",
    "no",
    "no problem",
    "no love or hate",
    "no love nor hate",
    "no, good",
    "isn't good",
    "isnt good",
    "ain't bad",
    "not bad",
    "not very bad",
    "not the worst",
    "hardly good",
    "rarely happy",
    "uh-uh good",
    "despite good reviews",
    *(f"{neg} good" for neg in NEGATE),
    *(f"{neg} the very best" for neg in NEGATE),
    *(f"{booster} good" for booster in BOOSTER_DICT),
    *(f"{booster.upper()} good day" for booster in BOOSTER_DICT),
    *(f"{booster} bad" for booster in BOOSTER_DICT),
    # numbers, urls, mentions, html entities
    "@anonymous http://url_removed great &amp; good",
    "10/10 would recommend",
    "#love #hate",
    "123 456",
    "-- --- ...",
    # non-str-like, odd tokens
    "'",
    "a",
    "a b c d e f",
    "good" * 50,
    "good " * 300,
    "\x00 good \x00",
]


@pytest.mark.parametrize("text", VADER_EXAMPLES + EDGE_CASES)
def test_identical_to_stock_on_edge_cases(text: str) -> None:
    assert_same(text)


def test_identical_on_very_long_text_without_shared_data() -> None:
    # Independent of the corpora, so it runs in every checkout.
    rng = random.Random(7)
    sentences = VADER_EXAMPLES + EDGE_CASES
    text = " ".join(rng.choice(sentences) for _ in range(200))
    assert len(text.split()) >= 500
    assert_same(text)


def test_emoji_only_and_whitespace_results() -> None:
    # Documented behaviour other code relies on: text without any token scores all zeros
    # (not neu=1.0), and text with tokens but no lexicon word scores neu=1.0.
    empty = {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
    assert FAST.polarity_scores("") == empty
    assert FAST.polarity_scores(" \t\n") == empty
    assert FAST.polarity_scores("the airline") == {
        "neg": 0.0,
        "neu": 1.0,
        "pos": 0.0,
        "compound": 0.0,
    }


def test_but_rule_matches_stock_on_repeated_values() -> None:
    # Stock's "but" rule locates values with list.index(), so duplicates interact; the fast
    # rule must reproduce that on adversarial lists, not only on real texts.
    rng = random.Random(3)
    values = [0, 0.0, -0.0, 1.0, 0.5, 2.0, -1.0, -0.5, 1.5, 3.0, 0.25, 0.75]
    for _ in range(3000):
        n = rng.randint(1, 14)
        sentiments = [rng.choice(values) for _ in range(n)]
        words = ["w"] * n
        words[rng.randrange(n)] = "but"
        if rng.random() < 0.3:
            words[rng.randrange(n)] = "but"
        expected = STOCK._but_check(list(words), list(sentiments))
        got = FAST._but_check_lowered(words, list(sentiments))
        assert repr(got) == repr(expected), (words, sentiments)


# -- property test ---------------------------------------------------------------------------

_LEXICON_SAMPLE = sorted(STOCK.lexicon)[::25]  # ~300 words, spread over the whole lexicon
_RULE_WORDS = sorted(
    {
        *BOOSTER_DICT,
        *NEGATE,
        *(w for key in SPECIAL_CASES for w in key.split()),
        "no",
        "or",
        "nor",
        "never",
        "so",
        "this",
        "without",
        "doubt",
        "least",
        "at",
        "very",
        "but",
        "kind",
        "of",
        "sort",
        "isn't",
        "n't",
    }
)
_EMOJI = sorted(k for k in STOCK.emojis if len(k) == 1)[::10] + ["❤️", "🇺🇸", "👍🏽", "👨‍👩‍👧"]
_OTHER = ["the", "airline", "flight", "@united", "http://t.co/x", "&amp;", "é", "ß", "İ", "Σ"]
_PUNCT = ["", "", "", "!", "!!", "!!!!!", "?", "??", "???", ".", ",", "...", ":)", ":-(", "<3"]


@st.composite
def vaderish_text(draw: st.DrawFn) -> str:
    tokens = draw(
        st.lists(
            st.one_of(
                st.sampled_from(_LEXICON_SAMPLE),
                st.sampled_from(_RULE_WORDS),
                st.sampled_from(_EMOJI),
                st.sampled_from(_OTHER),
            ),
            max_size=40,
        )
    )
    out: list[str] = []
    for token in tokens:
        case = draw(st.sampled_from(["same", "same", "upper", "title"]))
        if case == "upper":
            token = token.upper()
        elif case == "title":
            token = token.title()
        out.append(token + draw(st.sampled_from(_PUNCT)))
        out.append(draw(st.sampled_from([" ", " ", " ", "", "  ", "\t", "\n", ", "])))
    return draw(st.sampled_from(["", " ", "\n"])) + "".join(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vaderish_text())
def test_identical_on_random_vader_like_text(text: str) -> None:
    assert_same(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_identical_on_arbitrary_unicode(text: str) -> None:
    assert_same(text)


# -- module API ------------------------------------------------------------------------------


def test_get_analyzer_is_cached_per_process() -> None:
    assert get_analyzer() is get_analyzer()
    assert isinstance(get_analyzer(), FastSentimentIntensityAnalyzer)
    assert isinstance(get_analyzer(), SentimentIntensityAnalyzer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (Celery prefork model)")
def test_get_analyzer_works_after_fork() -> None:
    parent = get_analyzer()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must reuse the inherited analyzer and score normally
        try:
            ok = get_analyzer() is parent and score_text("good").label == "positive"
            os.write(write_fd, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write_fd)
    result = os.read(read_fd, 16)
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert result == b"ok"


def test_score_text_matches_polarity_scores() -> None:
    text = "VADER is VERY SMART, handsome, and FUNNY!!!"
    scores = score_text(text)
    expected = STOCK.polarity_scores(text)
    assert scores == SentimentScores(
        neg=expected["neg"],
        neu=expected["neu"],
        pos=expected["pos"],
        compound=expected["compound"],
        label="positive",
    )
    assert score_text("this is awful").label == "negative"
    assert score_text("the airline").label == "neutral"
    assert score_text("").label == "neutral"
    with pytest.raises(AttributeError):
        scores.label = "negative"  # type: ignore[misc]


def test_label_thresholds_are_inclusive_at_five_hundredths() -> None:
    assert POSITIVE_THRESHOLD == 0.05
    assert NEGATIVE_THRESHOLD == -0.05
    assert label_for(0.05) == "positive"
    assert label_for(0.0499) == "neutral"
    assert label_for(0.0) == "neutral"
    assert label_for(-0.0499) == "neutral"
    assert label_for(-0.05) == "negative"
    assert label_for(1.0) == "positive"
    assert label_for(-1.0) == "negative"
