"""A small learned sentiment model, trained from labelled texts such as a brand's corrections.

Issue 13, part 3: logistic regression over TF-IDF word and character n-grams plus the
care-aware scorer's features (plain VADER's and Earshot's neg/pos/compound, which complaint
patterns hit, and a few shape features: length, "?", "!", links, handles, digits, shouting).
The regression is "NB-LR" (Wang & Manning 2012, "Baselines and bigrams"): one binary logistic
regression per label over the features scaled by their naive-Bayes log-count ratio for that
label, probabilities normalised over the three. On half A of the airline dev split (2-fold
cross-validation inside it) it gained ~1 point of macro-F1 over a plain multinomial logistic
regression on the same features, and with liblinear it trains 3,600 texts in a few seconds.
Pure functions: no ORM, no settings, no Celery; the caller decides where texts come from and
where the bytes go.

- ``model_train(texts, labels)`` -> ``LearnedModel`` (seconds for a few thousand texts);
- ``model_predict(model, texts)`` -> one ``SentimentScores`` per text: neg/neu/pos are the
  class probabilities, compound is P(positive) - P(negative), label the likeliest class;
- ``model_dumps(model)`` / ``model_loads(data)``: bytes for storage, refused on load
  (``ModelIncompatible``) when scikit-learn, the care scorer or this format changed since
  training, because the features or the pickled classes would then differ;
- ``model_validate(model, texts, labels)`` and ``classification_figures(true, predicted)``:
  accuracy, macro-F1, per-class F1 and the confusion matrix.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from listening.sentiment.base import SentimentScores
from listening.sentiment.care import CARE_VERSION, care_features, care_patterns, normalise

__all__ = [
    "LABELS",
    "Figures",
    "LearnedModel",
    "ModelIncompatible",
    "classification_figures",
    "model_dumps",
    "model_loads",
    "model_predict",
    "model_train",
    "model_validate",
]

LABELS = ("negative", "neutral", "positive")
# Bump when the pipeline's shape changes, so older stored models are refused, not misread.
MODEL_FORMAT = 1
# Inverse regularisation strength, chosen by cross-validation on half A of the airline dev
# split only (bench/sentiment_eval.py --holdout reports half B).
DEFAULT_C = 4.0
# n-grams seen in fewer training texts are dropped (also chosen on half A).
MIN_DF = 3
# The shape features' weight beside the scores (chosen on half A).
SHAPE_SCALE = 0.3
_DIGIT = re.compile(r"\d")
# Words keep their apostrophe ("can't", "don't"): negations matter here.
WORD_PATTERN = r"(?u)\b\w[\w']*\b"


class ModelIncompatible(ValueError):
    """Stored model bytes that this code cannot use as they are: retrain."""


def _text_for_ngrams(text: str) -> str:
    # Handles and URLs say who and where, not how the customer feels; hashtags split into words.
    return normalise(text).lower()


class CareFeatures(TransformerMixin, BaseEstimator):
    """Plain VADER's and the care scorer's scores, one column per complaint pattern, shape."""

    def fit(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> CareFeatures:
        return self

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        rules = [p.rule for p in care_patterns()]
        column = {rule: n for n, rule in enumerate(rules)}
        rows = []
        for text in texts:
            plain, care, hits = care_features(text)
            normalised = normalise(text)
            letters = sum(c.isalpha() for c in normalised)
            shape = [
                math.log1p(len(normalised.split())),
                min(text.count("?"), 3),
                min(text.count("!"), 3),
                float("http" in text),
                min(text.count("@"), 3),
                float(_DIGIT.search(normalised) is not None),
                float(normalised.rstrip().endswith("?")),
                float(sum(c.isupper() for c in normalised) > 0.5 * max(1, letters)),
            ]
            row = [
                plain["compound"],
                plain["neg"],
                plain["pos"],
                care["compound"],
                care["neg"],
                care["pos"],
                float(care["compound"] <= -0.05),
                float(care["compound"] >= 0.5),
                float("?" in text),
                float("!" in text),
            ] + [0.0] * len(rules)
            for rule in hits:
                row[10 + column[rule]] = 1.0
            rows.append(row + [SHAPE_SCALE * value for value in shape])
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float64))


class NBLogisticRegression(ClassifierMixin, BaseEstimator):
    """One-vs-rest logistic regression on features scaled by naive-Bayes log-count ratios.

    For each label, r = log((p / |p|) / (q / |q|)) where p and q sum the binarised features
    (plus alpha) of the texts with and without that label; a binary logistic regression is
    fitted on X * r. Probabilities are the three binary ones, normalised to sum to 1.
    """

    def __init__(self, c: float = DEFAULT_C, alpha: float = 1.0, seed: int = 0) -> None:
        self.c = c
        self.alpha = alpha
        self.seed = seed

    def fit(self, x: sparse.spmatrix, y: Sequence[str]) -> NBLogisticRegression:
        x = sparse.csr_matrix(x)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        binary = (x > 0).astype(np.float64)
        self.ratios_ = []
        self.models_ = []
        for label in self.classes_:
            p = self.alpha + np.asarray(binary[y == label].sum(axis=0)).ravel()
            q = self.alpha + np.asarray(binary[y != label].sum(axis=0)).ravel()
            ratio = np.log((p / p.sum()) / (q / q.sum()))
            model = LogisticRegression(
                C=self.c,
                solver="liblinear",
                class_weight="balanced",
                max_iter=2000,
                random_state=self.seed,
            )
            model.fit(x.multiply(ratio).tocsr(), (y == label).astype(int))
            self.ratios_.append(ratio)
            self.models_.append(model)
        return self

    def predict_proba(self, x: sparse.spmatrix) -> np.ndarray:
        x = sparse.csr_matrix(x)
        columns = [
            model.predict_proba(x.multiply(ratio).tocsr())[:, 1]
            for model, ratio in zip(self.models_, self.ratios_, strict=True)
        ]
        probabilities = np.column_stack(columns)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, x: sparse.spmatrix) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


def _pipeline(c: float, seed: int) -> Pipeline:
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    preprocessor=_text_for_ngrams,
                    ngram_range=(1, 2),
                    min_df=MIN_DF,
                    sublinear_tf=True,
                    token_pattern=WORD_PATTERN,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    preprocessor=_text_for_ngrams,
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=MIN_DF,
                    sublinear_tf=True,
                ),
            ),
            ("care", CareFeatures()),
        ]
    )
    return Pipeline([("features", features), ("classifier", NBLogisticRegression(c=c, seed=seed))])


@dataclass
class LearnedModel:
    pipeline: Pipeline
    training_size: int
    label_counts: dict[str, int]
    sklearn_version: str = field(default_factory=lambda: metadata.version("scikit-learn"))
    care_version: str = CARE_VERSION
    format: int = MODEL_FORMAT


def model_train(
    texts: Sequence[str], labels: Sequence[str], *, c: float = DEFAULT_C, seed: int = 0
) -> LearnedModel:
    """Fit a model on labelled texts (labels from LABELS; at least two classes present)."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise ValueError(f"labels must be among {LABELS}, not {sorted(unknown)}")
    if len(set(labels)) < 2:
        raise ValueError("training needs texts of at least two labels")
    pipeline = _pipeline(c, seed)
    pipeline.fit(list(texts), list(labels))
    counts = {label: list(labels).count(label) for label in LABELS}
    return LearnedModel(pipeline=pipeline, training_size=len(texts), label_counts=counts)


def model_predict(model: LearnedModel, texts: Sequence[str]) -> list[SentimentScores]:
    if not texts:
        return []
    probabilities = model.pipeline.predict_proba(list(texts))
    classes = list(model.pipeline.classes_)
    columns = [classes.index(label) if label in classes else None for label in LABELS]
    out = []
    for row in probabilities:
        neg, neu, pos = (0.0 if col is None else float(row[col]) for col in columns)
        label = classes[int(row.argmax())]
        out.append(
            SentimentScores(
                neg=round(neg, 4),
                neu=round(neu, 4),
                pos=round(pos, 4),
                compound=round(pos - neg, 4),
                label=label,
            )
        )
    return out


def model_dumps(model: LearnedModel) -> bytes:
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def model_loads(data: bytes) -> LearnedModel:
    """The model stored by model_dumps, or ModelIncompatible if it no longer fits this code.

    Only load bytes this application wrote (pickle runs code from what it loads).
    """
    try:
        model = pickle.loads(data)  # noqa: S301 - our own stored models, never user uploads
    except Exception as error:  # an older sklearn's classes may not even import
        raise ModelIncompatible(f"stored model does not load: {error}") from error
    if not isinstance(model, LearnedModel):
        raise ModelIncompatible(f"not a learned model: {type(model).__name__}")
    current = (MODEL_FORMAT, metadata.version("scikit-learn"), CARE_VERSION)
    stored = (model.format, model.sklearn_version, model.care_version)
    if stored != current:
        raise ModelIncompatible(
            "trained with format/scikit-learn/care scorer "
            f"{'/'.join(map(str, stored))}, running {'/'.join(map(str, current))}"
        )
    return model


@dataclass(frozen=True)
class Figures:
    size: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    # confusion[true][predicted] -> count, over LABELS
    confusion: dict[str, dict[str, int]]


def classification_figures(true: Sequence[str], predicted: Sequence[str]) -> Figures:
    """Accuracy, macro-F1 over the three labels, per-class F1 and the confusion matrix."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    confusion = {t: dict.fromkeys(LABELS, 0) for t in LABELS}
    for t, p in zip(true, predicted, strict=True):
        confusion[t][p] += 1
    f1 = {}
    for label in LABELS:
        tp = confusion[label][label]
        predicted_n = sum(confusion[t][label] for t in LABELS)
        true_n = sum(confusion[label].values())
        f1[label] = 2 * tp / (predicted_n + true_n) if predicted_n + true_n else 0.0
    correct = sum(confusion[label][label] for label in LABELS)
    return Figures(
        size=len(true),
        accuracy=correct / len(true) if true else 0.0,
        macro_f1=sum(f1.values()) / len(LABELS),
        f1=f1,
        confusion=confusion,
    )


def model_validate(model: LearnedModel, texts: Sequence[str], labels: Sequence[str]) -> Figures:
    return classification_figures(labels, [s.label for s in model_predict(model, texts)])
