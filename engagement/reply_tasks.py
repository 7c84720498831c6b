"""Celery task that delivers agents' replies through the source's connector."""

from __future__ import annotations

from celery import shared_task

from engagement.services import reply_deliver
from listening.connectors.base import SourceUnavailable

MAX_DELIVERY_RETRIES = 3


@shared_task(
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
