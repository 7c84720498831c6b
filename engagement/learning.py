"""Per-brand sentiment models learned from agents' corrections (issue 13, part 3).

Agents' corrections (SentimentCorrection) are labelled data for their brand. This module
trains a model per brand from them, decides whether the brand switches to it, and relabels
the brand's mentions when its scorer changes. It lives in engagement because corrections and
author standing do; the models and what ingest needs of them live in listening
(listening.models.SentimentModel, listening.brand_scoring).

Training (a worker only: ``sentiment_model_train_task``, never a web request)
    ``sentiment_models_dispatch`` (beat, every EARSHOT_LEARN_CHECK_INTERVAL seconds) starts
    one training per due brand: at least EARSHOT_LEARN_MIN_CORRECTIONS corrected mentions,
    and no model yet or at least EARSHOT_LEARN_EVERY corrections newer than the latest one
    (or an active model that cannot be loaded any more). The labelled set is the brand's
    latest correction of each mention (the newest MAX_TRAINING_EXAMPLES), plus at most as
    many "confirmed" labels: effective labels of customer mentions in live cases an agent
    answered and resolved without correcting them (``training_examples`` says why: on
    corrections alone the care scorer is wrong by construction). A stratified HOLD_OUT of
    it (per language, label and kind, fixed seed) is held back; the rest trains
    listening.sentiment.learned's model. The model and the care-aware scorer then label the
    held-back examples the care scorer can read; the brand switches to the model only if
    its macro-F1 there is higher than the care scorer's. Otherwise the model is kept as
    ``rejected`` with the figures and the reason.

Languages
    The care scorer reads EARSHOT_SCORED_LANGUAGES only; mentions in other languages are
    "unscored". A brand that corrected at least EARSHOT_LEARN_MIN_CORRECTIONS mentions in
    another language trains on them too, and its model labels that language if, on that
    language's held-back corrections, its macro-F1 is at least the care scorer's on its own
    languages (we never score a language worse than the default scores English). The
    model's languages are stored on it (SentimentModel.languages); the others stay unscored.

Switching and rolling back
    ``sentiment_model_activate`` (after training, or from the admin) makes a model the
    brand's scorer; ``sentiment_model_roll_back`` goes back to the previously active model,
    or to the default scorer. Each starts a SentimentRescore: ``sentiment_rescore_batch``
    relabels EARSHOT_LEARN_RESCORE_BATCH of the brand's matches per task run, by id, up to
    the highest id when the switch committed (ingest labels later rows with the new scorer:
    listening.brand_scoring). A corrected match keeps its correction. In each batch's
    transaction the rollups move with the labels (listening.rollups.rollups_labels_change)
    and the standing of the batch's authors is counted again, so the dashboard equals a
    direct count at every moment. Case priority reads Earshot's compound on the mention
    (the default scorer's), not the brand's label, and is not changed by a switch.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from brands.models import Brand
from brands.services import audit_record
from engagement.models import Case, SentimentCorrection
from engagement.standing import standings_recount
from listening.brand_scoring import ActiveModel, brand_labels
from listening.models import MentionMatch, SentimentModel, SentimentRescore
from listening.rollups import rollups_labels_change
from listening.scoring import is_language_scored, primary_language, scored_languages
from listening.sentiment.care import CareScorer

logger = logging.getLogger(__name__)

# The share of a brand's corrections held back to validate its model, per label and
# language, drawn with a fixed seed (a retraining on the same corrections draws the same).
HOLD_OUT = 0.2
HOLD_OUT_SEED = 13
# The newest corrected mentions a training reads: a few thousand train in under a minute.
MAX_TRAINING_EXAMPLES = 20_000
# A training still "training" after this long was killed with its worker (the task's hard
# time limit is shorter): the dispatcher marks it failed.
TRAINING_STALE_AFTER = timedelta(hours=1)
LABELS = ("negative", "neutral", "positive")
# The language key of corrections the care scorer reads (EARSHOT_SCORED_LANGUAGES, or none
# given and none detected).
CARE_LANGUAGES = ""


# --- Which brands are due ---------------------------------------------------------------------


def sentiment_models_due(*, now: datetime | None = None) -> list[int]:
    """The brands a training should start for now (see the module docstring). Marks
    trainings left "training" by a killed worker as failed. Three queries at most."""
    now = now or timezone.now()
    minimum = settings.EARSHOT_LEARN_MIN_CORRECTIONS
    counts = dict(
        SentimentCorrection.objects.values("brand_id")
        .annotate(n=Count("mention_id", distinct=True))
        .filter(n__gte=minimum)
        .values_list("brand_id", "n")
    )
    if not counts:
        return []
    stale = SentimentModel.objects.filter(
        status=SentimentModel.Status.TRAINING, created_at__lt=now - TRAINING_STALE_AFTER
    )
    stale.update(
        status=SentimentModel.Status.FAILED,
        status_reason="The training did not finish (its worker stopped or ran out of time).",
    )
    models: dict[int, list[SentimentModel]] = defaultdict(list)
    for model in SentimentModel.objects.filter(brand_id__in=list(counts)).only(
        "brand_id", "version", "status", "corrections_until", "load_error"
    ):
        models[model.brand_id].append(model)
    due, since = [], {}
    for brand_id in sorted(counts):
        mine = sorted(models.get(brand_id, []), key=lambda m: m.version, reverse=True)
        if not mine:
            due.append(brand_id)
            continue
        if mine[0].status == SentimentModel.Status.TRAINING:
            continue  # one training per brand at a time
        if any(m.status == SentimentModel.Status.ACTIVE and m.load_error for m in mine):
            due.append(brand_id)
            continue
        until = mine[0].corrections_until
        if until is None:
            due.append(brand_id)
        else:
            since[brand_id] = until
    if since:
        newer = Q()
        for brand_id, until in since.items():
            newer |= Q(brand_id=brand_id, created_at__gt=until)
        every = settings.EARSHOT_LEARN_EVERY
        fresh = (
            SentimentCorrection.objects.filter(newer)
            .values("brand_id")
            .annotate(n=Count("pk"))
            .filter(n__gte=every)
            .values_list("brand_id", flat=True)
        )
        due.extend(fresh)
    return sorted(due)


def sentiment_models_dispatch(*, now: datetime | None = None) -> list[int]:
    """Start one training per due brand; return their SentimentModel ids. Idempotent while
    the trainings run (a brand with a training under way is not due)."""
    started = (sentiment_model_start(brand_id=b) for b in sentiment_models_due(now=now))
    return [model.pk for model in started if model is not None]


def sentiment_model_start(*, brand_id: int) -> SentimentModel | None:
    """Create the brand's next model (status training) and enqueue its training once the
    row is committed; None if a training of the brand is under way already (two
    dispatchers, an admin action: one training per brand at a time). Touches SentimentModel."""
    from engagement.tasks import sentiment_model_train_task

    with transaction.atomic():
        # Serialises the brand's trainings and version numbers.
        Brand.objects.select_for_update().filter(pk=brand_id).values_list("pk").first()
        if SentimentModel.objects.filter(
            brand_id=brand_id, status=SentimentModel.Status.TRAINING
        ).exists():
            return None
        version = (
            SentimentModel.objects.filter(brand_id=brand_id).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        model = SentimentModel.objects.create(
            brand_id=brand_id,
            version=version,
            status=SentimentModel.Status.TRAINING,
            corrections_until=SentimentCorrection.objects.filter(brand_id=brand_id).aggregate(
                t=Max("created_at")
            )["t"],
        )
        model_id = model.pk
        transaction.on_commit(lambda: sentiment_model_train_task.delay(model_id))
    return model


# --- Training ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled mention of the brand: its text, language key and label."""

    mention_id: int
    text: str
    language: str  # CARE_LANGUAGES, or the primary subtag of a language the care scorer lacks
    label: str
    # True: an agent's correction; False: a label agents worked with and left (see
    # training_examples).
    is_correction: bool = True


def training_examples(*, brand_id: int, scored: frozenset[str] | None = None) -> list[Example]:
    """The brand's labelled mentions: its latest correction of each mention (the newest
    MAX_TRAINING_EXAMPLES), then as many "confirmed" labels at most.

    Why confirmed labels: a correction exists only where the label shown was wrong, so on
    corrections alone the care scorer is wrong by construction (whatever model is compared
    with it wins) and a model never sees the texts the care scorer gets right. A confirmed
    label is the brand's effective label of a customer mention in a live case an agent
    answered and resolved without correcting it: agents saw it and let it stand. The newest
    ones are taken, no more than there are corrections. Two queries."""
    scored = scored_languages() if scored is None else scored
    latest: dict[int, tuple[str, str, str]] = {}
    rows = (
        SentimentCorrection.objects.filter(brand_id=brand_id)
        .order_by("created_at", "pk")
        .values_list("mention_id", "label", "mention__text", "mention__language")
    )
    for mention_id, label, text, language in rows.iterator(chunk_size=5000):
        latest.pop(mention_id, None)  # re-inserted last: dict order is correction order
        latest[mention_id] = (label, text, language)
    kept = [(m, *values, True) for m, values in list(latest.items())[-MAX_TRAINING_EXAMPLES:]]
    if kept:
        confirmed = (
            MentionMatch.objects.filter(
                brand_id=brand_id,
                label__in=LABELS,
                mention__case_links__brand_id=brand_id,
                mention__case_links__is_brand_reply=False,
                mention__case_links__case__status=Case.Status.RESOLVED,
                mention__case_links__case__is_history=False,
                mention__case_links__case__first_response_at__isnull=False,
            )
            .exclude(
                Exists(
                    SentimentCorrection.objects.filter(
                        brand_id=brand_id, mention_id=OuterRef("mention_id")
                    )
                )
            )
            .order_by("-pk")
            .values_list("mention_id", "label", "mention__text", "mention__language")[: len(kept)]
        )
        kept += [(m, label, text, language, False) for m, label, text, language in confirmed]
    # One example per text (a repost, a copied complaint): the same text on both sides of
    # the held-back split would flatter the model. Corrections first, the newest of each.
    unique: dict[str, tuple] = {}
    for values in sorted(reversed(kept), key=lambda v: not v[4]):
        unique.setdefault(values[2], values)
    kept = [values for values in kept if unique[values[2]] is values]
    return [
        Example(
            mention_id=mention_id,
            text=text,
            language=CARE_LANGUAGES
            if is_language_scored(language, scored)
            else primary_language(language),
            label=label,
            is_correction=is_correction,
        )
        for mention_id, label, text, language, is_correction in kept
    ]


def held_back_split(
    examples: Sequence[Example], *, fraction: float = HOLD_OUT, seed: int = HOLD_OUT_SEED
) -> tuple[list[Example], list[Example]]:
    """(training, held back): ``fraction`` of each (language, label, kind) group held back, at
    least one from a group of two or more and never a group's last one, drawn with ``seed``
    from the group in mention order (the same corrections always split the same way)."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in sorted(examples, key=lambda e: e.mention_id):
        groups[(example.language, example.label, example.is_correction)].append(example)
    rng = random.Random(seed)
    train, held = [], []
    for key in sorted(groups):
        group = groups[key]
        rng.shuffle(group)
        n = 0 if len(group) < 2 else min(len(group) - 1, max(1, round(len(group) * fraction)))
        held.extend(group[:n])
        train.extend(group[n:])
    return train, held


def figures_dict(true: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class F1, size and confusion matrix, as stored on a model."""
    from listening.sentiment.learned import classification_figures

    return asdict(classification_figures(true, predicted))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What validation decided: switch or not, why, and the languages the model labels."""

    switch: bool
    reason: str
    languages: list[str]


def switch_verdict(
    model_figures: dict[str, Any] | None,
    care_figures: dict[str, Any] | None,
    language_figures: dict[str, dict[str, Any]],
    *,
    scored: frozenset[str],
) -> Verdict:
    """The switch rule: the model's macro-F1 on the held-back labels the care scorer
    reads must be strictly higher than the care scorer's on the same ones. A further
    language is labelled by the model if its own held-back macro-F1 is at least the care
    scorer's (see the module docstring)."""
    if not model_figures or not care_figures or not model_figures["size"]:
        return Verdict(
            False,
            "No held-back labels in a language the care scorer reads: nothing to"
            " compare the model with.",
            [],
        )
    model_f1, care_f1 = model_figures["macro_f1"], care_figures["macro_f1"]
    extra = sorted(
        code
        for code, figures in language_figures.items()
        if figures["size"] and figures["macro_f1"] >= care_f1
    )
    languages = sorted(scored) + extra
    if model_f1 > care_f1:
        return Verdict(
            True,
            f"Macro-F1 {model_f1:.3f} beats the care scorer's {care_f1:.3f} on"
            f" {model_figures['size']} held-back labels.",
            languages,
        )
    return Verdict(
        False,
        f"Macro-F1 {model_f1:.3f} does not beat the care scorer's {care_f1:.3f} on"
        f" {model_figures['size']} held-back corrections.",
        languages,
    )


def sentiment_model_train(*, model_id: int) -> SentimentModel | None:
    """Train, validate and decide one model created by sentiment_model_start (worker only:
    seconds to minutes of CPU). Quiet return if the row is gone or no longer "training"
    (idempotent: a rerun after it finished does nothing). Touches SentimentModel; on a
    switch, as sentiment_model_activate. A failure is recorded on the row (failed, the
    error), never raised."""
    model = SentimentModel.objects.filter(pk=model_id).first()
    if model is None or model.status != SentimentModel.Status.TRAINING:
        return model
    try:
        return _train(model)
    except Exception as error:
        logger.exception(
            "sentiment_model_id=%s: training failed",
            model_id,
            extra={"sentiment_model_id": model_id},
        )
        SentimentModel.objects.filter(pk=model_id, status=SentimentModel.Status.TRAINING).update(
            status=SentimentModel.Status.FAILED,
            status_reason=(
                f"{type(error).__name__}: {error}\n"
                + "".join(traceback.format_exception(error)[-3:])
            )[:4000],
        )
        model.refresh_from_db()
        return model


def _train(model: SentimentModel) -> SentimentModel:
    from listening.sentiment.learned import model_dumps, model_predict, model_train

    minimum = settings.EARSHOT_LEARN_MIN_CORRECTIONS
    scored = scored_languages()
    examples = training_examples(brand_id=model.brand_id, scored=scored)
    per_language = Counter(e.language for e in examples if e.is_correction)
    # Another language trains only once the brand corrected enough of it.
    learned = {CARE_LANGUAGES} | {
        code for code, n in per_language.items() if code != CARE_LANGUAGES and n >= minimum
    }
    usable = [e for e in examples if e.language in learned]
    corrections = sum(e.is_correction for e in usable)
    if corrections < minimum:
        return _finish(
            model,
            SentimentModel.Status.REJECTED,
            f"Only {corrections} corrected mentions in languages it could learn; at least"
            f" {minimum} are needed (EARSHOT_LEARN_MIN_CORRECTIONS).",
        )
    train, held = held_back_split(usable)
    if len({e.label for e in train}) < 2:
        return _finish(
            model,
            SentimentModel.Status.REJECTED,
            "The corrections give only one label: a model needs at least two to learn from.",
        )
    learned_model = model_train([e.text for e in train], [e.label for e in train])
    care_held = [e for e in held if e.language == CARE_LANGUAGES]
    predicted = {
        e.mention_id: s.label
        for e, s in zip(held, model_predict(learned_model, [e.text for e in held]), strict=True)
    }
    care_labels = [s.label for s in CareScorer().score_many([e.text for e in care_held])]
    model_figures = figures_dict(
        [e.label for e in care_held], [predicted[e.mention_id] for e in care_held]
    )
    care_figures = figures_dict([e.label for e in care_held], care_labels)
    language_figures = {}
    for code in sorted(learned - {CARE_LANGUAGES}):
        these = [e for e in held if e.language == code]
        language_figures[code] = figures_dict(
            [e.label for e in these], [predicted[e.mention_id] for e in these]
        )
    verdict = switch_verdict(model_figures, care_figures, language_figures, scored=scored)
    model.trained_at = timezone.now()
    model.training_size = len(train)
    model.held_back_size = len(held)
    model.label_counts = dict(learned_model.label_counts)
    model.languages = verdict.languages
    model.figures = {
        "model": model_figures,
        "care": care_figures,
        "languages": language_figures,
        # What the held-back part was made of (see training_examples).
        "held_back": {
            "corrected": sum(e.is_correction for e in held),
            "confirmed": sum(not e.is_correction for e in held),
        },
    }
    model.model_macro_f1 = model_figures["macro_f1"]
    model.care_macro_f1 = care_figures["macro_f1"]
    model.data = model_dumps(learned_model)
    model.save()
    if not verdict.switch:
        return _finish(model, SentimentModel.Status.REJECTED, verdict.reason)
    _finish(model, SentimentModel.Status.TRAINED, verdict.reason)
    sentiment_model_activate(model=model, user=None, reason=f"v{model.version} trained")
    model.refresh_from_db()
    return model


def _finish(model: SentimentModel, status: str, reason: str) -> SentimentModel:
    SentimentModel.objects.filter(pk=model.pk).update(status=status, status_reason=reason)
    model.status, model.status_reason = status, reason
    return model


# --- Switching and rolling back ---------------------------------------------------------------


class LearningError(Exception):
    """A switch that cannot be made (shown to the admin as it is)."""


def sentiment_model_activate(
    *, model: SentimentModel, user: Any, reason: str = ""
) -> SentimentRescore:
    """Make ``model`` its brand's scorer (the active one retires) and start relabelling the
    brand's mentions. Only a trained or retired model (one that beat the care scorer) can
    be activated. Not idempotent (each call starts a rescoring). Touches SentimentModel,
    SentimentRescore and AuditLog; the rescoring touches MentionMatch.label, the rollups and
    AuthorStanding."""
    allowed = (SentimentModel.Status.TRAINED, SentimentModel.Status.RETIRED)
    return _switch(
        brand_id=model.brand_id,
        to=model,
        user=user,
        reason=reason or f"activate v{model.version}",
        allowed=allowed,
    )


def sentiment_model_roll_back(
    *, brand_id: int, user: Any, to_default: bool = False
) -> SentimentRescore:
    """Retire the brand's active model and go back to the model active before it (or, with
    ``to_default`` or when there was none, to the default scorer); relabel as in
    sentiment_model_activate."""
    active = SentimentModel.objects.filter(
        brand_id=brand_id, status=SentimentModel.Status.ACTIVE
    ).first()
    if active is None:
        raise LearningError("The brand already uses the default scorer.")
    previous = None
    if not to_default:
        previous = (
            SentimentModel.objects.filter(
                brand_id=brand_id,
                status=SentimentModel.Status.RETIRED,
                activated_at__isnull=False,
                version__lt=active.version,
            )
            .order_by("-activated_at", "-version")
            .first()
        )
    if previous is None:
        return _switch(
            brand_id=brand_id, to=None, user=user, reason=f"roll back v{active.version} to default"
        )
    return _switch(
        brand_id=brand_id,
        to=previous,
        user=user,
        reason=f"roll back v{active.version} to v{previous.version}",
        allowed=(SentimentModel.Status.RETIRED,),
    )


def _lock_match_writers() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Waits for the ingest batches writing matches now, and holds new ones back
            # until this transaction commits: every match with an id up to the one read
            # next is committed, and every later one is inserted after this switch, by a
            # batch that sees it (listening.brand_scoring). Held for milliseconds.
            cursor.execute(f"LOCK TABLE {MentionMatch._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def _switch(
    *,
    brand_id: int,
    to: SentimentModel | None,
    user: Any,
    reason: str,
    allowed: Sequence[str] = (),
) -> SentimentRescore:
    from engagement.tasks import sentiment_rescore_batch_task

    now = timezone.now()
    with transaction.atomic():
        models = {
            m.pk: m
            for m in SentimentModel.objects.select_for_update()
            .filter(brand_id=brand_id)
            .only("pk", "status", "version", "brand_id")
        }
        if to is not None:
            current = models.get(to.pk)
            if current is None or current.status not in allowed:
                raise LearningError(
                    f"v{to.version} is {current.status if current else 'gone'}; only a"
                    " trained or retired model can become the brand's scorer."
                )
        active = [m for m in models.values() if m.status == SentimentModel.Status.ACTIVE]
        SentimentModel.objects.filter(pk__in=[m.pk for m in active]).update(
            status=SentimentModel.Status.RETIRED, retired_at=now
        )
        if to is not None:
            SentimentModel.objects.filter(pk=to.pk).update(
                status=SentimentModel.Status.ACTIVE,
                activated_at=now,
                retired_at=None,
                load_error="",
            )
        # Before the table lock: a running batch holds its rescoring row and then wants to
        # write matches, so taking the lock first could deadlock with it.
        SentimentRescore.objects.filter(
            brand_id=brand_id, status=SentimentRescore.Status.RUNNING
        ).update(status=SentimentRescore.Status.SUPERSEDED, finished_at=now)
        _lock_match_writers()
        matches = MentionMatch.objects.filter(brand_id=brand_id)
        bounds = matches.aggregate(last=Max("pk"), n=Count("pk"))
        rescore = SentimentRescore.objects.create(
            brand_id=brand_id,
            model=to,
            reason=reason[:200],
            last_id=bounds["last"] or 0,
            total=bounds["n"],
            started_at=now,
        )
        audit_record(
            actor=user,
            brand=Brand.objects.get(pk=brand_id),
            action="sentiment_model_switch",
            obj=rescore,
            before={"model": [f"v{m.version}" for m in active]},
            after={"model": f"v{to.version}" if to else "default", "reason": reason},
        )
        rescore_id = rescore.pk
        transaction.on_commit(lambda: sentiment_rescore_batch_task.delay(rescore_id))
    return rescore


# --- Rescoring ---------------------------------------------------------------------------------


def sentiment_rescore_batch(*, rescore_id: int, size: int | None = None) -> bool:
    """Relabel the next ``size`` (EARSHOT_LEARN_RESCORE_BATCH) matches of a rescoring with
    its scorer; return whether more remain. Idempotent: the batch's transaction holds the
    rescoring row and moves its cursor, so a rerun or a duplicate task finds the batch done.
    A corrected match keeps its correction. Touches MentionMatch.label, the rollups,
    AuthorStanding and the SentimentRescore row (done, changed, finished_at)."""
    size = size or settings.EARSHOT_LEARN_RESCORE_BATCH
    rescore = SentimentRescore.objects.filter(pk=rescore_id).first()
    if rescore is None or rescore.status != SentimentRescore.Status.RUNNING:
        return False
    rows = list(
        MentionMatch.objects.filter(
            brand_id=rescore.brand_id, pk__gt=rescore.cursor_id, pk__lte=rescore.last_id
        )
        .order_by("pk")
        .values_list(
            "pk",
            "mention__text",
            "mention__language",
            "mention__earshot_label",
            "mention__label",
        )[:size]
    )
    # Predicted outside the transaction: the texts never change, the rows' labels may.
    if rescore.model_id is None:
        targets = [earshot or plain for _, _, _, earshot, plain in rows]
    else:
        model = SentimentModel.objects.filter(pk=rescore.model_id).values_list(
            "languages", flat=True
        )
        active = ActiveModel(rescore.model_id, rescore.brand_id, frozenset(model.first() or ()))
        labels = brand_labels(active, [r[1] for r in rows], [r[2] for r in rows])
        if labels is None:
            SentimentRescore.objects.filter(pk=rescore_id).update(
                status=SentimentRescore.Status.FAILED,
                finished_at=timezone.now(),
                error="The model cannot be loaded (see the model's load error); roll back.",
            )
            return False
        targets = labels
    with transaction.atomic():
        locked = SentimentRescore.objects.select_for_update().filter(pk=rescore_id).first()
        if (
            locked is None
            or locked.status != SentimentRescore.Status.RUNNING
            or locked.cursor_id != rescore.cursor_id
        ):
            return False  # superseded, or another run did this batch
        if not rows:
            locked.status = SentimentRescore.Status.DONE
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "finished_at"])
            return False
        ids = [r[0] for r in rows]
        target = dict(zip(ids, targets, strict=True))
        current = list(
            MentionMatch.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list(
                "pk", "mention_id", "label", "routed_at", "route_error", "mention__author_id"
            )
        )
        corrected = set(
            SentimentCorrection.objects.filter(
                brand_id=locked.brand_id, mention_id__in=[c[1] for c in current]
            ).values_list("mention_id", flat=True)
        )
        changes, authors = [], set()
        moves: dict[str, list[int]] = defaultdict(list)
        for pk, mention_id, label, routed_at, route_error, author_id in current:
            # Corrections win: the match already holds the latest one (sentiment_correct).
            if mention_id in corrected or target[pk] == label:
                continue
            changes.append((pk, label, target[pk]))
            moves[target[pk]].append(pk)
            if routed_at is not None and not route_error and author_id is not None:
                authors.add((locked.brand_id, author_id))
        for label, pks in sorted(moves.items()):
            MentionMatch.objects.filter(pk__in=pks).update(label=label)
        rollups_labels_change(changes=changes)
        standings_recount(authors)
        locked.cursor_id = ids[-1]
        locked.done += len(rows)
        locked.changed += len(changes)
        locked.batches += 1
        locked.save(update_fields=["cursor_id", "done", "changed", "batches"])
    return True


def sentiment_rescore_fail(*, rescore_id: int, error: str) -> None:
    """Record why a rescoring stopped (shown in the admin). Touches SentimentRescore."""
    SentimentRescore.objects.filter(pk=rescore_id, status=SentimentRescore.Status.RUNNING).update(
        status=SentimentRescore.Status.FAILED, finished_at=timezone.now(), error=error[:4000]
    )


def sentiment_rescore_resume(*, rescore_id: int) -> bool:
    """Continue a failed rescoring from where it stopped, if it is still the brand's latest.
    Returns whether it was resumed. Touches SentimentRescore."""
    from engagement.tasks import sentiment_rescore_batch_task

    rescore = SentimentRescore.objects.filter(pk=rescore_id).first()
    if rescore is None or rescore.status != SentimentRescore.Status.FAILED:
        return False
    latest = SentimentRescore.objects.filter(brand_id=rescore.brand_id).order_by("-pk").first()
    if latest is None or latest.pk != rescore.pk:
        return False
    with transaction.atomic():
        SentimentRescore.objects.filter(pk=rescore_id).update(
            status=SentimentRescore.Status.RUNNING, finished_at=None, error=""
        )
        transaction.on_commit(lambda: sentiment_rescore_batch_task.delay(rescore_id))
    return True


__all__ = [
    "HOLD_OUT",
    "Example",
    "LearningError",
    "Verdict",
    "held_back_split",
    "sentiment_model_activate",
    "sentiment_model_roll_back",
    "sentiment_model_start",
    "sentiment_model_train",
    "sentiment_models_dispatch",
    "sentiment_models_due",
    "sentiment_rescore_batch",
    "sentiment_rescore_fail",
    "sentiment_rescore_resume",
    "switch_verdict",
    "training_examples",
]
