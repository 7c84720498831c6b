"""What ingest stores as a mention's sentiment and language (issue 13): plain VADER's scores,
Earshot's own (the configured scorer's, or "unscored"), and the language (the source's, else
detected).

Rules:

- The language is the one the source gives; when it gives none it is detected
  (listening.language.detect_languages, "" when unsure) for the items that matched a brand,
  which are the only ones stored, in one call per batch; an item a brand query's ``lang:``
  term already had detected while matching keeps that answer (no second detection).
- Earshot's scorer handles the languages of EARSHOT_SCORED_LANGUAGES (default "en"; a code
  covers its regional variants: "en" covers "en-GB"). A mention whose language is known and
  not among them is **unscored**: earshot_label "unscored", earshot_compound None. "" (the
  source gave none and detection was unsure) counts as scored: assumed the scorer's language.
- Plain VADER scores every text, whatever its language (the export's contract columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from listening.language import detect_languages
from listening.models import UNSCORED
from listening.sentiment import Scorer, SentimentScores
from listening.sentiment.pair import score_pairs


def primary_language(language: str) -> str:
    """The language subtag of a code, lower-cased: "en-GB" -> "en", "pt_BR" -> "pt"."""
    return language.strip().replace("_", "-").split("-", 1)[0].lower()


def scored_languages(codes: Iterable[str] | None = None) -> frozenset[str]:
    """The primary subtags Earshot's scorer handles (EARSHOT_SCORED_LANGUAGES by default)."""
    if codes is None:
        codes = settings.EARSHOT_SCORED_LANGUAGES
    return frozenset(filter(None, (primary_language(code) for code in codes)))


def is_language_scored(language: str, scored: frozenset[str]) -> bool:
    """Whether Earshot's scorer handles ``language``; "" (unknown) counts as handled."""
    primary = primary_language(language) if language else ""
    return not primary or primary in scored


@dataclass(slots=True)
class MentionSentiment:
    """What one stored mention keeps of its sentiment and language."""

    language: str
    plain: SentimentScores
    # Earshot's compound and label: None and "unscored" for a language it does not handle.
    earshot_compound: float | None
    earshot_label: str


def sentiments_for(
    texts: Sequence[str],
    languages: Sequence[str],
    *,
    scorer: Scorer,
    scored: frozenset[str] | None = None,
    detected: Sequence[str | None] | None = None,
) -> list[MentionSentiment]:
    """The sentiment and language of each text (``languages``: the source's, "" when none),
    in order. ``detected``: per text, the language already detected for it (None: not yet),
    as a brand query's ``lang:`` term does while matching (MatchDocument.detected_language).
    Detection runs once for the texts still without a language; scoring once per batch
    (score_pairs). Pure but for reading the setting when ``scored`` is None."""
    if scored is None:
        scored = scored_languages()
    languages = list(languages)
    if detected is not None:
        for i, language in enumerate(detected):
            if language is not None and not languages[i]:
                languages[i] = language
    missing = [
        i
        for i, language in enumerate(languages)
        if not language and (detected is None or detected[i] is None)
    ]
    if missing:
        for i, detected in zip(missing, detect_languages([texts[i] for i in missing]), strict=True):
            languages[i] = detected
    # Once per distinct language of the batch (a batch has a handful): this runs per mention.
    verdicts: dict[str, bool] = {}
    out = []
    for language, (plain, ours) in zip(languages, score_pairs(scorer, texts), strict=True):
        is_scored = verdicts.get(language)
        if is_scored is None:
            is_scored = verdicts[language] = is_language_scored(language, scored)
        if is_scored:
            out.append(MentionSentiment(language, plain, ours.compound, ours.label))
        else:
            out.append(MentionSentiment(language, plain, None, UNSCORED))
    return out
