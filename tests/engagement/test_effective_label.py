"""The effective label (issue 10 point 5): an agent's correction overrides the scorer's label
everywhere a label is shown or counted: mention lists and their counts, author standing and
exports (as an added column beside the scorer's own label, which stays as it was)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from engagement.models import AuthorStanding, CaseMention
from engagement.routing import mentions_route
from engagement.services import sentiment_correct
from listening.models import MentionMatch
from tests.database import migrate, migrate_to_latest
from tests.engagement.conftest import store_mention

pytestmark = pytest.mark.django_db


@pytest.fixture
def angry(acme, social_source):
    """Two routed complaints by one author: a detractor to Acme."""
    mentions = [
        store_mention(social_source, text, author_handle="dan@social.example", author_name="Dan")
        for text in ("Acme is awful and broken", "Acme support is terrible")
    ]
    mentions_route()
    return mentions


def standing_of(brand, mention) -> AuthorStanding:
    return AuthorStanding.objects.get(brand=brand, author=mention.author)


def test_a_correction_moves_the_authors_standing(acme, agent, angry):
    assert standing_of(acme, angry[0]).standing == "detractor"

    sentiment_correct(mention=angry[0], brand=acme, user=agent, label="positive", reason="irony")

    row = standing_of(acme, angry[0])
    assert (row.negative_count, row.positive_count, row.standing) == (1, 1, "neutral")


def test_the_mention_list_shows_filters_and_counts_the_corrected_label(
    client, acme, agent, marketer, angry
):
    sentiment_correct(mention=angry[0], brand=acme, user=agent, label="positive", reason="irony")
    client.force_login(marketer)

    positive = client.get(reverse("dashboard:mentions"), {"brand": acme.pk, "label": "positive"})
    negative = client.get(reverse("dashboard:mentions"), {"brand": acme.pk, "label": "negative"})
    overview = client.get(reverse("dashboard:index")).content.decode()

    assert "Acme is awful and broken" in positive.content.decode()
    assert "(corrected; earshot-care: negative)" in positive.content.decode()
    assert "Acme is awful and broken" not in negative.content.decode()
    assert "Acme support is terrible" in negative.content.decode()
    assert MentionMatch.objects.get(mention=angry[0], brand=acme).label == "positive"
    # Acme's row of the overview: positive 1, neutral 0, negative 1, all 2, 1 correction.
    assert re.search(
        r"<th scope=\"row\">Acme</th>\s*<td>1</td>\s*<td>0</td>\s*<td>1</td>\s*<td>2</td>"
        r"\s*<td>1</td>",
        overview,
    )


def test_exports_keep_the_scorers_label_and_add_the_effective_one(
    client, acme, agent, marketer, angry
):
    sentiment_correct(mention=angry[0], brand=acme, user=agent, label="neutral", reason="a fact")
    client.force_login(marketer)

    web = client.get(reverse("dashboard:mentions-export"), {"brand": acme.pk})
    rows = list(csv.DictReader(io.StringIO(b"".join(web.streaming_content).decode())))
    out = io.StringIO()
    call_command("export_mentions", "--brand", "Acme", "--format", "jsonl", stdout=out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]

    for exported in (rows, records):
        by_id = {int(r["id"]): r for r in exported}
        corrected, untouched = by_id[angry[0].pk], by_id[angry[1].pk]
        assert (corrected["label"], corrected["effective_label"]) == ("negative", "neutral")
        assert (untouched["label"], untouched["effective_label"]) == ("negative", "negative")
        assert float(corrected["compound"]) == angry[0].compound


def test_a_correction_made_before_routing_is_what_standing_counts(acme, agent, social_source):
    first = store_mention(social_source, "Acme is awful", author_handle="eve@social.example")
    second = store_mention(social_source, "Acme is broken", author_handle="eve@social.example")
    sentiment_correct(mention=first, brand=acme, user=agent, label="neutral", reason="quote")

    mentions_route()

    row = standing_of(acme, second)
    # Counted by the scorer's labels it would be (2, 2, "detractor").
    assert (row.mention_count, row.negative_count, row.standing) == (2, 1, "neutral")


@pytest.mark.django_db(transaction=True)
def test_corrections_made_before_the_rule_become_effective_on_migration(acme, agent, angry):
    sentiment_correct(mention=angry[0], brand=acme, user=agent, label="positive", reason="x")
    # As an older Earshot left it: the correction recorded, the match and standing untouched.
    MentionMatch.objects.filter(mention=angry[0], brand=acme).update(label="negative")
    AuthorStanding.objects.filter(brand=acme).update(
        positive_count=0, negative_count=2, standing="detractor"
    )

    try:
        migrate([("engagement", "0007_login_attempt_pair_idx")])
        migrate([("engagement", "0008_effective_labels")])
    finally:
        migrate_to_latest()

    assert MentionMatch.objects.get(mention=angry[0], brand=acme).label == "positive"
    row = standing_of(acme, angry[0])
    assert (row.negative_count, row.positive_count, row.standing) == (1, 1, "neutral")


def test_the_queues_sentiment_filter_reads_the_corrected_label(client, acme, agent, angry):
    case_pk = CaseMention.objects.get(mention=angry[0], brand=acme).case_id
    for mention in angry:
        sentiment_correct(mention=mention, brand=acme, user=agent, label="neutral", reason="facts")
    client.force_login(agent)

    def listed(sentiment: str) -> list[int]:
        response = client.get(reverse("engagement:queue"), {"sentiment": sentiment})
        return [row.pk for row in response.context["rows"]]

    assert case_pk in listed("neutral")
    assert case_pk not in listed("negative")


# Written for these tests: a Spanish complaint plain VADER reads as negative (its "no").
SPANISH = "Acme, mi teléfono no funciona desde ayer y nadie me responde. Pésimo servicio."


def test_an_unscored_mention_counts_in_standing_but_in_no_share(acme, agent, social_source):
    author = {"author_handle": "eva@social.example", "author_name": "Eva"}
    spanish = store_mention(social_source, SPANISH, language="", **author)
    store_mention(social_source, "Acme is awful and broken", **author)
    store_mention(social_source, "Acme support is terrible", **author)
    mentions_route()

    row = standing_of(acme, spanish)
    # Two negatives of two scored mentions: a detractor; the third is counted, not shared.
    assert (row.mention_count, row.unscored_count, row.negative_count) == (3, 1, 2)
    assert row.standing == "detractor"


def test_correcting_an_unscored_mention_records_earshots_original_and_counts_it(
    acme, agent, social_source
):
    author = {"author_handle": "eva@social.example", "author_name": "Eva"}
    spanish = store_mention(social_source, SPANISH, language="", **author)
    store_mention(social_source, "Acme is awful and broken", **author)
    mentions_route()
    assert MentionMatch.objects.get(mention=spanish, brand=acme).label == "unscored"

    correction = sentiment_correct(
        mention=spanish, brand=acme, user=agent, label="negative", reason="a complaint"
    )

    # What the agent corrected is Earshot's (unscored, no compound), not plain VADER's.
    assert (correction.original_label, correction.original_compound) == ("unscored", None)
    assert MentionMatch.objects.get(mention=spanish, brand=acme).label == "negative"
    row = standing_of(acme, spanish)
    assert (row.unscored_count, row.negative_count, row.standing) == (0, 2, "detractor")


def test_the_queues_sentiment_filter_finds_cases_in_languages_earshot_does_not_score(
    client, acme, agent, social_source
):
    from engagement.models import Case

    spanish = store_mention(social_source, SPANISH, language="es", author_handle="eva@x")
    english = store_mention(social_source, "Acme support is terrible", author_handle="bob@x")
    cases = {}
    for name, mention in (("spanish", spanish), ("english", english)):
        cases[name] = Case.objects.create(
            brand=acme, author=mention.author, subject=mention.text[:140], priority=10.0
        )
        CaseMention.objects.create(case=cases[name], mention=mention, brand=acme)
    client.force_login(agent)

    def listed(sentiment: str) -> set[int]:
        response = client.get(reverse("engagement:queue"), {"sentiment": sentiment})
        return {row.pk for row in response.context["rows"]}

    assert listed("unscored") == {cases["spanish"].pk}
    assert cases["spanish"].pk not in listed("negative") | listed("neutral") | listed("positive")
    page = client.get(reverse("engagement:queue")).content.decode()
    assert '<option value="unscored">Not scored (language)</option>' in page
    # Once an agent labels the post, the case is found by that label.
    sentiment_correct(mention=spanish, brand=acme, user=agent, label="negative", reason="read")
    assert cases["spanish"].pk in listed("negative")
    assert cases["spanish"].pk not in listed("unscored")


def test_the_case_page_shows_the_brands_match_label_where_no_correction_was_made(
    client, acme, agent, angry
):
    # The brand's own label of a mention (as a brand's learned model writes it) differs
    # from Earshot's shared one: the case page offers and explains the brand's.
    MentionMatch.objects.filter(mention=angry[0], brand=acme).update(label="positive")
    case_pk = CaseMention.objects.get(mention=angry[0], brand=acme).case_id
    client.force_login(agent)

    page = client.get(reverse("engagement:case", args=[case_pk])).content.decode()

    assert "Why is it labelled positive?" in page
    assert "Why is it labelled negative?" in page  # the second complaint keeps Earshot's
