"""The sentiment seam: ingest scores through the configured scorer and records which one."""

from __future__ import annotations

from importlib import metadata

import pytest

from listening.connectors.base import RawItem
from listening.models import Mention
from listening.sentiment import SCORERS, SentimentScores, get_scorer
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


def test_each_mention_records_the_scorer_and_version_that_labelled_it(acme_feed):
    store(acme_feed, "I love my Acme phone")

    mention = Mention.objects.get(source=acme_feed)
    assert (mention.scorer_name, mention.scorer_version) == (
        "vader",
        metadata.version("vaderSentiment"),
    )
    assert mention.label == "positive"


def test_another_scorer_plugs_in_by_name_and_scores_only_matching_texts_in_one_batch(
    acme_feed, settings, monkeypatch
):
    monkeypatch.setitem(SCORERS, FirmScorer.name, FirmScorer)
    settings.EARSHOT_SENTIMENT_SCORER = "firm"
    scorer = get_scorer()

    store(acme_feed, "I love my Acme phone", "nothing to see here", "Acme is great")

    assert scorer.batches == [["I love my Acme phone", "Acme is great"]]
    stored = Mention.objects.filter(source=acme_feed)
    assert {(m.label, m.compound, m.scorer_name, m.scorer_version) for m in stored} == {
        ("negative", -0.9, "firm", "2026.12")
    }


def test_an_unknown_scorer_name_says_which_ones_exist(settings):
    settings.EARSHOT_SENTIMENT_SCORER = "nope"

    with pytest.raises(LookupError, match="'nope' is not a scorer; known: vader"):
        get_scorer()
