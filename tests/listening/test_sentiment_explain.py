"""explain_text() must explain the very score we store, and name the rules that fired."""

from __future__ import annotations

import csv
import itertools
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import normalize

from listening.sentiment import get_analyzer
from listening.sentiment.care import CareScorer, care_emoji, care_label, care_lexicon
from listening.sentiment_explain import (
    CARE_EXPLAIN_BUDGET,
    FLAGS,
    Explanation,
    explain_care,
    explain_text,
)
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


# --- explain_care: from plain VADER's compound to Earshot's care-aware one --------------------

CARE_TEXTS = [
    "Order delayed 3 hours, still no update &amp; can\u2019t reach anyone",
    "@acme thanks for nothing #neverbuyingagain #fail https://example.com/x?y",
    "Please help, charged twice 👎\ufe0f and no response!!",
    "I love my new phone 👍",
    "The weather is lovely today",
    "",
]
CARE_WORDS = [
    "delayed", "refund", "please", "help", "still", "again", "waiting", "3", "hours", "no",
    "response", "thanks", "for", "nothing", "#neverflyingagain", "#fail", "@acme", "😡", "👍",
    "https://x.example/a?b!", "not", "VERY", "good", "but", "terrible", "&amp;", "can\u2019t",
]  # fmt: skip


def assert_care_adds_up(text: str, **kwargs) -> None:
    care = explain_care(text, **kwargs)
    assert care.plain_compound == get_analyzer().polarity_scores(text)["compound"]
    assert care.compound == CareScorer().score_many([text])[0].compound
    assert care.label == care_label(care.compound)
    running = care.plain_compound
    for step in care.steps:
        running = round(running + step.delta, 4)
        assert step.compound == running
    assert running == pytest.approx(care.compound, abs=1e-9)


@pytest.mark.parametrize("text", CARE_TEXTS)
@pytest.mark.parametrize("budget", [0, CARE_EXPLAIN_BUDGET])
def test_care_steps_add_up_to_earshots_compound_grouped_or_not(text: str, budget: int) -> None:
    assert_care_adds_up(text, budget=budget)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(CARE_WORDS), max_size=30).map(" ".join) | st.text(max_size=120),
    st.booleans(),
)
# Found by hypothesis: the care scorer's marker character splits "L" (a VADER word) off.
@example("L\x1a", False)
@example("L\x1a", True)
def test_care_steps_add_up_on_any_text(text: str, grouped: bool) -> None:
    assert_care_adds_up(text, budget=0 if grouped else CARE_EXPLAIN_BUDGET)


def test_care_steps_are_the_care_scorers_own_when_the_text_is_short() -> None:
    text = "@acme Please help, still no refund #fail"
    care = explain_care(text)
    assert not care.is_grouped
    assert [(s.what, s.delta) for s in care.steps] == CareScorer().explain(text)
    assert (care.positive_threshold, care.negative_threshold) == (0.45, -0.05)


def test_grouped_care_steps_name_the_words_and_patterns() -> None:
    care = explain_care("@acme Please help, still no refund #fail", budget=0)
    assert care.is_grouped
    whats = [s.what for s in care.steps]
    assert whats[0].startswith("the text as Earshot reads it")
    assert whats[1] == "care words: 'please' not sentiment, 'help' not sentiment, 'refund' -1.2"
    assert whats[2].startswith("complaint patterns: still not sorted (still_problem)")


def scored_chars(text: str) -> int:
    """How many characters the analyzers score while explain_care() explains text: its
    cost, counted so the test does not depend on the machine's speed."""
    total = 0

    def profiler(frame, event, arg) -> None:
        nonlocal total
        if event == "call" and frame.f_code.co_name == "polarity_scores":
            total += len(frame.f_locals.get("text", ""))

    sys.setprofile(profiler)
    try:
        explain_care(text)
    finally:
        sys.setprofile(None)
    return total


@pytest.mark.parametrize(
    "sentence",
    [
        # A step per hashtag made CareScorer.explain() score the text once per hashtag.
        "Still waiting 3 hours for a refund, delayed again #neverflyingagain @acme ",
        "#a #b #cd #NeverAgain #fail ",
        # Every care word and emoji of the tables: a step each.
        " ".join(care_lexicon()) + " " + "".join(care_emoji()) + " ",
    ],
)
def test_care_explanation_work_grows_linearly_with_text_length(sentence: str) -> None:
    def cost(n: int) -> int:
        return scored_chars((sentence * (n // len(sentence) + 1))[:n])

    # A few scorings of the text (plain VADER's, Earshot's, a step per kind), each of the text
    # or of its normalised form (a little longer: emoji become words); never one per step.
    one, two, four = cost(25_000), cost(50_000), cost(100_000)
    assert two <= 2.05 * one and four <= 2.05 * two, (one, two, four)
    assert four <= 10 * 100_000
