"""The care scorer's one-pass scoring and its rewritten pattern searches are exact (issue 13).

``CareScorer.score_with_plain_many`` shares VADER's words and valences between plain VADER's
reading and Earshot's, and the complaint patterns run as rewritten searches; neither may
change a score. Each claim is checked here against its plain definition on the real corpora
in the shared data (read at run time, never copied here) and on sentences written for edge
cases: plain VADER's scores against stock vaderSentiment, Earshot's against the care analyzer
on the normalised text with the pattern words in front, each branch's searches against its
regex as the data file writes it.
"""

from __future__ import annotations

import csv
import re

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from listening.sentiment.base import SentimentScores
from listening.sentiment.care import (
    _MACROS,
    CareScorer,
    _rows,
    _token_runs,
    _with_tokens,
    _words_and_pieces,
    care_label,
    care_patterns,
    get_care_analyzer,
    normalise,
    pattern_hits,
)
from listening.sentiment.vader import VaderScorer

SCORER = CareScorer()

# Written for these tests: handles and URLs in front, behind and between, all caps, "but",
# "kind of", emoji, entities, curly apostrophes, quotes, pattern words near rescored words.
EDGE_CASES = [
    "",
    "   ",
    "but",
    "MY ORDER IS LATE AGAIN",
    "MY ORDER IS LATE AGAIN 123",
    "@acme STILL NO REFUND!!",
    "@acme @acme_help thanks for nothing",
    "thanks for nothing @acme",
    "I love it but still no refund, please help",
    "kind of good but not great",
    "it is kind of late again",
    "not really sure, but the support was very helpful",
    "@acme no help at all https://example.com/a?b=1!! never again",
    "https://example.com great service",
    "Great service https://example.com?x=1",
    "@love my order is here",
    "#NotHappy but fine \U0001f44e",
    "#neverbuyingagain #fail",
    "Order arrived \U0001f44e\ufe0f please fix it",
    "I can\u2019t log in &amp; nobody answers",
    "''true'' still no 'reply'",
    "y'all sorted it out, thanks",
    "Waited 3hrs on hold, 2-3 days for a refund",
    "twohours late and a day off",  # a number glued to its unit: no word "two" to look for
    "delayed again? for the 4th time this week",
    "very very bad, extremely slow refund",
    "no problem, never had a better flight",
    "so much for next day delivery :(",
    "PLEASE HELP, outage since 9am",
    # Handles and URLs left out on both sides and in between: plain VADER's valences are
    # shared run by run, and the words next to each gap are scored again.
    "@acme thanks @bob for nothing http://x.co again",
    "I love @acme but @bob hates it http://t.co/x !!",
    "@a @b NOT GOOD @c at all http://u.rl",
    "kind of @acme good",
    "so @acme kind of late again http://x.co",
    "very @acme @bob bad, but never @acme so good https://x.co",
    "no @acme refund, no @bob help, not @acme happy",
    "@acme @acme @acme",
    "@acme great http://x.co @acme",
]


def _airline_texts(shared_data) -> list[str]:
    path = shared_data / "airline_tweets" / "airline_tweets_dev.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


def _ground_truth_texts(shared_data, name: str) -> list[str]:
    raw = (shared_data / "vader_ground_truth" / name).read_bytes().decode("utf-8")
    return [line.split("\t", 2)[2] for line in raw.split("\r\n") if line.strip()]


@pytest.fixture
def corpus(shared_data) -> list[str]:
    return (
        _airline_texts(shared_data)
        + _ground_truth_texts(shared_data, "tweets_GroundTruth.txt")
        + _ground_truth_texts(shared_data, "movieReviewSnippets_GroundTruth.txt")
        + EDGE_CASES
    )


def _care_by_definition(text: str) -> SentimentScores:
    """Earshot's scores as the module docstring defines them: the care analyzer on the
    normalised text with one scored word per pattern hit in front."""
    normalised = normalise(text)
    raw = get_care_analyzer().polarity_scores(_with_tokens(normalised, pattern_hits(normalised)))
    return SentimentScores(
        raw["neg"], raw["neu"], raw["pos"], raw["compound"], care_label(raw["compound"])
    )


def test_plain_scores_of_the_one_pass_are_stock_vaders_on_real_text(corpus):
    stock = SentimentIntensityAnalyzer()
    pairs = SCORER.score_with_plain_many(corpus)
    mismatched = [
        text
        for text, (plain, _care) in zip(corpus, pairs, strict=True)
        if (plain.neg, plain.neu, plain.pos, plain.compound)
        != tuple(stock.polarity_scores(text)[k] for k in ("neg", "neu", "pos", "compound"))
    ]
    assert mismatched == []
    assert [plain for plain, _care in pairs] == VaderScorer().score_many(corpus)


def test_care_scores_of_the_one_pass_are_the_care_analyzers_on_real_text(corpus):
    pairs = SCORER.score_with_plain_many(corpus)
    mismatched = [
        text
        for text, (_plain, care) in zip(corpus, pairs, strict=True)
        if care != _care_by_definition(text)
    ]
    assert mismatched == []
    assert SCORER.score_many(corpus) == [care for _plain, care in pairs]


def test_the_corpus_exercises_every_shortcut(corpus):
    # The one pass takes different roads (text unchanged, handles left out in front, text
    # rewritten) and shares valences only where a word's neighbourhood is the same; a corpus
    # where one road never came up would prove nothing about it.
    normalised = [normalise(t) for t in corpus]
    assert sum(n == t for n, t in zip(normalised, corpus, strict=True)) > 1000
    assert sum(n.split() == t.split()[1:] for n, t in zip(normalised, corpus, strict=True)) > 1000
    # Tokens left out on both sides, or between kept ones (several runs of shared words).
    runs = [_token_runs(t, n) for n, t in zip(normalised, corpus, strict=True)]
    assert sum(r is not None and len(r[1]) > 1 for r in runs) > 100
    assert (
        sum(
            r is not None
            and r[1][:1] not in ([(0, 0, len(r[0]))], [(0, len(t.split()) - len(r[0]), len(r[0]))])
            for r, t in zip(runs, corpus, strict=True)
        )
        > 200
    )
    assert sum(not t.isascii() for t in corpus) > 100
    assert sum(bool(pattern_hits(n)) for n in normalised) > 2000
    assert sum(" but " in t.lower() for t in corpus) > 300


def _file_regexes() -> list[re.Pattern[str]]:
    regexes = []
    for _rule, _valence, _what, _triggers, regex in _rows("care_patterns.tsv"):
        for macro, expansion in _MACROS.items():
            regex = regex.replace(macro, expansion)
        regexes.append(re.compile(regex))
    return regexes


def test_each_branchs_searches_match_where_its_regex_does(corpus):
    branches = [branch for pattern in care_patterns() for branch in pattern.branches]
    regexes = _file_regexes()
    assert len(branches) == len(regexes)
    texts = [normalise(t).lower() for t in corpus]
    texts += [t.lower() for t in EDGE_CASES]
    prepared = [(text, _words_and_pieces(text)[1]) for text in texts]
    mismatched = [
        (regex.pattern[:60], text[:60])
        for branch, regex in zip(branches, regexes, strict=True)
        for text, pieces in prepared
        if (regex.search(text) is not None) != branch.matches(text, pieces)
    ]
    assert mismatched == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("yet again", "again"),
        ("the 4th time this week", "again"),
        ("waited 3 hours", "waiting_time"),
        ("2-3 days late", "waiting_time"),
        ("y'all never called back", "no_response"),
        ("it's sorted, all sorted", "good_service"),
    ],
)
def test_rewritten_searches_still_fire(text, rule):
    assert rule in [p.rule for p in pattern_hits(normalise(text))]


@pytest.mark.parametrize(
    "text",
    [
        "xyet again",  # "again" after a word that only ends in "yet"
        "a44th time this week",  # a digit glued to a word: no boundary before it
        "waited 3 hoursly",
        "heyall sorted",
    ],
)
def test_rewritten_searches_keep_their_word_boundaries(text):
    lowered = normalise(text).lower()
    pieces = _words_and_pieces(lowered)[1]
    for branch, regex in zip(
        [b for p in care_patterns() for b in p.branches], _file_regexes(), strict=True
    ):
        assert branch.matches(lowered, pieces) == (regex.search(lowered) is not None)


def test_polite_rules_come_last_in_the_file():
    # _hits_and_words skips a polite_* rule's searches unless a complaint hit before it.
    polite = [p.is_polite for p in care_patterns()]
    assert polite[-1]
    assert polite == sorted(polite)
