"""explain_text() must explain the very score we store, and name the rules that fired."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import normalize

from listening.sentiment import get_analyzer
from listening.sentiment_explain import FLAGS, explain_text

# The CI clones the repository with shared/ beside it: /work/main -> /work/shared/data.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
AIRLINE_SAMPLE = 400


def ground_truth_tweets() -> list[str]:
    path = SHARED_DATA / "vader_ground_truth" / "tweets_GroundTruth.txt"
    if not path.is_file():
        pytest.skip(f"shared corpus not found: {path}")
    # CRLF lines: bytes, because text mode would turn "\r\n" into "\n" and break the split.
    lines = [line for line in path.read_bytes().decode("utf-8").split("\r\n") if line]
    assert len(lines) == 4200
    return [line.split("\t", 2)[2] for line in lines]


def airline_tweets() -> list[str]:
    path = SHARED_DATA / "airline_tweets" / "airline_tweets_dev.csv"
    if not path.is_file():
        pytest.skip(f"shared corpus not found: {path}")
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
def test_it_matches_the_stored_compound_on_every_ground_truth_tweet() -> None:
    texts = ground_truth_tweets()
    for text in texts:
        assert_consistent(text)


@pytest.mark.slow
def test_it_matches_the_stored_compound_on_airline_tweets() -> None:
    texts = airline_tweets()
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
