"""Follow-up: did the author's tone change after the brand answered?

After the first response the author's later mentions of the brand are watched for
``followup_days`` (``followup_until`` = first response + followup_days).
``compound_before`` is the mean compound (Earshot's, ``Mention.our_compound``) of the author's
mentions of the brand from the case's opening up to the first response; ``compound_after`` the
mean of those after it, inside the window. Mentions Earshot left unscored (their language)
have no compound and are left out. Outcome: converted (before < -0.05 and after >= 0.05),
else improved (after - before >= 0.2), else worsened (before - after >= 0.2), else unchanged.
The outcome is a running one: it is recorded as soon as a later mention arrives and updated
by each later one inside the window; ``followups_evaluate`` closes the cases whose window
passed without a later mention as "no further word". The first response is what routing computes
from the brand answers linked to the case (engagement/routing.py): when a brand reply that
arrives late moves it, the window and the before/after split move with it, and the outcome is
evaluated again (``followups_on_route``). History cases follow the same rules on their data.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.utils import timezone

from engagement.care import care_settings_for, chunks_by_pk, shifted
from engagement.models import Case
from listening.models import Mention, MentionMatch, our_compound_sql

logger = logging.getLogger(__name__)

REFRESH_CHUNK = 1000

CONVERTED_BEFORE_BELOW = -0.05
CONVERTED_AFTER_AT_LEAST = 0.05
CHANGE_AT_LEAST = 0.2


def _outcome(before: float, after: float) -> str:
    if before < CONVERTED_BEFORE_BELOW and after >= CONVERTED_AFTER_AT_LEAST:
        return Case.Outcome.CONVERTED
    if after - before >= CHANGE_AT_LEAST:
        return Case.Outcome.IMPROVED
    if before - after >= CHANGE_AT_LEAST:
        return Case.Outcome.WORSENED
    return Case.Outcome.UNCHANGED


def author_compounds(
    cases: Sequence[Case], *, until: datetime
) -> dict[tuple[int, int], list[tuple[datetime, float]]]:
    """{(brand_id, author_id): [(published_at, compound), ...]} for the cases' authors, from
    the earliest opening up to ``until``, with Earshot's compound (unscored mentions left
    out). One query. The brand's own replies are never among them: their author is a brand
    handle, not the case's author."""
    if not cases:
        return {}
    since = min(c.opened_at for c in cases)
    rows = MentionMatch.objects.filter(
        brand_id__in={c.brand_id for c in cases},
        mention__author_id__in={c.author_id for c in cases},
        published_at__gte=since,
        published_at__lte=until,
    ).values_list("brand_id", "mention__author_id", "published_at", our_compound_sql("mention__"))
    found: dict[tuple[int, int], list[tuple[datetime, float]]] = defaultdict(list)
    for brand_id, author_id, published_at, compound in rows:
        if compound is not None:
            found[(brand_id, author_id)].append((published_at, compound))
    return found


def followup_apply(case: Case, series: Iterable[tuple[datetime, float]], *, now: datetime) -> bool:
    """Set compound_before/after and the (running or final) outcome. True when changed."""
    assert case.first_response_at is not None and case.followup_until is not None
    before = [c for at, c in series if case.opened_at <= at <= case.first_response_at]
    after = [c for at, c in series if case.first_response_at < at <= case.followup_until]
    old = (case.compound_before, case.compound_after, case.outcome)
    case.compound_before = round(sum(before) / len(before), 4) if before else None
    if after:
        case.compound_after = round(sum(after) / len(after), 4)
        case.outcome = _outcome(case.compound_before or 0.0, case.compound_after)
    else:
        # Nothing said since the first response (it may have moved later, past what was
        # "after" before): still watching, or no further word once the window has passed.
        case.compound_after = None
        passed = now >= case.followup_until
        case.outcome = Case.Outcome.NO_FURTHER_WORD if passed else Case.Outcome.PENDING
    return old != (case.compound_before, case.compound_after, case.outcome)


FOLLOWUP_FIELDS = ["compound_before", "compound_after", "outcome"]


def followups_evaluate(*, now: datetime | None = None) -> int:
    """Start follow-up windows that have none yet and close the windows that have passed.

    Idempotent. Touches Case.followup_until (set from first_response_at + the brand's
    followup_days where missing, e.g. after an agent's reply), compound_before,
    compound_after and outcome. Cases whose window passed are given their final outcome,
    "no further word" when the author said nothing more. A window that would end past year
    9999 ends on LATEST; a case that still fails is logged with its id and skipped, and the
    other cases go on (issue 9). Returns the number of cases changed.
    """
    now = now or timezone.now()
    changed = 0
    # Uses case_followup_idx (followup_until IS NULL, outcome = '').
    starting = list(
        Case.objects.filter(
            outcome=Case.Outcome.PENDING,
            followup_until__isnull=True,
            first_response_at__isnull=False,
        )
    )
    if starting:
        days = care_settings_for({c.brand_id for c in starting})
        started = []
        for case in starting:
            try:
                case.followup_until = shifted(
                    case.first_response_at, days=days[case.brand_id].followup_days
                )
            except Exception:
                logger.exception(
                    "case_id=%s: follow-up window not started", case.pk, extra={"case_id": case.pk}
                )
                continue
            started.append(case)
        Case.objects.bulk_update(started, ["followup_until"])
        changed += len(started)

    # Uses case_followup_idx (followup_until <= now, outcome = '').
    queryset = Case.objects.filter(
        outcome=Case.Outcome.PENDING, followup_until__lte=now, first_response_at__isnull=False
    )
    for chunk in chunks_by_pk(queryset, size=REFRESH_CHUNK):
        series = author_compounds(
            [c for c in chunk if c.author_id], until=max(c.followup_until for c in chunk)
        )
        dirty = []
        for case in chunk:
            try:
                if followup_apply(case, series.get((case.brand_id, case.author_id), []), now=now):
                    dirty.append(case)
            except Exception:
                logger.exception(
                    "case_id=%s: follow-up not evaluated", case.pk, extra={"case_id": case.pk}
                )
        Case.objects.bulk_update(dirty, FOLLOWUP_FIELDS)
        changed += len(dirty)
    return changed


def followups_on_route(
    *,
    restarted: Sequence[Case],
    counted: Sequence[tuple[int, Mention]],
    by_author: dict[tuple[int, int], list[Case]],
    now: datetime,
) -> list[Case]:
    """Evaluate the follow-up of the cases routing just changed, on the instances: the
    ``restarted`` ones (their first response moved, so the before/after split moved) and the
    answered cases whose author spoke again inside the window (the running outcome).

    ``counted`` are the routed customer mentions as (brand_id, mention); ``by_author`` the
    cases routing loaded, by (brand_id, author_id). Idempotent for the same mentions. Reads
    MentionMatch once; writes nothing (the caller saves FOLLOWUP_FIELDS of the cases
    returned, the ones whose follow-up changed).
    """
    pairs = {(b, m.author_id) for b, m in counted}
    watched = {
        id(c): c
        for cases in (by_author.get(p, []) for p in pairs)
        for c in cases
        if c.first_response_at is not None
        and c.followup_until is not None
        and c.outcome != Case.Outcome.NO_FURTHER_WORD
        and any(
            (b, m.author_id) == (c.brand_id, c.author_id)
            and c.first_response_at < m.published_at <= c.followup_until
            for b, m in counted
        )
    }
    watched.update(
        {id(c): c for c in restarted if c.first_response_at is not None and c.followup_until}
    )
    cases = [c for c in watched.values() if c.author_id]
    if not cases:
        return []
    series = author_compounds(cases, until=max(c.followup_until for c in cases))
    return [
        c for c in cases if followup_apply(c, series.get((c.brand_id, c.author_id), []), now=now)
    ]
