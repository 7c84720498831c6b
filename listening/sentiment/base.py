"""The scorer interface every sentiment model implements, and the one label rule.

A scorer has a ``name`` and a ``version`` (recorded on each mention it scored, so a later
model's labels can be told from VADER's) and scores texts in batches with ``score_many``, which
lets a model that is cheaper per batch (a learned one) be used as it likes. Scorers are pure:
no ORM, no settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# The thresholds recommended by the VADER authors for the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@dataclass(frozen=True, slots=True)
class SentimentScores:
    neg: float
    neu: float
    pos: float
    compound: float
    label: str  # "positive" | "negative" | "neutral"


class Scorer(Protocol):
    name: str
    version: str

    def score_many(self, texts: Sequence[str]) -> list[SentimentScores]:
        """One SentimentScores per text, in order."""
        ...


def label_for(compound: float) -> str:
    """Bucket a compound score with the VADER paper's thresholds (inclusive at +-0.05)."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"
