"""The sentiment seam: ingest scores through the configured scorer and records which one."""

from __future__ import annotations

from importlib import metadata

import pytest

from listening.connectors.base import RawItem
from listening.models import Mention, MentionMatch
from listening.sentiment import SCORERS, SentimentScores, get_scorer
from listening.sentiment.care import CARE_VERSION
from listening.services import BrandMatcher, brand_create, items_store, source_create

pytestmark = pytest.mark.django_db


class FirmScorer:
    """A second scorer, as a learned model would plug in: every text is firmly negative."""

    name = "firm"
    version = "2026.12"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def score_many(self, texts):
        self.batches.append(list(texts))
        return [SentimentScores(neg=1.0, neu=0.0, pos=0.0, compound=-0.9, label="negative")] * len(
            texts
        )


@pytest.fixture
def acme_feed():
    brand = brand_create(name="Acme", query="acme")
    return source_create(brand=brand, kind="webhook")


def store(source, *texts: str) -> None:
    items = [RawItem(external_id=f"i{n}", body=text) for n, text in enumerate(texts)]
    items_store(source=source, items=items, matcher=BrandMatcher.for_brands([source.brand]))


def test_each_mention_records_the_scorer_and_version_that_labelled_it(acme_feed, settings):
    store(acme_feed, "I love my Acme phone")
    settings.EARSHOT_SENTIMENT_SCORER = "vader"
    items_store(
        source=acme_feed,
        items=[RawItem(external_id="later", body="Acme is fine")],
        matcher=BrandMatcher.for_brands([acme_feed.brand]),
    )

    by_text = {m.text: m for m in Mention.objects.filter(source=acme_feed)}
    # The care scorer is the default (issue 13); its version names the VADER it builds on.
    default = by_text["I love my Acme phone"]
    assert (default.scorer_name, default.scorer_version) == ("earshot-care", CARE_VERSION)
    assert CARE_VERSION.endswith(f"+vader{metadata.version('vaderSentiment')}")
    assert (default.label, default.earshot_label) == ("positive", "positive")
    configured = by_text["Acme is fine"]
    assert (configured.scorer_name, configured.scorer_version) == (
        "vader",
        metadata.version("vaderSentiment"),
    )


def test_another_scorer_plugs_in_by_name_and_scores_only_matching_texts_in_one_batch(
    acme_feed, settings, monkeypatch
):
    monkeypatch.setitem(SCORERS, FirmScorer.name, FirmScorer)
    settings.EARSHOT_SENTIMENT_SCORER = "firm"
    scorer = get_scorer()

    store(acme_feed, "I love my Acme phone", "nothing to see here", "Acme is great")

    assert scorer.batches == [["I love my Acme phone", "Acme is great"]]
    stored = Mention.objects.filter(source=acme_feed)
    # Earshot's score is the configured scorer's; plain VADER's stays beside it (issue 13).
    assert {
        (m.earshot_label, m.earshot_compound, m.scorer_name, m.scorer_version) for m in stored
    } == {("negative", -0.9, "firm", "2026.12")}
    assert {(m.label, m.compound) for m in stored} == {("positive", 0.6369), ("positive", 0.6249)}
    assert set(MentionMatch.objects.values_list("label", flat=True)) == {"negative"}


def test_an_unknown_scorer_name_says_which_ones_exist(settings):
    settings.EARSHOT_SENTIMENT_SCORER = "nope"

    with pytest.raises(LookupError, match="'nope' is not a scorer; known: vader"):
        get_scorer()


class BothScorer(FirmScorer):
    """A scorer that gives plain VADER's scores beside its own in one pass."""

    name = "both"

    def __init__(self) -> None:
        super().__init__()
        self.pair_batches: list[list[str]] = []

    def score_many(self, texts):
        raise AssertionError("ingest should ask for both scores in one pass")

    def score_with_plain_many(self, texts):
        self.pair_batches.append(list(texts))
        plain = SentimentScores(neg=0.0, neu=1.0, pos=0.0, compound=0.01, label="neutral")
        ours = SentimentScores(neg=0.0, neu=0.0, pos=1.0, compound=0.8, label="positive")
        return [(plain, ours)] * len(texts)


def test_a_scorer_that_gives_plain_vader_beside_its_own_is_asked_once(
    acme_feed, settings, monkeypatch
):
    monkeypatch.setitem(SCORERS, BothScorer.name, BothScorer)
    settings.EARSHOT_SENTIMENT_SCORER = "both"
    scorer = get_scorer()

    store(acme_feed, "Acme is fine", "nothing here", "Acme again")

    assert scorer.pair_batches == [["Acme is fine", "Acme again"]]
    stored = Mention.objects.filter(source=acme_feed)
    assert {(m.label, m.compound, m.earshot_label, m.earshot_compound) for m in stored} == {
        ("neutral", 0.01, "positive", 0.8)
    }


def test_with_vader_configured_each_text_is_scored_once_and_both_scores_agree(
    acme_feed, monkeypatch, settings
):
    from listening.sentiment.vader import VaderScorer

    settings.EARSHOT_SENTIMENT_SCORER = "vader"
    calls: list[int] = []
    original = VaderScorer.score_many

    def counted(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(VaderScorer, "score_many", counted)

    store(acme_feed, "I love my Acme phone", "Acme is awful")

    assert calls == [2]
    stored = Mention.objects.filter(source=acme_feed)
    assert all(m.earshot_label == m.label and m.earshot_compound == m.compound for m in stored)
    assert {m.label for m in stored} == {"positive", "negative"}
