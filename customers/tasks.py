"""Celery tasks of customers: thin wrappers around customers.matching."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from customers.matching import AUTHOR_KEY_BATCH, MatchCounts, new_authors_match
from customers.services import customer_import_run

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


# An upload takes at most EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES (20 MB by default): about 80 s
# on a loaded 2-core machine; these limits leave room for ten times that.
@shared_task(acks_late=True, soft_time_limit=1500, time_limit=1800)
def customer_import_task(import_id: int) -> None:
    """Run an uploaded import that was too big for the request (customer_import_run).
    Never retried: a failure is recorded on the import, and re-uploading is safe."""
    customer_import_run(import_id=import_id)
