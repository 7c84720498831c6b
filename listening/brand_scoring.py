"""Which scorer labels a brand's matches: its active learned model, else the default scorer.

Issue 13, part 3. A brand with an active SentimentModel (listening.models) has its matches
(MentionMatch.label) labelled by that model; every other brand keeps the label ingest took
from Mention.earshot_label (the default scorer, EARSHOT_SENTIMENT_SCORER). Mention.earshot_*
is never the model's: a mention can match two brands, and each brand's model is its own.

A model labels the texts in the languages it learned (SentimentModel.languages; "" the
source gave none and detection was unsure counts as one of them, as for the default scorer)
and leaves the others "unscored". One predict call per brand per batch.

Models load once per process. A model that cannot be loaded (ModelIncompatible: scikit-learn,
the care scorer or the sentence embedder changed since it was trained; EmbedderUnavailable:
the embedding model's packages are missing) is treated as absent: its brand's matches
keep the default scorer's labels, the failure is written on the model (load_error, shown in
the admin) and the next training of the brand is due at once (engagement.learning).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from listening.models import UNSCORED, MentionMatch, SentimentModel
from listening.scoring import primary_language

if TYPE_CHECKING:
    from listening.sentiment.learned import LearnedModel

logger = logging.getLogger(__name__)

__all__ = [
    "ActiveModel",
    "active_models",
    "brand_labels",
    "learned_model_for",
    "model_handles",
]


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """What ingest and rescoring need of a brand's active model (no bytes)."""

    id: int
    brand_id: int
    languages: frozenset[str]


def active_models(brand_ids: Collection[int]) -> dict[int, ActiveModel]:
    """brand id -> its active model, for those of ``brand_ids`` that have one. One query
    (served by the partial unique index sentimentmodel_one_active), none for no brands."""
    if not brand_ids:
        return {}
    rows = SentimentModel.objects.filter(
        brand_id__in=list(brand_ids), status=SentimentModel.Status.ACTIVE
    ).values_list("pk", "brand_id", "languages")
    return {
        brand_id: ActiveModel(pk, brand_id, frozenset(languages or ()))
        for pk, brand_id, languages in rows
    }


# model id -> (its brand, the loaded model or None when it cannot be used here). One brand's
# models replace each other: a process keeps at most one per brand (a retraining frees the
# model it replaced).
_loaded: dict[int, tuple[int, LearnedModel | None]] = {}
_load_lock = threading.Lock()


def learned_model_for(active: ActiveModel) -> LearnedModel | None:
    """The stored model, loaded once per process; None if it cannot be used here (recorded
    on the row as load_error, once per process)."""
    cached = _loaded.get(active.id)
    if cached is not None:
        return cached[1]
    with _load_lock:
        cached = _loaded.get(active.id)
        if cached is not None:
            return cached[1]
        data = SentimentModel.objects.filter(pk=active.id).values_list("data", flat=True).first()
        # Imported here: scikit-learn loads only in processes that use a learned model.
        from listening.sentiment.learned import model_loads

        model: LearnedModel | None = None
        try:
            if not data:
                raise ValueError("the model has no stored bytes")
            model = model_loads(bytes(data))
        except Exception as error:  # any failure: the brand keeps the default scorer
            logger.warning(
                "sentiment_model_id=%s: cannot be loaded, its brand keeps the default"
                " scorer's labels: %s",
                active.id,
                error,
                extra={"sentiment_model_id": active.id},
            )
            SentimentModel.objects.filter(pk=active.id).update(
                load_error=f"{timezone.now():%Y-%m-%d %H:%M} UTC: {error}"[:2000]
            )
        for model_id in [m for m, (b, _) in _loaded.items() if b == active.brand_id]:
            del _loaded[model_id]
        _loaded[active.id] = (active.brand_id, model)
        return model


def model_handles(languages: frozenset[str], language: str) -> bool:
    """Whether a model that learned ``languages`` labels a text in ``language``."""
    primary = primary_language(language) if language else ""
    return not primary or primary in languages


def brand_labels(
    active: ActiveModel, texts: Sequence[str], languages: Sequence[str]
) -> list[str] | None:
    """The model's label of each text ("unscored" for a language it did not learn), in
    order; None when the model cannot be loaded (the caller keeps the default labels)."""
    model = learned_model_for(active)
    if model is None:
        return None
    handled = [
        i for i, language in enumerate(languages) if model_handles(active.languages, language)
    ]
    out = [UNSCORED] * len(texts)
    if handled:
        from listening.sentiment.learned import model_predict

        predicted = model_predict(model, [texts[i] for i in handled])
        for i, scores in zip(handled, predicted, strict=True):
            out[i] = scores.label
    return out


def usable_models(active: dict[int, ActiveModel]) -> dict[int, ActiveModel]:
    """Those of ``active`` whose model loads here."""
    return {b: a for b, a in active.items() if learned_model_for(a) is not None}


# --- Ingest ----------------------------------------------------------------------------------
#
# Ingest predicts with the models it believes active (this process's last look, free), then
# checks inside the batch's transaction, after the matches are inserted, which models are
# active (one query per batch). A switch committed in between (rare) is caught there and the
# batch's labels fixed before its rollups are added. Checking after the insert matters: a
# switch takes MentionMatch in SHARE ROW EXCLUSIVE mode to fix the highest id its
# rescoring covers (engagement.learning), so a batch either committed its matches before
# that (and is rescored) or checks after the switch committed (and sees the new model).

_believed_active: dict[int, ActiveModel | None] = {}


def brand_labels_guess(
    texts: Sequence[str], languages: Sequence[str], brand_ids: Sequence[Collection[int]]
) -> tuple[list[dict[int, str] | None], dict[int, int]]:
    """Per item, {brand id: its model's label} for the matched brands believed to have an
    active model (None when none has), and {brand id: model id} of the models used.
    No query; one predict call per such brand."""
    out: list[dict[int, str] | None] = [None] * len(texts)
    used: dict[int, int] = {}
    wanted = {b for ids in brand_ids for b in ids if _believed_active.get(b) is not None}
    for brand_id in sorted(wanted):
        active = _believed_active[brand_id]
        assert active is not None
        items = [i for i, ids in enumerate(brand_ids) if brand_id in ids]
        labels = brand_labels(active, [texts[i] for i in items], [languages[i] for i in items])
        if labels is None:
            continue
        used[brand_id] = active.id
        for i, label in zip(items, labels, strict=True):
            per_item = out[i]
            if per_item is None:
                per_item = out[i] = {}
            per_item[brand_id] = label
    return out, used


def brand_labels_confirm(rows: Sequence, inserted: dict[str, int], used: dict[int, int]) -> None:
    """Inside the batch's transaction, after its matches were inserted: make each brand's
    match labels the ones of the brand's active model now (``rows``: listening.bulk.MentionRow,
    their brand_labels from brand_labels_guess with ``used``). One query when nothing
    changed since the guess; else the changed brands' labels are predicted again and their
    inserted matches updated (one UPDATE per brand and label)."""
    brand_ids = {b for row in rows for b, _ in row.matches}
    active = usable_models(active_models(brand_ids))
    for brand_id in brand_ids:
        _believed_active[brand_id] = active.get(brand_id)
    now = {b: a.id for b, a in active.items()}
    changed = {b for b in brand_ids if now.get(b) != used.get(b)}
    if not changed:
        return
    for brand_id in sorted(changed):
        items = [row for row in rows if any(b == brand_id for b, _ in row.matches)]
        before = [row.label_for(brand_id) for row in items]
        model = active.get(brand_id)
        if model is None:
            labels = [row.earshot_label or row.label for row in items]
        else:
            labels = brand_labels(model, [r.text for r in items], [r.language for r in items])
            assert labels is not None  # usable_models loaded it
        moves: dict[str, list[int]] = {}
        for row, old, label in zip(items, before, labels, strict=True):
            if row.brand_labels is None:
                row.brand_labels = {}
            row.brand_labels[brand_id] = label
            if old != label and row.external_id in inserted:
                moves.setdefault(label, []).append(inserted[row.external_id])
        for label, mention_ids in sorted(moves.items()):
            MentionMatch.objects.filter(brand_id=brand_id, mention_id__in=mention_ids).update(
                label=label
            )


def believed_active_forget() -> None:
    """Forget what this process believes active (tests; a worker learns it again)."""
    _believed_active.clear()
