"""Sentiment: scorers behind one small interface (base.Scorer), and the scorer in use.

- ``base``: the interface (``name``, ``version``, ``score_many(texts)``), ``SentimentScores``
  and the label rule shared by every scorer;
- ``vader``: VADER, identical to stock vaderSentiment and much cheaper;
- ``care``: Earshot's care-aware scorer on top of VADER (``earshot-care``, the default);
- ``get_scorer()``: the configured scorer (setting EARSHOT_SENTIMENT_SCORER).

A new scorer is a module here with a class implementing ``Scorer`` and one entry in
``SCORERS``; ingest records its name and version on every mention it scores.
"""

from __future__ import annotations

from django.conf import settings

from listening.sentiment.base import (
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    Scorer,
    SentimentScores,
    label_for,
)
from listening.sentiment.care import CareScorer
from listening.sentiment.vader import (
    FastSentimentIntensityAnalyzer,
    VaderScorer,
    get_analyzer,
    score_text,
)

__all__ = [
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "SCORERS",
    "FastSentimentIntensityAnalyzer",
    "Scorer",
    "SentimentScores",
    "get_analyzer",
    "get_scorer",
    "label_for",
    "score_text",
]

# Scorer name (setting EARSHOT_SENTIMENT_SCORER) -> its class.
SCORERS: dict[str, type] = {VaderScorer.name: VaderScorer, CareScorer.name: CareScorer}
_scorers: dict[str, Scorer] = {}


def get_scorer() -> Scorer:
    """The scorer ingest uses, one instance per process (a model loads once)."""
    name = settings.EARSHOT_SENTIMENT_SCORER
    scorer = _scorers.get(name)
    if scorer is None:
        if name not in SCORERS:
            raise LookupError(
                f"EARSHOT_SENTIMENT_SCORER={name!r} is not a scorer; known: {', '.join(SCORERS)}"
            )
        scorer = _scorers[name] = SCORERS[name]()
    return scorer
