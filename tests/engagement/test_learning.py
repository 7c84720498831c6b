"""Per-brand sentiment models learned from corrections (engagement.learning, issue 13 §3):
which brands are due, the held-back split, the switch rule, training, rescoring in batches
(corrections win, rollups and standing follow), rollback, and ingest with a brand's model.
Services are called directly here; tests/engagement/test_learning_worker.py runs the same
path through a real Celery worker."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from engagement.learning import (
    CARE_LANGUAGES,
    Example,
    LearningError,
    held_back_split,
    sentiment_model_activate,
    sentiment_model_roll_back,
    sentiment_model_start,
    sentiment_model_train,
    sentiment_models_due,
    sentiment_rescore_batch,
    switch_verdict,
    training_examples,
)
from engagement.models import AuthorStanding, Case, CaseMention, SentimentCorrection
from engagement.routing import mentions_route
from engagement.services import sentiment_correct
from engagement.standing import standings_recount
from listening.brand_scoring import believed_active_forget
from listening.connectors.base import RawItem
from listening.models import Mention, MentionMatch, SentimentModel, SentimentRescore
from listening.services import BrandMatcher, items_store, source_brands
from tests.engagement.conftest import (
    acme,
    admin_user,
    agent,
    make_user,
    other_brand,
    outsider,
    social_source,
)
from tests.engagement.learning_data import labelled_texts, plain_texts
from tests.listening.test_rollups import direct_rows, stored_rows

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)
AUTHORS = ("ann", "bob", "cid", "dee", "eve")


def store(source, pairs, *, language="en"):
    """Store (text, label) pairs through ingest, a few authors over three days; return the
    mentions by text."""
    now = timezone.now()
    items = [
        RawItem(
            external_id=f"l{next(_ids)}",
            body=text,
            author_handle=AUTHORS[n % len(AUTHORS)],
            author_name=AUTHORS[n % len(AUTHORS)].title(),
            author_followers=10 * n,
            published_at=now - timedelta(hours=n * 3),
            language=language,
        )
        for n, (text, _) in enumerate(pairs)
    ]
    matcher = BrandMatcher.for_brands(source_brands(source))
    items_store(source=source, items=items, matcher=matcher, platform="mastodon")
    by_text = {m.text: m for m in Mention.objects.filter(text__in=[t for t, _ in pairs])}
    return [by_text[text] for text, _ in pairs]


def correct_where_wrong(brand, user, mentions, pairs) -> int:
    """What agents do: correct each label that is wrong; return how many were."""
    labels = dict(
        MentionMatch.objects.filter(brand=brand, mention__in=mentions).values_list(
            "mention_id", "label"
        )
    )
    n = 0
    for mention, (_, truth) in zip(mentions, pairs, strict=True):
        if labels[mention.pk] != truth:
            sentiment_correct(mention=mention, brand=brand, user=user, label=truth, reason="x")
            n += 1
    return n


def labels_of(brand) -> dict[int, str]:
    return dict(MentionMatch.objects.filter(brand=brand).values_list("mention_id", "label"))


def standings() -> set[tuple]:
    return set(
        AuthorStanding.objects.values_list(
            "brand_id", "author_id", "standing", "positive_count", "negative_count", "mention_count"
        )
    )


def recounted_standings() -> set[tuple]:
    """The standings counted from scratch from the stored rows."""
    pairs = set(AuthorStanding.objects.values_list("brand_id", "author_id"))
    AuthorStanding.objects.all().delete()
    standings_recount(pairs)
    return standings()


def rescore_all(rescore_id: int, *, size: int) -> int:
    """Run a rescoring's batches to the end; return how many ran with work."""
    runs = 0
    while sentiment_rescore_batch(rescore_id=rescore_id, size=size):
        runs += 1
    return runs


@pytest.fixture
def learn_settings(settings):
    settings.EARSHOT_LEARN_MIN_CORRECTIONS = 30
    settings.EARSHOT_LEARN_EVERY = 10
    return settings


@pytest.fixture
def corrected(acme, social_source, agent, learn_settings):
    """Acme heard 45 times in its customers' own words, every label corrected by an agent,
    and 15 more mentions no one corrected; all routed (so standing counts them)."""
    believed_active_forget()
    training = labelled_texts(45)
    fresh = labelled_texts(15, start=45, seed=7)
    mentions = store(social_source, training)
    others = store(social_source, fresh)
    mentions_route()
    assert correct_where_wrong(acme, agent, mentions, training) == 45
    return {"brand": acme, "mentions": mentions, "others": others, "fresh": fresh}


# --- the held-back split and the switch rule --------------------------------------------------


def example(n: int, label: str, language: str = CARE_LANGUAGES, corrected: bool = True):
    return Example(n, f"text {n}", language, label, corrected)


def test_the_held_back_part_is_a_fifth_of_each_label_and_language_and_always_the_same():
    examples = [example(n, ("negative", "neutral", "positive")[n % 3]) for n in range(60)]
    examples += [example(100 + n, "negative", "es") for n in range(10)]
    examples += [example(200, "positive", "es")]  # a group of one is never held back

    train, held = held_back_split(examples)
    again_train, again_held = held_back_split(list(reversed(examples)))

    assert {e.mention_id for e in held} == {e.mention_id for e in again_held}
    assert {e.mention_id for e in train} | {e.mention_id for e in held} == set(range(60)) | {
        *range(100, 110),
        200,
    }
    assert not {e.mention_id for e in train} & {e.mention_id for e in held}
    by_group = {}
    for e in held:
        by_group[(e.language, e.label)] = by_group.get((e.language, e.label), 0) + 1
    assert by_group == {
        ("", "negative"): 4,
        ("", "neutral"): 4,
        ("", "positive"): 4,
        ("es", "negative"): 2,
    }
    assert held_back_split(examples, seed=99)[1] != held


def figures(macro_f1: float, size: int = 40) -> dict:
    return {"macro_f1": macro_f1, "size": size, "accuracy": macro_f1, "f1": {}}


def test_the_brand_switches_only_to_a_model_that_beats_the_care_scorer():
    scored = frozenset({"en"})

    better = switch_verdict(figures(0.81), figures(0.64), {}, scored=scored)
    tie = switch_verdict(figures(0.64), figures(0.64), {}, scored=scored)
    worse = switch_verdict(figures(0.5), figures(0.64), {}, scored=scored)
    nothing = switch_verdict(figures(0.0, size=0), figures(0.0, size=0), {}, scored=scored)

    assert (better.switch, tie.switch, worse.switch, nothing.switch) == (True, False, False, False)
    assert "0.810 beats the care scorer's 0.640 on 40" in better.reason
    assert "does not beat" in tie.reason
    assert "nothing to compare" in nothing.reason


def test_a_further_language_is_labelled_only_if_as_good_as_the_care_scorer_is_on_its_own():
    verdict = switch_verdict(
        figures(0.8),
        figures(0.6),
        {"es": figures(0.7, size=20), "de": figures(0.55, size=20), "fr": figures(0.9, size=0)},
        scored=frozenset({"en"}),
    )

    assert verdict.languages == ["en", "es"]


# --- which brands are due ------------------------------------------------------------------------


def test_a_brand_is_due_at_the_minimum_and_again_after_enough_new_corrections(
    acme, social_source, agent, learn_settings
):
    pairs = labelled_texts(30)
    mentions = store(social_source, pairs)
    correct_where_wrong(acme, agent, mentions[:29], pairs[:29])
    assert sentiment_models_due() == []

    correct_where_wrong(acme, agent, mentions[29:], pairs[29:])
    assert sentiment_models_due() == [acme.pk]

    model = sentiment_model_start(brand_id=acme.pk)
    assert (model.version, model.status) == (1, "training")
    # One training per brand at a time.
    assert sentiment_models_due() == []
    assert sentiment_model_start(brand_id=acme.pk) is None

    SentimentModel.objects.filter(pk=model.pk).update(status="rejected")
    more = labelled_texts(10, start=100)
    later = store(social_source, more)
    correct_where_wrong(acme, agent, later[:9], more[:9])
    assert sentiment_models_due() == []
    correct_where_wrong(acme, agent, later[9:], more[9:])
    assert sentiment_models_due() == [acme.pk]


def test_a_training_left_by_a_killed_worker_is_marked_failed(acme, social_source, learn_settings):
    model = SentimentModel.objects.create(brand=acme, version=1, status="training")
    SentimentModel.objects.filter(pk=model.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    SentimentCorrection.objects.bulk_create(
        SentimentCorrection(
            mention=m, brand=acme, user=make_user("fay", acme, "agent"), label="negative"
        )
        for m in store(social_source, labelled_texts(30))[:1]
    )
    learn_settings.EARSHOT_LEARN_MIN_CORRECTIONS = 1

    assert sentiment_models_due() == [acme.pk]
    model.refresh_from_db()
    assert model.status == "failed" and "did not finish" in model.status_reason


# --- training, switching, rescoring, rolling back ---------------------------------------------


def test_a_model_that_beats_the_care_scorer_becomes_the_brands_scorer_and_relabels_in_batches(
    corrected,
):
    brand, others, fresh = corrected["brand"], corrected["others"], corrected["fresh"]
    before = labels_of(brand)
    standings_before = standings()

    model = sentiment_model_start(brand_id=brand.pk)
    model = sentiment_model_train(model_id=model.pk)

    assert model.status == "active", model.status_reason
    assert model.training_size + model.held_back_size == 45
    assert model.held_back_size == 9  # a fifth of each label's 15
    assert model.model_macro_f1 > model.care_macro_f1
    assert model.figures["care"]["size"] == 9
    assert model.figures["held_back"] == {"corrected": 9, "confirmed": 0}
    assert model.label_counts == {"negative": 12, "neutral": 12, "positive": 12}
    assert model.languages == ["en"]
    rescore = SentimentRescore.objects.get(brand=brand)
    assert (rescore.model_id, rescore.total, rescore.status) == (model.pk, 60, "running")

    assert rescore_all(rescore.pk, size=16) == 4
    rescore.refresh_from_db()
    assert (rescore.status, rescore.done, rescore.batches) == ("done", 60, 4)
    after = labels_of(brand)
    # The uncorrected mentions now carry the model's labels: their true ones here.
    assert [after[m.pk] for m in others] == [label for _, label in fresh]
    assert rescore.changed == sum(before[m.pk] != after[m.pk] for m in others) > 0
    # Corrected mentions keep their corrections; the mention keeps the default scorer's.
    for mention in corrected["mentions"]:
        assert after[mention.pk] == before[mention.pk]
    assert set(
        Mention.objects.filter(pk__in=[m.pk for m in others]).values_list(
            "earshot_label", flat=True
        )
    ) <= {"", "neutral", "positive"}
    assert stored_rows() == direct_rows()
    assert standings() != standings_before
    assert standings() == recounted_standings()


def test_rolling_back_restores_the_earlier_labels_rollups_and_standing(corrected, agent):
    brand = corrected["brand"]
    before, rollups_before, standings_before = labels_of(brand), stored_rows(), standings()
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    rescore_all(SentimentRescore.objects.get(model=model).pk, size=25)
    assert labels_of(brand) != before

    back = sentiment_model_roll_back(brand_id=brand.pk, user=agent)
    assert (back.model_id, back.reason) == (None, "roll back v1 to default")
    model.refresh_from_db()
    assert model.status == "retired"
    rescore_all(back.pk, size=25)

    assert labels_of(brand) == before
    assert stored_rows() == rollups_before == direct_rows()
    assert standings() == standings_before
    with pytest.raises(LearningError, match="already uses the default"):
        sentiment_model_roll_back(brand_id=brand.pk, user=agent)


def test_rolling_back_a_second_model_goes_back_to_the_first(corrected, agent):
    brand = corrected["brand"]
    first = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    second = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    first.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    # The first switch's rescoring was superseded by the second's.
    assert set(SentimentRescore.objects.values_list("status", flat=True)) == {
        "superseded",
        "running",
    }

    back = sentiment_model_roll_back(brand_id=brand.pk, user=agent)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (back.model_id, first.status, second.status) == (first.pk, "active", "retired")
    assert back.reason == "roll back v2 to v1"


def test_a_correction_made_during_the_rescoring_wins(corrected, agent):
    brand, others, fresh = corrected["brand"], corrected["others"], corrected["fresh"]
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    rescore = SentimentRescore.objects.get(model=model)
    # An agent disagrees with the model-to-be on one uncorrected mention, before its batch.
    target, truth = others[0], fresh[0][1]
    contrary = "positive" if truth != "positive" else "negative"
    if labels_of(brand)[target.pk] == contrary:
        contrary = "neutral"
    sentiment_correct(mention=target, brand=brand, user=agent, label=contrary, reason="no")

    rescore_all(rescore.pk, size=10)

    assert labels_of(brand)[target.pk] == contrary
    assert stored_rows() == direct_rows()


def test_a_model_that_does_not_beat_the_care_scorer_is_rejected_and_changes_nothing(
    acme, social_source, agent, learn_settings
):
    # Corrections that agree with the care scorer (made while another scorer labelled the
    # brand): the care scorer is right on every held-back one, a model cannot do better.
    pairs = plain_texts(36)
    mentions = store(social_source, pairs)
    user = make_user("fay", acme, "agent")
    SentimentCorrection.objects.bulk_create(
        SentimentCorrection(mention=m, brand=acme, user=user, original_label="x", label=label)
        for m, (_, label) in zip(mentions, pairs, strict=True)
    )
    before = labels_of(acme)

    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=acme.pk).pk)

    assert model.status == "rejected"
    assert model.care_macro_f1 == 1.0
    assert "does not beat the care scorer's 1.000" in model.status_reason
    assert model.figures["model"]["size"] == model.held_back_size
    assert not SentimentRescore.objects.exists()
    assert labels_of(acme) == before
    with pytest.raises(LearningError, match="rejected"):
        sentiment_model_activate(model=model, user=agent)


def test_too_few_corrections_in_languages_it_can_learn_is_a_rejection_with_the_reason(
    acme, social_source, agent, learn_settings
):
    pairs = labelled_texts(30)
    spanish = store(social_source, pairs, language="es")
    correct_where_wrong(acme, agent, spanish, pairs)
    assert sentiment_models_due() == [acme.pk]
    learn_settings.EARSHOT_LEARN_MIN_CORRECTIONS = 31  # es has 30: not enough to learn it

    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=acme.pk).pk)

    assert model.status == "rejected"
    assert model.status_reason.startswith("Only 0 corrected mentions in languages it could")


def test_confirmed_labels_join_the_corrections_up_to_their_number(corrected, agent):
    brand, others = corrected["brand"], corrected["others"]
    # An agent answered and resolved a live case holding four uncorrected mentions.
    case = Case.objects.create(brand=brand, status="resolved", first_response_at=timezone.now())
    CaseMention.objects.filter(brand=brand, mention__in=others[:4]).delete()
    CaseMention.objects.bulk_create(
        CaseMention(case=case, mention=m, brand=brand) for m in others[:4]
    )
    # Neither a brand's own reply nor a mention of a case no one answered counts.
    unanswered = Case.objects.create(brand=brand, status="resolved")
    CaseMention.objects.filter(brand=brand, mention__in=others[4:6]).delete()
    CaseMention.objects.bulk_create(
        [
            CaseMention(case=case, mention=others[4], brand=brand, is_brand_reply=True),
            CaseMention(case=unanswered, mention=others[5], brand=brand),
        ]
    )

    examples = training_examples(brand_id=brand.pk)

    confirmed = [e for e in examples if not e.is_correction]
    assert len(examples) == 49
    labels = labels_of(brand)
    assert {(e.mention_id, e.label) for e in confirmed} == {
        (m.pk, labels[m.pk]) for m in others[:4]
    }


# --- ingest with a brand's model ------------------------------------------------------------


def test_ingest_labels_a_brands_new_mentions_with_its_model_and_no_other_brands(
    corrected, social_source
):
    brand = corrected["brand"]
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    rescore_all(SentimentRescore.objects.get(model=model).pk, size=100)
    rollups_before = stored_rows()
    # This process has not seen the switch: the check after the insert catches it.
    believed_active_forget()

    new = store(
        social_source,
        [
            ("Acme router got zorbed on friday, and Globex too, ref 900", "negative"),
            ("Acme card was glimmy on friday, ref 901", "positive"),
        ],
    )
    # Now it knows: predicted before the transaction.
    newer = store(social_source, [("Acme app got zorbed on sunday, ref 902", "negative")])

    labels = labels_of(brand)
    assert [labels[m.pk] for m in [*new, *newer]] == ["negative", "positive", "negative"]
    globex = MentionMatch.objects.get(mention=new[0], brand__name="Globex")
    assert globex.label == (new[0].earshot_label or new[0].label) == "neutral"
    assert stored_rows() == direct_rows() != rollups_before


def test_a_model_that_cannot_be_loaded_leaves_the_default_labels_and_is_retrained(
    corrected, social_source
):
    brand = corrected["brand"]
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    SentimentModel.objects.filter(pk=model.pk).update(data=b"not a model")
    broken = SentimentModel.objects.create(
        brand=brand, version=9, status="retired", data=b"not a model either"
    )
    sentiment_model_activate(model=broken, user=None)
    believed_active_forget()

    new = store(social_source, [("Acme card was glimmy on friday, ref 950", "positive")])

    assert labels_of(brand)[new[0].pk] == (new[0].earshot_label or new[0].label) == "neutral"
    broken.refresh_from_db()
    assert broken.status == "active" and broken.load_error
    assert sentiment_models_due() == [brand.pk]
    assert stored_rows() == direct_rows()


# --- admin ---------------------------------------------------------------------------------------


def test_the_admin_lists_models_with_figures_and_switches_back_and_forth(corrected, client):
    brand = corrected["brand"]
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    superuser = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(superuser)
    changelist = reverse("admin:listening_sentimentmodel_changelist")

    page = client.get(changelist).content.decode()
    assert "active" in page and f"{model.model_macro_f1:.3f}" in page
    assert f"{model.care_macro_f1:.3f}" in page and '<td class="field-training_size">36' in page
    detail = client.get(reverse("admin:listening_sentimentmodel_change", args=[model.pk]))
    assert "care scorer" in detail.content.decode()

    response = client.post(
        changelist,
        {"action": "roll_back_to_default", "_selected_action": [model.pk]},
        follow=True,
    )
    assert "roll back v1 to default" in response.content.decode()
    model.refresh_from_db()
    assert model.status == "retired"
    client.post(changelist, {"action": "activate", "_selected_action": [model.pk]})
    model.refresh_from_db()
    assert model.status == "active"
    rescores = client.get(reverse("admin:listening_sentimentrescore_changelist"))
    assert "0 / 60" in rescores.content.decode()


def test_a_brand_admin_sees_and_switches_only_the_models_of_the_brands_they_configure(
    corrected, admin_user, outsider, client
):
    brand = corrected["brand"]
    model = sentiment_model_train(model_id=sentiment_model_start(brand_id=brand.pk).pk)
    changelist = reverse("admin:listening_sentimentmodel_changelist")
    for user in (admin_user, outsider):
        user.is_staff = True
        user.save()

    client.force_login(outsider)
    assert client.get(changelist).status_code == 403
    client.force_login(admin_user)
    assert "roll_back" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "roll_back", "_selected_action": [model.pk]})
    model.refresh_from_db()
    assert model.status == "retired"


def test_a_text_corrected_on_two_mentions_is_one_example_the_newest(corrected):
    brand, mentions = corrected["brand"], corrected["mentions"]
    first, later = mentions[0], mentions[3]  # both corrected to negative, in that order
    Mention.objects.filter(pk=later.pk).update(text=first.text)

    examples = training_examples(brand_id=brand.pk)

    assert len(examples) == 44
    assert [e.mention_id for e in examples if e.text == first.text] == [later.pk]
