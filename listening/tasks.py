"""Celery tasks: thin wrappers that load ids and call services (tested without Celery)."""

from __future__ import annotations

import logging

from celery import shared_task

from listening.services import source_poll, sources_dispatch_due

logger = logging.getLogger(__name__)

MAX_POLL_RETRIES = 3


@shared_task(
    bind=True, acks_late=True, max_retries=MAX_POLL_RETRIES, soft_time_limit=240, time_limit=300
)
def source_poll_task(self, source_id: int) -> None:
    """Poll one source. Idempotent (see services.items_store); touches the source's mentions,
    authors, fetch log and health. Retries only transient failures (timeouts, 429, 5xx), with
    exponential backoff and jitter; parse errors and 4xx are recorded and not retried.
    """
    result = source_poll(source_id=source_id)
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
    """Enqueue a poll for every source that is due. Safe to overlap (rows are claimed)."""
    # sources_dispatch_due has committed its claim, so a worker will find the rows as claimed.
    source_ids = sources_dispatch_due()
    for source_id in source_ids:
        source_poll_task.delay(source_id)
    return len(source_ids)
