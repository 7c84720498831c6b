"""Celery tasks of the dashboard: thin wrappers around services (each tested without Celery)."""

from __future__ import annotations

import logging

from celery import shared_task

from dashboard.services import weekly_reports_send

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def weekly_reports_send_task() -> int:
    """Send the weekly report e-mails that are due (dashboard.services.weekly_reports_send).

    Beat runs it every hour, so each subscriber's e-mail goes out within the first hour of
    their local Monday. Idempotent and safe to overlap: each subscription's week is claimed
    with a conditional UPDATE before its e-mail is sent; a run with nothing due sends nothing.
    Never retried: the next hourly run picks up whatever this one did not send.
    """
    run = weekly_reports_send()
    if run.sent or run.dropped:
        logger.info(
            "sent %d weekly reports (%d subscriptions dropped: no access)",
            len(run.sent),
            len(run.dropped),
            extra={"sent": len(run.sent), "dropped": len(run.dropped)},
        )
    return len(run.sent)
