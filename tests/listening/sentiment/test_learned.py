"""The learned model (issue 13): train, predict, store, validate, on texts written here."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from listening.sentiment.embedding import EMBEDDER_ID
from listening.sentiment.learned import (
    LABELS,
    LearnedModel,
    ModelIncompatible,
    _best_offsets,
    _words_for_ngrams,
    classification_figures,
    model_dumps,
    model_loads,
    model_predict,
    model_train,
    model_validate,
)

THINGS = ["parcel", "router", "card", "order", "app", "phone bill", "account", "delivery"]
NEGATIVE = [
    "my {} is broken again and nobody answers",
    "still waiting for my {} refund, this is awful",
    "the {} failed twice today, terrible service",
    "worst experience with the {} ever, I want my money back",
]
NEUTRAL = [
    "what time does the {} team open on Sunday",
    "can I change the address for my {}",
    "is there a form for the {} somewhere",
    "how do I add a second name to the {}",
]
POSITIVE = [
    "the {} arrived early, thank you so much",
    "love the new {}, great work team",
    "quick fix on my {}, you are the best",
    "thanks for sorting the {} so fast, brilliant",
]


def labelled(templates: dict[str, list[str]], things: list[str]) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, group in templates.items():
        for template, thing in itertools.product(group, things):
            texts.append(template.format(thing))
            labels.append(label)
    return texts, labels


TEMPLATES = {"negative": NEGATIVE, "neutral": NEUTRAL, "positive": POSITIVE}
TRAIN = labelled(TEMPLATES, THINGS[:6])
# Things the model never saw, in the same kinds of sentences.
HELD_OUT = labelled(TEMPLATES, THINGS[6:])


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    return model_train(*TRAIN)


def test_it_learns_labels_it_can_apply_to_unseen_texts(model):
    figures = model_validate(model, *HELD_OUT)
    assert figures.size == len(HELD_OUT[0])
    assert figures.accuracy >= 0.9
    assert figures.macro_f1 >= 0.9


def test_scores_are_class_probabilities_and_compound_is_positive_minus_negative(model):
    (scores,) = model_predict(model, ["the router arrived early, thank you so much"])
    assert scores.label == "positive"
    assert scores.neg + scores.neu + scores.pos == pytest.approx(1.0, abs=1e-3)
    assert scores.compound == pytest.approx(scores.pos - scores.neg, abs=1e-3)
    assert scores.pos > max(scores.neg, scores.neu)
    assert model_predict(model, []) == []


def test_the_model_records_its_training(model):
    assert model.training_size == len(TRAIN[0])
    assert model.label_counts == {"negative": 24, "neutral": 24, "positive": 24}


def test_stored_bytes_load_into_the_same_predictions(model):
    loaded = model_loads(model_dumps(model))
    texts = HELD_OUT[0]
    assert model_predict(loaded, texts) == model_predict(model, texts)


def test_a_model_from_another_scikit_learn_or_care_scorer_is_refused(model):
    for field, value in (("sklearn_version", "0.1"), ("care_version", "0"), ("format", 0)):
        stale = pickle.loads(model_dumps(model))  # noqa: S301 - bytes made just above
        setattr(stale, field, value)
        with pytest.raises(ModelIncompatible, match="trained with"):
            model_loads(model_dumps(stale))


def test_a_model_made_with_other_sentence_embeddings_is_refused(model):
    assert model.embedder_id == EMBEDDER_ID
    foreign = pickle.loads(model_dumps(model))  # noqa: S301 - bytes made just above
    foreign.embedder_id = "all-mpnet-base-v2 0123456789abcdef 0123456789abcdef 384"
    with pytest.raises(ModelIncompatible, match="embedder"):
        model_loads(model_dumps(foreign))
    # A model pickled before models recorded their embedder reads as none, not as today's.
    older = pickle.loads(model_dumps(model))  # noqa: S301 - bytes made just above
    del older.__dict__["embedder_id"]
    with pytest.raises(ModelIncompatible, match="/none, running"):
        model_loads(model_dumps(older))


def test_bytes_that_are_not_a_model_are_refused():
    with pytest.raises(ModelIncompatible):
        model_loads(b"not a pickle")
    with pytest.raises(ModelIncompatible, match="not a learned model"):
        model_loads(pickle.dumps({"a": 1}))


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a", "b"], ["negative"], "2 texts but 1 labels"),
        (["a", "b"], ["negative", "angry"], "labels must be among"),
        (["a", "b"], ["negative", "negative"], "at least two labels"),
    ],
)
def test_training_rejects_what_it_cannot_learn_from(texts, labels, message):
    with pytest.raises(ValueError, match=message):
        model_train(texts, labels)


def test_classification_figures_on_a_small_confusion():
    true = ["negative"] * 4 + ["neutral"] * 2 + ["positive"] * 2
    predicted = ["negative", "negative", "negative", "neutral"]
    predicted += ["neutral", "positive"] + ["positive", "positive"]
    figures = classification_figures(true, predicted)
    assert figures.confusion["negative"] == {"negative": 3, "neutral": 1, "positive": 0}
    assert figures.confusion["neutral"] == {"negative": 0, "neutral": 1, "positive": 1}
    assert figures.accuracy == 6 / 8
    # negative: p=3/3 r=3/4; neutral: p=1/2 r=1/2; positive: p=2/3 r=2/2
    assert figures.f1 == pytest.approx({"negative": 6 / 7, "neutral": 0.5, "positive": 0.8})
    assert figures.macro_f1 == pytest.approx((6 / 7 + 0.5 + 0.8) / 3)
    assert tuple(figures.f1) == LABELS


def test_words_after_a_negation_get_their_own_ngrams_up_to_the_next_punctuation():
    assert _words_for_ngrams("@shop Not good at all, but the staff didn't mind. Great!") == (
        "not not_good not_at not_all but the staff didn't not_mind great"
    )
    assert (
        _words_for_ngrams("no refund yet #neverAgain")
        == "no not_refund not_yet not_never not_again"
    )


def test_class_offsets_shift_only_where_they_gain_macro_f1():
    # Column 1 is always a little below column 0: argmax never picks it, so its F1 is 0;
    # lifting it by 0.2 to 0.4 gets its two texts right without losing any other.
    log_p = np.log(np.array([[0.5, 0.3, 0.2], [0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]]))
    true = np.array([0, 1, 1, 2])
    offsets = _best_offsets(log_p, true)
    assert offsets[0] == 0.0
    assert ((log_p + offsets).argmax(axis=1) == true).all()
    # Already right: no shift at all.
    assert list(_best_offsets(np.log(np.eye(3) * 0.8 + 0.1), np.arange(3))) == [0.0, 0.0, 0.0]


def test_it_trains_on_two_labels_and_on_a_label_with_a_single_text():
    texts, labels = TRAIN
    two = [(t, label) for t, label in zip(texts, labels, strict=True) if label != "neutral"]
    model = model_train([t for t, _ in two], [label for _, label in two])
    scores = model_predict(model, ["the router arrived early, thank you so much"])
    assert scores[0].label == "positive"
    assert scores[0].neu == 0.0
    # One neutral text among many: too few to cross-validate on, but training must not fail.
    lone = [*two, ("what time does the shop open", "neutral")]
    model = model_train([t for t, _ in lone], [label for _, label in lone])
    assert model.label_counts["neutral"] == 1
    assert model_predict(model, ["my card is broken again and nobody answers"])[0].label == (
        "negative"
    )
