"""Plain VADER's scores beside the configured scorer's, for one batch of texts (issue 13).

Every mention keeps plain VADER's scores (export_mentions' ``compound`` and ``label``) and
Earshot's own (``earshot_compound`` and ``earshot_label``). A scorer may compute both in one
pass by offering the optional method of :class:`PlainAndOwnScorer`:

    score_with_plain_many(texts) -> list[tuple[SentimentScores, SentimentScores]]

one (plain VADER's, this scorer's) pair per text, in order, where plain VADER's are exactly
``VaderScorer().score_many`` (stock vaderSentiment's scores, the paper's +-0.05 labels).
Without it, plain VADER and the scorer are called separately; when the scorer *is* VADER
each text is scored once and the result used for both. Pure: no ORM, no settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from listening.sentiment.base import Scorer, SentimentScores
from listening.sentiment.vader import VADER_NAME, VaderScorer

__all__ = ["PlainAndOwnScorer", "score_pairs"]


@runtime_checkable
class PlainAndOwnScorer(Protocol):
    """A Scorer that also gives plain VADER's scores of the same texts in the same pass."""

    name: str
    version: str

    def score_many(self, texts: Sequence[str]) -> list[SentimentScores]: ...

    def score_with_plain_many(
        self, texts: Sequence[str]
    ) -> list[tuple[SentimentScores, SentimentScores]]:
        """(plain VADER's scores, this scorer's scores) per text, in order."""
        ...


_plain = VaderScorer()


def score_pairs(
    scorer: Scorer, texts: Sequence[str]
) -> list[tuple[SentimentScores, SentimentScores]]:
    """(plain VADER's scores, ``scorer``'s scores) of each text, in order: one pass when the
    scorer is VADER (the same object twice) or offers ``score_with_plain_many``."""
    if not texts:
        return []
    if isinstance(scorer, VaderScorer) or scorer.name == VADER_NAME:
        return [(scores, scores) for scores in scorer.score_many(texts)]
    both = getattr(scorer, "score_with_plain_many", None)
    if both is not None:
        pairs = list(both(texts))
        if len(pairs) != len(texts):
            raise ValueError(
                f"{scorer.name}.score_with_plain_many gave {len(pairs)} pairs"
                f" for {len(texts)} texts"
            )
        return pairs
    return list(zip(_plain.score_many(texts), scorer.score_many(texts), strict=True))
