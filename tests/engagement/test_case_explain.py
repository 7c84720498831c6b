"""The case page's "why?": why a mention is labelled as it is for the case's brand (issue 13).

Mentions are stored through the real listening pipeline (store_mention) with Earshot's care
scorer configured, corrected through the real correction endpoint, and explained through the
Django test client on real PostgreSQL; assertions read the HTML an agent sees.
"""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from listening.models import Mention, MentionMatch
from listening.sentiment.care import CARE_NAME, CARE_VERSION, CareScorer
from listening.sentiment_explain import CARE_EXPLAIN_BUDGET
from tests.engagement.test_views_case import HX, make_case, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def care_scorer(settings):
    settings.EARSHOT_SENTIMENT_SCORER = CARE_NAME


def url(name, *args) -> str:
    return reverse(f"engagement:{name}", args=args)


def explain(client, user, case, mention) -> str:
    response = signed_in(client, user).get(
        url("mention-explain", mention.pk), {"case": case.pk}, **HX
    )
    assert response.status_code == 200
    return response.content.decode()


def one_mention(brand, source, text, **fields):
    case = make_case(brand, source, [(text, fields)] if fields else [text])
    return case, case.case_mentions.get().mention


_ROW_RE = re.compile(
    r'<tr>\s*<td>(?P<what>.*?)</td>\s*<td class="num delta delta-(?P<direction>\w+)">'
    r'(?P<delta>[^<]*)</td>\s*<td class="num">(?P<compound>[^<]*)</td>',
    re.S,
)


def care_table(body: str) -> tuple[float, list[dict], float]:
    """(plain VADER's compound, the step rows, Earshot's compound) of the care steps table."""
    table = body[body.index('<table class="why care-steps">') :]
    table = table[: table.index("</table>")]
    start = re.search(r'<tr class="start">.*?<td class="num">([^<]*)</td>', table, re.S)
    end = re.search(r"<tfoot>.*?<td class=\"num\">([^<]*)</td>", table, re.S)
    rows = [m.groupdict() for m in _ROW_RE.finditer(table)]
    return float(start.group(1)), rows, float(end.group(1))


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def test_it_names_earshots_scorer_and_walks_from_plain_vader_to_earshots_compound(
    client, acme, social_source, agent, care_scorer
):
    case, mention = one_mention(acme, social_source, "@acme Please help, still no refund #fail")
    assert mention.scorer_name == CARE_NAME and mention.earshot_label == "negative"

    body = explain(client, agent, case, mention)

    words = text_of(body)
    assert f"Labelled negative for Acme by Earshot's scorer, {CARE_NAME} {CARE_VERSION}." in words
    # Plain VADER's words, as before.
    assert "Plain VADER, word by word" in words
    assert "<td>refund</td>" not in body  # not in VADER's lexicon: no row of its own
    plain, rows, final = care_table(body)
    assert plain == pytest.approx(mention.compound)
    assert final == pytest.approx(mention.earshot_compound)
    whats = [text_of(row["what"]) for row in rows]
    assert "'please': not sentiment in customer care" in whats
    assert "still not sorted (still_problem)" in whats
    assert sum(float(row["delta"]) for row in rows) == pytest.approx(final - plain, abs=1e-3)
    # Each delta's colour class says which way it moved; the running compound adds up.
    running = plain
    for row in rows:
        delta = float(row["delta"])
        assert row["direction"] == ("up" if delta > 0 else "down" if delta < 0 else "none")
        running += delta
        assert float(row["compound"]) == pytest.approx(running, abs=1e-3)
    assert "style=" not in body
    assert "Earshot's label: negative (positive at +0.4500 or more, negative at -0.0500" in words
    assert "The stored score" not in words  # stored by today's scorer: nothing to warn about


def test_a_correction_says_who_when_and_why_all_escaped(
    client, acme, social_source, agent, care_scorer
):
    case, mention = one_mention(
        acme, social_source, "acme &lt;script&gt;alert(1)&lt;/script&gt; still no refund &lt;3"
    )
    assert "<script>" in mention.text  # the entities were read as characters at ingest
    reason = "<script>alert('reason')</script> sarcasm"
    signed_in(client, agent).post(
        url("mention-correct", mention.pk),
        {"case": case.pk, "label": "positive", "reason": reason},
    )

    body = explain(client, agent, case, mention)

    assert "<script>" not in body
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt; sarcasm" in body
    assert "<td>&lt;3</td>" in body  # the text's own word, in VADER's table, escaped
    words = text_of(body)
    assert "Labelled positive for Acme by an agent's correction: ana," in words
    assert f"Earshot's own label: negative ({CARE_NAME} {CARE_VERSION})" in words
    assert "before the correction the brand saw negative" in words
    # The scores are still explained: the agent sees what the scorer got wrong.
    assert '<table class="why care-steps">' in body


def test_an_unscored_mention_says_so_and_shows_no_scores(
    client, acme, social_source, agent, care_scorer
):
    case, mention = one_mention(
        acme, social_source, "acme, mi pedido no ha llegado y nadie responde", language="es"
    )
    assert mention.our_label == "unscored"

    body = explain(client, agent, case, mention)

    assert "not scored (language: es)" in text_of(body)
    assert "care-steps" not in body
    assert "Plain VADER" not in body
    assert "Compound" not in body


def test_a_score_stored_by_another_version_is_told_apart_from_todays_explanation(
    client, acme, social_source, agent, care_scorer
):
    case, mention = one_mention(acme, social_source, "acme order delayed again, still no refund")
    Mention.objects.filter(pk=mention.pk).update(scorer_version="0.9", earshot_compound=-0.25)

    body = explain(client, agent, case, mention)

    words = text_of(body)
    assert (
        "The stored score (-0.2500) was given by earshot-care 0.9; this explanation is today's,"
        f" by {CARE_NAME} {CARE_VERSION}." in words
    )
    _, _, final = care_table(body)
    assert final == pytest.approx(CareScorer().score_many([mention.text])[0].compound)


def test_a_mention_scored_by_plain_vader_says_so(client, acme, social_source, agent, settings):
    settings.EARSHOT_SENTIMENT_SCORER = "vader"
    case, mention = one_mention(acme, social_source, "acme is not good and VERY terrible")

    body = explain(client, agent, case, mention)

    words = text_of(body)
    assert "Labelled negative for Acme by plain VADER (vader 3.3.2)" in words
    assert "<td>terrible</td>" in body
    # VADER is the configured scorer: no care steps to show.
    assert "care-steps" not in body


def test_vader_era_mentions_get_todays_care_steps_marked_as_such(
    client, acme, social_source, agent, settings
):
    settings.EARSHOT_SENTIMENT_SCORER = "vader"
    case, mention = one_mention(acme, social_source, "acme order delayed again")
    settings.EARSHOT_SENTIMENT_SCORER = CARE_NAME

    body = explain(client, agent, case, mention)

    words = text_of(body)
    assert "by plain VADER (vader 3.3.2)" in words
    assert "was given by vader 3.3.2; this explanation is today's" in words
    assert "'delayed': care word" in words


def test_a_label_from_the_brands_own_model_is_named(
    client, acme, social_source, agent, care_scorer
):
    case, mention = one_mention(acme, social_source, "acme order delayed again")
    MentionMatch.objects.filter(mention=mention, brand=acme).update(label="positive")

    body = explain(client, agent, case, mention)

    words = text_of(body)
    assert "Labelled positive for Acme by a scorer of this brand's own" in words
    assert f"Earshot's own label: negative ({CARE_NAME} {CARE_VERSION})" in words
    assert "a model since rolled back" in words  # the brand has no active model now


def test_the_brands_active_model_is_named_with_its_version_and_figures(
    client, acme, social_source, agent, care_scorer
):
    from django.utils import timezone

    from listening.models import SentimentModel

    case, mention = one_mention(acme, social_source, "acme order delayed again")
    MentionMatch.objects.filter(mention=mention, brand=acme).update(label="positive")
    SentimentModel.objects.create(
        brand=acme, version=3, status=SentimentModel.Status.ACTIVE,
        activated_at=timezone.now(), model_macro_f1=0.8123, care_macro_f1=0.7011,
    )  # fmt: skip

    words = text_of(explain(client, agent, case, mention))

    assert "model version 3, this brand's scorer since" in words
    assert "macro-F1 0.812 on the brand's held-back corrections, against 0.701" in words


def test_a_100_kb_mention_is_explained_with_its_steps_grouped(
    client, acme, social_source, agent, care_scorer
):
    # Hashtags, care words, emoji and patterns in every sentence: one step each would score
    # the whole text thousands of times (quadratic); grouped, a handful of times.
    case, mention = one_mention(acme, social_source, "acme delayed")
    sentence = "Still waiting 3 hours for a refund 😡 delayed again #neverflyingagain @acme "
    big = (sentence * (100_000 // len(sentence) + 1))[:100_000]
    assert big.count("#") * len(big) > CARE_EXPLAIN_BUDGET  # one step per hashtag: too many
    Mention.objects.filter(pk=mention.pk).update(text=big)

    body = explain(client, agent, case, mention)

    assert "its steps are grouped by kind" in body
    plain, rows, final = care_table(body)
    assert final == pytest.approx(CareScorer().score_many([big])[0].compound)
    assert 1 <= len(rows) <= 3
    assert sum(float(row["delta"]) for row in rows) == pytest.approx(final - plain, abs=1e-3)


def test_the_why_link_asks_about_the_effective_label(client, acme, social_source, agent):
    case, mention = one_mention(acme, social_source, "acme is terrible")

    page = signed_in(client, agent).get(url("case", case.pk)).content.decode()

    assert "Why is it labelled negative?" in page


def test_explaining_takes_a_fixed_number_of_queries(
    client, acme, social_source, agent, care_scorer, django_assert_max_num_queries
):
    case, mention = one_mention(acme, social_source, "acme order delayed again")
    signed_in(client, agent)
    with django_assert_max_num_queries(8):
        client.get(url("mention-explain", mention.pk), {"case": case.pk}, **HX)
