"""What ingest stores as a mention's sentiment and language (listening/scoring.py, issue 13):
plain VADER's scores, Earshot's own (or "unscored"), and the language (the source's, else
detected). Through the real ingest path: matching, scoring, the COPY insert, the rollups."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from listening.connectors.base import RawItem
from listening.models import Mention, MentionMatch
from listening.rollups import mention_sums
from listening.scoring import is_language_scored, primary_language, scored_languages
from listening.sentiment import score_text
from listening.sentiment.care import CareScorer
from listening.services import BrandMatcher, brand_create, items_store, source_create

pytestmark = pytest.mark.django_db

# Written for these tests.
SPANISH = "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo servicio."
GERMAN = "Acme ist super, ich liebe dieses Handy wirklich sehr"
ENGLISH = "Acme is awful and broken, never again"
NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def acme_feed():
    brand = brand_create(name="Acme", query="acme")
    return source_create(brand=brand, kind="webhook")


def store(source, *items: tuple[str, str]) -> dict[str, Mention]:
    """Store (text, source language) pairs; the stored mentions by text."""
    raw = [
        RawItem(
            external_id=f"s{n}",
            body=text,
            language=lang,
            published_at=NOON,
            author_handle=f"author{n}",
            author_followers=10 * (n + 1),
        )
        for n, (text, lang) in enumerate(items)
    ]
    items_store(source=source, items=raw, matcher=BrandMatcher.for_brands([source.brand]))
    return {m.text: m for m in Mention.objects.filter(source=source)}


def test_ingest_stores_plain_vaders_scores_beside_earshots(acme_feed):
    stored = store(acme_feed, (ENGLISH, ""))

    mention = stored[ENGLISH]
    vader = score_text(ENGLISH)
    assert (mention.neg, mention.neu, mention.pos, mention.compound, mention.label) == (
        vader.neg,
        vader.neu,
        vader.pos,
        vader.compound,
        "negative",
    )
    # The default scorer is the care scorer: Earshot's score is its own, beside VADER's.
    care = CareScorer().score_many([ENGLISH])[0]
    assert care.compound < vader.compound
    assert (mention.earshot_compound, mention.earshot_label) == (care.compound, "negative")
    assert mention.language == "en"
    assert MentionMatch.objects.get(mention=mention).label == "negative"


def test_spanish_with_no_source_language_is_detected_and_left_unscored(acme_feed):
    stored = store(acme_feed, (SPANISH, ""))

    mention = stored[SPANISH]
    assert mention.language == "es"
    assert (mention.earshot_label, mention.earshot_compound) == ("unscored", None)
    assert (mention.our_label, mention.our_compound, mention.is_scored) == ("unscored", None, False)
    assert mention.our_label_text == "not scored (language)"
    # Plain VADER still scores it (export contract): its "no" reads as negative.
    assert (mention.compound, mention.label) == (score_text(SPANISH).compound, "negative")
    assert MentionMatch.objects.get(mention=mention).label == "unscored"


def test_a_language_the_source_gives_wins_over_detection(acme_feed):
    stored = store(acme_feed, (SPANISH, "en"), (ENGLISH, "de"), (GERMAN, "en-GB"))

    # Given as English: scored, whatever the words look like.
    assert (stored[SPANISH].language, stored[SPANISH].earshot_label) == ("en", "negative")
    # Given as German: unscored, although the words are English.
    assert (stored[ENGLISH].language, stored[ENGLISH].earshot_label) == ("de", "unscored")
    # en-GB is English.
    assert (stored[GERMAN].language, stored[GERMAN].earshot_label) == ("en-GB", "positive")


def test_a_text_too_short_to_tell_counts_as_scored(acme_feed):
    stored = store(acme_feed, ("Acme ok", ""))

    assert stored["Acme ok"].language == ""
    # Scored, not "unscored": "ok" is below the care scorer's positive threshold.
    assert stored["Acme ok"].earshot_label == "neutral"
    assert stored["Acme ok"].earshot_compound == CareScorer().score_many(["Acme ok"])[0].compound


def test_the_scored_languages_come_from_the_setting(acme_feed, settings):
    settings.EARSHOT_SCORED_LANGUAGES = ["en", "es"]

    stored = store(acme_feed, (SPANISH, ""), (GERMAN, ""))

    assert stored[SPANISH].earshot_label == "negative"
    assert (stored[GERMAN].language, stored[GERMAN].earshot_label) == ("de", "unscored")


def test_unscored_mentions_count_in_volume_and_reach_under_their_own_label(acme_feed):
    store(acme_feed, (SPANISH, ""), (ENGLISH, ""), ("I love Acme, thank you for the phone", ""))

    sums = mention_sums(
        brand_ids=[acme_feed.brand_id],
        ranges=[(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))],
        by=("label", "language"),
    )
    # (mentions, reach): the Spanish author has 10 followers, the others 20 and 30.
    assert {key[1:]: tuple(value[:2]) for key, value in sums.items()} == {
        ("unscored", "es"): (1, 10),
        ("negative", "en"): (1, 20),
        ("positive", "en"): (1, 30),
    }


def test_export_mentions_keeps_vaders_columns_and_adds_earshots(acme_feed):
    store(acme_feed, (SPANISH, ""), (ENGLISH, ""))
    out = io.StringIO()

    call_command("export_mentions", "--brand", "Acme", "--format", "csv", stdout=out)

    rows = {row["text"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    spanish, english = rows[SPANISH], rows[ENGLISH]
    assert (spanish["compound"], spanish["label"]) == (
        str(score_text(SPANISH).compound),
        "negative",
    )
    assert (spanish["effective_label"], spanish["earshot_label"]) == ("unscored", "unscored")
    assert spanish["earshot_compound"] == ""
    assert spanish["language"] == "es"
    assert (english["label"], english["compound"]) == (
        "negative",
        str(score_text(ENGLISH).compound),
    )
    assert (english["earshot_label"], english["earshot_compound"]) == (
        "negative",
        str(CareScorer().score_many([ENGLISH])[0].compound),
    )
    header = out.getvalue().splitlines()[0].split(",")
    assert header[-4:] == ["effective_label", "matched_terms", "earshot_compound", "earshot_label"]


def test_a_row_stored_before_earshot_had_its_own_score_reads_as_plain_vader(acme_feed):
    stored = store(acme_feed, (ENGLISH, ""))
    # As migration listening 0013 leaves every older row: no Earshot columns filled.
    Mention.objects.filter(pk=stored[ENGLISH].pk).update(earshot_label="", earshot_compound=None)
    mention = Mention.objects.get(pk=stored[ENGLISH].pk)

    assert (mention.our_label, mention.our_compound) == ("negative", mention.compound)
    out = io.StringIO()
    call_command("export_mentions", "--brand", "Acme", "--format", "jsonl", stdout=out)
    assert '"earshot_label": "negative"' in out.getvalue()
    assert f'"earshot_compound": {mention.compound}' in out.getvalue()


@pytest.mark.parametrize(
    ("language", "scored"),
    [("en", True), ("EN-gb", True), ("en_US", True), ("", True), ("es", False), ("de-AT", False)],
)
def test_which_languages_the_scorer_handles(language, scored):
    assert is_language_scored(language, scored_languages(["en"])) is scored


def test_a_language_code_is_read_by_its_primary_subtag():
    assert primary_language(" pt_BR ") == "pt"
    assert scored_languages(["en-GB", "", "ES"]) == frozenset({"en", "es"})
