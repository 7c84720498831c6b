"""explain_text() must explain the very score we store, and name the rules that fired."""

from __future__ import annotations

import csv
import itertools
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import normalize

from listening.sentiment import get_analyzer
from listening.sentiment_explain import FLAGS, Explanation, explain_text
from tests.listening.explain_reference import stock_explain_text
from tests.listening.test_sentiment import corpus_texts, vaderish_text

AIRLINE_SAMPLE = 400


def ground_truth_tweets(shared_data: Path) -> list[str]:
    path = shared_data / "vader_ground_truth" / "tweets_GroundTruth.txt"
    # CRLF lines: bytes, because text mode would turn "\r\n" into "\n" and break the split.
    lines = [line for line in path.read_bytes().decode("utf-8").split("\r\n") if line]
    assert len(lines) == 4200
    return [line.split("\t", 2)[2] for line in lines]


def airline_tweets(shared_data: Path) -> list[str]:
    path = shared_data / "airline_tweets" / "airline_tweets_dev.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = itertools.islice(csv.DictReader(f), AIRLINE_SAMPLE)
        return [row["text"] for row in rows]


def assert_consistent(text: str) -> None:
    explanation = explain_text(text)
    scores = get_analyzer().polarity_scores(text)
    assert explanation.compound == scores["compound"], text
    assert (explanation.neg, explanation.neu, explanation.pos) == (
        scores["neg"],
        scores["neu"],
        scores["pos"],
    ), text
    total = sum(w.contribution for w in explanation.words)
    if total > 0:
        total += explanation.punctuation_emphasis
    elif total < 0:
        total -= explanation.punctuation_emphasis
    assert total == pytest.approx(explanation.raw_sum, abs=1e-9), text
    if explanation.words:
        assert round(normalize(explanation.raw_sum), 4) == explanation.compound, text
    for word in explanation.words:
        assert word.flags <= FLAGS, text


@pytest.mark.slow
def test_it_matches_the_stored_compound_on_every_ground_truth_tweet(shared_data: Path) -> None:
    texts = ground_truth_tweets(shared_data)
    for text in texts:
        assert_consistent(text)


@pytest.mark.slow
def test_it_matches_the_stored_compound_on_airline_tweets(shared_data: Path) -> None:
    texts = airline_tweets(shared_data)
    assert len(texts) == AIRLINE_SAMPLE
    for text in texts:
        assert_consistent(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "!!!",
        "the airline",
        "No problem",
        "I don't hate it but it's not GREAT!!",
        "😀😀 ok",
    ],
)
def test_it_matches_the_stored_compound_on_edge_cases(text: str) -> None:
    assert_consistent(text)


def word(text: str, token: str):
    return next(w for w in explain_text(text).words if w.word == token)


def test_it_flags_a_negated_word() -> None:
    good = word("not good", "good")
    assert "negated" in good.flags
    assert good.lexicon_valence == 1.9
    assert good.contribution < 0


def test_it_flags_the_booster_and_the_boosted_word() -> None:
    assert "booster" in word("very good", "very").flags
    good = word("very good", "good")
    assert "boosted" in good.flags
    assert good.contribution > good.lexicon_valence


def test_it_flags_all_caps_emphasis() -> None:
    great = word("The food was GREAT", "GREAT")
    assert "caps" in great.flags
    assert great.contribution > great.lexicon_valence


def test_it_flags_words_weighted_by_but() -> None:
    explanation = explain_text("good but awful")
    good, but, awful = explanation.words
    assert "but" in good.flags and good.contribution == pytest.approx(1.9 * 0.5)
    assert "but" in awful.flags and awful.contribution == pytest.approx(-2.0 * 1.5)
    assert but.flags == set()


def test_it_flags_kind_of_as_a_dampener_not_as_kind() -> None:
    kind = word("kind of good", "kind")
    assert "kind of" in kind.flags
    assert kind.lexicon_valence is not None
    assert kind.contribution == 0


def test_it_flags_words_that_came_from_emoji() -> None:
    explanation = explain_text("love it 😀")
    assert any("emoji" in w.flags for w in explanation.words)
    assert not any("emoji" in w.flags for w in explanation.words[:2])


def test_it_flags_idioms() -> None:
    assert "idiom" in word("this food is just the bomb", "bomb").flags


def test_it_reports_punctuation_emphasis() -> None:
    assert explain_text("good!!").punctuation_emphasis == pytest.approx(2 * 0.292)
    assert explain_text("the airline!!").punctuation_emphasis == 0


def test_its_summary_names_the_label_and_the_strongest_word() -> None:
    summary = explain_text("The service was awful").summary
    assert summary.startswith("Negative")
    assert "awful" in summary
    assert "no word" in explain_text("the airline").summary


# -- issue 9: linear, and exactly the stock-based explanation ------------------------------


def comparable(explanation: Explanation) -> tuple:
    """Every field, floats by repr so that -0.0 against 0.0 would show up."""
    return (
        repr(explanation.compound),
        repr(explanation.pos),
        repr(explanation.neu),
        repr(explanation.neg),
        explanation.label,
        [
            (w.index, w.word, repr(w.lexicon_valence), repr(w.contribution), w.flags)
            for w in explanation.words
        ],
        repr(explanation.punctuation_emphasis),
        explanation.summary,
        repr(explanation.raw_sum),
    )


def assert_same_as_stock(text: str) -> None:
    assert comparable(explain_text(text)) == comparable(stock_explain_text(text)), text


@pytest.mark.slow
def test_it_explains_every_corpus_text_exactly_as_the_stock_based_explanation(
    shared_data: Path,
) -> None:
    texts = corpus_texts(shared_data)
    assert len(texts) == 4200 + 10605 + 7313, f"compared {len(texts)} texts"
    differ = [t for t in texts if comparable(explain_text(t)) != comparable(stock_explain_text(t))]
    assert not differ, f"{len(differ)} of {len(texts)} texts differ; first: {differ[:3]}"


@pytest.mark.slow
def test_it_explains_long_corpus_texts_exactly_as_the_stock_based_explanation(
    shared_data: Path,
) -> None:
    texts = corpus_texts(shared_data)
    rng = random.Random(20261206)
    for words in (300, 1000, 2000):
        for _ in range(3):
            parts: list[str] = []
            while sum(len(p.split()) for p in parts) < words:
                parts.append(rng.choice(texts))
            assert_same_as_stock(" ".join(parts))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😀",
        " 😀😀 ",
        "\t😀\n",
        "love😀it",
        "a 😀 b 👍🏽 c ❤️ d",
        "GREAT 😀 but AWFUL 😡!!",
        "not bad at all, but kind of good, no good or bad, at least decent",
        "the the the good good bad bad but but good",
        "I wouldn't say this is the bomb, without doubt it is never so good",
    ],
)
def test_it_explains_edge_cases_exactly_as_the_stock_based_explanation(text: str) -> None:
    assert_same_as_stock(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vaderish_text())
def test_it_explains_random_vader_like_text_exactly_as_stock(text: str) -> None:
    assert_same_as_stock(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_it_explains_arbitrary_unicode_exactly_as_stock(text: str) -> None:
    assert_same_as_stock(text)


def lower_calls(text: str) -> int:
    """How many times Python code calls str.lower while explaining text.

    Stock VADER lower-cases the whole token list once per lexicon word, so this count (and
    the time) grows with the square of the length; a linear explanation lower-cases a
    bounded number of times per word. Counting calls makes the test independent of the
    machine's speed.
    """
    calls = 0

    def profiler(frame, event, arg) -> None:
        nonlocal calls
        if event == "c_call" and getattr(arg, "__name__", "") == "lower":
            calls += 1

    sys.setprofile(profiler)
    try:
        explain_text(text)
    finally:
        sys.setprofile(None)
    return calls


def test_its_work_grows_linearly_with_text_length() -> None:
    sentence = "The crew was NOT very helpful but the seats were great and kind of comfy 😀 "
    one = lower_calls(sentence * 40)
    two = lower_calls(sentence * 80)
    four = lower_calls(sentence * 160)
    assert two <= 2 * one + 20 and four <= 2 * two + 20, (one, two, four)


def test_it_explains_a_100_kb_mention_exactly() -> None:
    # Stock took ~27 s on a text like this one; the linear explanation takes ~0.1 s.
    sentence = "The crew was NOT very helpful but the seats were great, kind of comfy 😀! "
    text = (sentence * (100_000 // len(sentence) + 1))[:100_000]
    explanation = explain_text(text)
    assert explanation.compound == get_analyzer().polarity_scores(text)["compound"]
    # The emoji becomes its two-word description ("grinning face").
    assert len(explanation.words) == len(text.split()) + text.count("😀")
    assert {w.word for w in explanation.words if "emoji" in w.flags} == {"grinning", "face"}
    assert explanation.label == "positive"
