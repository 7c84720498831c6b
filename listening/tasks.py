"""Celery tasks: thin wrappers that load ids and call services (tested without Celery)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from listening.search import search_index_catch_up
from listening.services import fetchlogs_interrupted_mark, source_poll, sources_dispatch_due

logger = logging.getLogger(__name__)

MAX_POLL_RETRIES = 3
# The poll's hard time limit: a fetch log still unfinished after this long was killed.
POLL_TIME_LIMIT = 300


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=MAX_POLL_RETRIES,
    soft_time_limit=240,
    time_limit=POLL_TIME_LIMIT,
)
def source_poll_task(self, source_id: int) -> None:
    """Poll one source. Idempotent (see services.items_store); touches the source's mentions,
    authors, fetch log and health. Retries only transient failures (timeouts, 429, 5xx), with
    exponential backoff and jitter; parse errors and 4xx are recorded and not retried. The
    retries of one poll count one failure on the source, not one each.
    """
    # A retry is the same poll again: its failure is not counted a second time.
    result = source_poll(source_id=source_id, is_retry=self.request.retries > 0)
    if result is None or not result.is_transient_failure:
        return
    if self.request.retries >= self.max_retries:
        # Recorded in the fetch log and backed off on the source: nothing to page anyone about.
        return
    from celery.utils.time import get_exponential_backoff_interval

    countdown = get_exponential_backoff_interval(
        factor=30, retries=self.request.retries, maximum=600, full_jitter=True
    )
    if result.retry_after:
        countdown = max(countdown, min(result.retry_after, 3600))
    raise self.retry(countdown=countdown)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def sources_dispatch_due_task() -> int:
    """Mark killed fetches as interrupted, then enqueue a poll for every source that is due.

    Safe to overlap (rows are claimed). Touches FetchLog and Source health (see
    services.fetchlogs_interrupted_mark) and Source.next_poll_at. Neither step stops the
    other, and one source that cannot be enqueued does not stop the rest (issue 9).
    """
    try:
        fetchlogs_interrupted_mark(older_than=timedelta(seconds=POLL_TIME_LIMIT))
    except Exception:
        logger.exception("could not mark interrupted fetches; dispatching anyway")
    # sources_dispatch_due has committed its claim, so a worker will find the rows as claimed.
    source_ids = sources_dispatch_due()
    queued = 0
    for source_id in source_ids:
        try:
            source_poll_task.delay(source_id)
        except Exception:
            # Its next poll time was pushed by the claim: it is polled again then.
            logger.exception(
                "source_id=%s: could not enqueue its poll",
                source_id,
                extra={"source_id": source_id},
            )
            continue
        queued += 1
    return queued


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def search_index_task() -> int:
    """Write the search documents of the mentions queued since the last run (listening.search).
    Safe to overlap (each batch takes ids no other run holds) and to kill (a batch rolls back
    into the queue)."""
    return search_index_catch_up()
