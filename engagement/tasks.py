"""Celery tasks of engagement: thin wrappers around services (each tested without Celery).

The periodic ones (routing, the priority refresh, the follow-up sweep) never retry: each runs
again on its next beat tick, and each is idempotent. Reply delivery retries transient failures.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from engagement.followup import followups_evaluate
from engagement.learning import (
    sentiment_model_train,
    sentiment_models_dispatch,
    sentiment_rescore_batch,
    sentiment_rescore_fail,
)
from engagement.priority import cases_priority_refresh
from engagement.routing import mentions_route, waiting_replies_expire, waiting_replies_requeue
from engagement.services import reply_deliver
from listening.connectors.base import SourceUnavailable

logger = logging.getLogger(__name__)

# Routing stops starting new sweeps after this many seconds, well inside the soft limit, so a
# long backlog is worked off over several ticks instead of being killed mid-batch.
ROUTE_BUDGET_SECONDS = 20.0
MAX_DELIVERY_RETRIES = 3


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def mentions_route_task() -> int:
    """Route unrouted mentions into cases until none are left or the time budget is spent.

    Idempotent and safe to overlap: each batch locks its rows with SKIP LOCKED and marks them
    routed in the same transaction. Touches cases, case mentions, author standings, care
    settings and MentionMatch.routed_at / route_error (see routing.mentions_route). A row
    that cannot be routed is marked with its error and never stops the others.
    """
    started = time.monotonic()
    routed = failed = 0
    while time.monotonic() - started < ROUTE_BUDGET_SECONDS:
        result = mentions_route()
        routed += result.routed
        failed += result.failed
        # A sweep whose rows all failed still moved on (they are marked): keep going.
        if result.routed + result.failed == 0:
            break
    if routed or failed:
        logger.info(
            "routed %d mentions (%d failed)",
            routed,
            failed,
            extra={"routed": routed, "failed": failed},
        )
    return routed


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def cases_priority_refresh_task() -> int:
    """Refresh the waiting part of every unresolved case's priority. Idempotent; touches
    Case.priority, priority_band and priority_parts only."""
    return cases_priority_refresh()


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def followups_evaluate_task() -> int:
    """Start missing follow-up windows and close the passed ones; drop the brand replies that
    waited too long for the post they answer, and send back to routing the ones whose post
    is in a case by now. Idempotent; touches Case.followup_until, compound_before,
    compound_after and outcome, WaitingBrandReply and MentionMatch.routed_at. Returns the
    number of cases changed."""
    waiting_replies_expire()
    waiting_replies_requeue()
    return followups_evaluate()


@shared_task(
    # The name it had in engagement/reply_tasks.py: replies queued before an upgrade are still
    # delivered by a worker that runs this module.
    name="engagement.reply_tasks.reply_deliver_task",
    bind=True,
    acks_late=True,
    autoretry_for=(SourceUnavailable,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_DELIVERY_RETRIES,
    soft_time_limit=60,
    time_limit=90,
)
def reply_deliver_task(self, reply_id: int) -> None:
    """Deliver one reply. Idempotent (reply_deliver never posts a sent reply twice); touches
    that Reply. Only transient failures (timeouts, 429, 5xx) are retried, with exponential
    backoff and jitter; every attempt is recorded on the reply, and the last one that fails
    marks it failed with the reason. A reply that is gone is a quiet no-op.
    """
    reply_deliver(reply_id=reply_id, is_final_attempt=self.request.retries >= self.max_retries)


# --- Per-brand sentiment models (issue 13, engagement.learning) ------------------------------

# Training reads at most learning.MAX_TRAINING_EXAMPLES corrections (and as many confirmed
# labels): a few thousand train in under a minute on one core, most of it embedding the texts
# (about 100/s); the largest, 40,000 examples, in an estimated 8-10 minutes.
TRAIN_SOFT_LIMIT, TRAIN_HARD_LIMIT = 1500, 1800


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def sentiment_models_dispatch_task() -> int:
    """Start one training per brand due one (beat). Idempotent while they run; touches
    SentimentModel (a new row per training started)."""
    started = sentiment_models_dispatch()
    if started:
        logger.info("started %d sentiment model trainings", len(started), extra={"ids": started})
    return len(started)


@shared_task(acks_late=True, soft_time_limit=TRAIN_SOFT_LIMIT, time_limit=TRAIN_HARD_LIMIT)
def sentiment_model_train_task(sentiment_model_id: int) -> None:
    """Train, validate and maybe switch to one brand model. Idempotent (a finished model is
    left alone); failures are recorded on the model, not retried."""
    sentiment_model_train(model_id=sentiment_model_id)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def sentiment_rescore_batch_task(sentiment_rescore_id: int) -> None:
    """Relabel one batch of a brand's matches after its scorer changed, then enqueue the
    next batch. Idempotent (the cursor moves in the batch's transaction); a failure is
    recorded on the rescoring (the admin can resume it)."""
    try:
        more = sentiment_rescore_batch(rescore_id=sentiment_rescore_id)
    except Exception as error:
        logger.exception(
            "sentiment_rescore_id=%s: batch failed",
            sentiment_rescore_id,
            extra={"sentiment_rescore_id": sentiment_rescore_id},
        )
        sentiment_rescore_fail(
            rescore_id=sentiment_rescore_id, error=f"{type(error).__name__}: {error}"
        )
        return
    if more:
        sentiment_rescore_batch_task.delay(sentiment_rescore_id)
