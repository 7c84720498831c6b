"""Celery tasks of customers: thin wrappers around customers.matching."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from customers.matching import AUTHOR_KEY_BATCH, MatchCounts, new_authors_match

logger = logging.getLogger(__name__)

# Stop starting batches after this many seconds, inside the soft limit: a first run over a
# million existing authors is worked off over several ticks.
MATCH_BUDGET_SECONDS = 40.0


@shared_task(acks_late=True, soft_time_limit=55, time_limit=70)
def new_authors_match_task() -> int:
    """Match authors stored since the last run with every brand's customers (exact handles
    confirmed, weaker rules suggested). Idempotent and safe to overlap (conflicts are
    ignored); never retried: the next beat tick carries on. Returns authors keyed."""
    started = time.monotonic()
    keyed, counts = 0, MatchCounts()
    while time.monotonic() - started < MATCH_BUDGET_SECONDS:
        batch, found = new_authors_match()
        keyed += batch
        counts += found
        if batch < AUTHOR_KEY_BATCH:
            break
    if counts.exact or counts.suggestions:
        logger.info(
            "matched new authors: %d exact, %d suggested",
            counts.exact,
            counts.suggestions,
            extra={"authors": keyed, "exact": counts.exact, "suggestions": counts.suggestions},
        )
    return keyed
