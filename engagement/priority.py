"""Priority: how urgently a case needs an agent, as a score with the parts that explain it.

Priority is 0-100, recomputed on every routed mention (``case_priority``):
* negativity, up to 40: 40 x the most negative compound in the case (0 when none < 0): Earshot's
  compound (``Mention.our_compound``); a mention Earshot left unscored (its language) has none
  and is never ranked as negative;
* reach, up to 25: 25 x log10(1 + followers) / 6 (a million followers is full marks), using
  the largest follower count the case's mentions carry (as of each mention);
* spread, up to 20: 20 x log10(1 + r) / 2 where r is replies + reposts per hour since
  publication of the case's most-engaged mention (full marks at 100 per hour; 0 when the
  source gives no counts);
* waiting, up to 15: 12 x the fraction of the first-response SLA used (of the resolution
  SLA once answered; 0 while waiting on the customer), plus 3 when overdue.
Bands: high >= 60, medium >= 35, else low. ``cases_priority_refresh`` recomputes only the
waiting part of every unresolved case once a minute.

The negativity, reach and spread parts name the post they come from (``mention_id``, the
Mention's primary key; the earliest post when several tie), so the case page can show it.
Parts stored before that carry no ``mention_id``; readers must allow for it. A history case
(``Case.is_history``) has no priority: 0, band low, no parts.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from engagement.care import chunks_by_pk
from engagement.models import Case
from listening.models import Mention

logger = logging.getLogger(__name__)

REFRESH_CHUNK = 1000

NEGATIVITY_POINTS = 40.0
REACH_POINTS = 25.0
SPREAD_POINTS = 20.0
WAITING_POINTS = 12.0
OVERDUE_POINTS = 3.0
HIGH_BAND = 60.0
MEDIUM_BAND = 35.0
_REACH_FULL_LOG = 6.0  # log10(1 + followers) at which reach is full: a million followers
_SPREAD_FULL_LOG = 2.0  # log10(1 + rate) at which spread is full: 100 replies+reposts / hour
_SPREAD_MIN_HOURS = 0.25  # a post a minute old with 5 replies is not spreading at 300 / hour


def _band(score: float) -> str:
    if score >= HIGH_BAND:
        return "high"
    if score >= MEDIUM_BAND:
        return "medium"
    return "low"


def _minutes(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() / 60))


def _waiting_part(case: Case, *, now: datetime) -> dict:
    if case.status == Case.Status.RESOLVED:
        return {"points": 0.0, "text": "resolved"}
    if case.first_response_at is None:
        due, start, what = case.first_response_due, case.opened_at, "first response"
    elif case.status == Case.Status.WAITING:
        return {"points": 0.0, "text": "waiting on the customer"}
    else:
        due, start, what = case.resolution_due, case.opened_at, "resolution"
    if due is None or start is None or due <= start:
        return {"points": 0.0, "text": "no SLA"}
    waited, target = _minutes(now - start), max(1, _minutes(due - start))
    fraction = (now - start) / (due - start)
    points = WAITING_POINTS * min(max(fraction, 0.0), 1.0)
    if now > due:
        points += OVERDUE_POINTS
        text = f"overdue: waited {waited:,} of {target:,} min for {what}"
    else:
        text = f"waited {waited:,} of {target:,} min for {what}"
    return {"points": round(points, 1), "text": text}


def priority_waiting_update(case: Case, *, now: datetime) -> None:
    """Recompute the waiting part of a case's priority (and so its score and band) on the
    instance, keeping the parts routing gave it: after its status or first response changed,
    and once a minute for every unresolved case (cases_priority_refresh)."""
    parts = dict(case.priority_parts or {})
    parts["waiting"] = _waiting_part(case, now=now)
    score = round(min(100.0, sum(p.get("points", 0.0) for p in parts.values())), 1)
    case.priority, case.priority_band, case.priority_parts = score, _band(score), parts


def case_priority(
    case: Case, *, mentions: Sequence[Mention], now: datetime
) -> tuple[float, str, dict]:
    """Score (0-100), band and explained parts of a case from its customer mentions.

    Pure: reads only the arguments (mentions should be the case's customer mentions with
    compound, author_followers, reply_count, repost_count, published_at; an author loaded on
    them is used when a mention carries no follower count).
    """
    parts: dict[str, dict] = {}
    # Ties go to the earliest post (then the lowest id), so the post named does not depend
    # on the order the mentions come in.
    ordered = sorted(mentions, key=lambda m: (m.published_at, m.pk or 0))
    scored = [m for m in ordered if m.our_compound is not None]
    worst_mention = min(scored, key=lambda m: m.our_compound, default=None)
    worst = worst_mention.our_compound if worst_mention is not None else 0.0
    if worst_mention is not None:
        text = f"most negative compound {worst:+.2f}"
    else:
        text = "no scored mentions (their language)" if mentions else "no mentions"
    parts["negativity"] = {
        "points": round(NEGATIVITY_POINTS * max(0.0, -worst), 1),
        "text": text,
    }
    if worst_mention is not None:
        parts["negativity"]["mention_id"] = worst_mention.pk

    followers, reach_mention = None, None
    for m in ordered:
        count = m.author_followers
        if count is None and m.author_id is not None and Mention.author.is_cached(m):
            count = m.author.followers
        if count is not None and (followers is None or count > followers):
            followers, reach_mention = count, m
    if followers is None:
        parts["reach"] = {"points": 0.0, "text": "followers unknown"}
    else:
        points = REACH_POINTS * min(1.0, math.log10(1 + followers) / _REACH_FULL_LOG)
        label = "follower" if followers == 1 else "followers"
        parts["reach"] = {
            "points": round(points, 1),
            "text": f"{followers:,} {label}",
            "mention_id": reach_mention.pk,
        }

    best_rate, best_engaged, spread_mention = None, -1, None
    for m in ordered:
        if m.reply_count is None and m.repost_count is None:
            continue
        engaged = (m.reply_count or 0) + (m.repost_count or 0)
        if engaged > best_engaged:
            hours = max((now - m.published_at).total_seconds() / 3600, _SPREAD_MIN_HOURS)
            best_engaged, best_rate, spread_mention = engaged, engaged / hours, m
    if best_rate is None:
        parts["spread"] = {"points": 0.0, "text": "no reply or repost counts"}
    else:
        points = SPREAD_POINTS * min(1.0, math.log10(1 + best_rate) / _SPREAD_FULL_LOG)
        shown = (
            f"{best_rate:,.0f}" if best_rate >= 10 else f"{best_rate:.1f}".rstrip("0").rstrip(".")
        )
        parts["spread"] = {
            "points": round(points, 1),
            "text": f"{shown} replies/reposts per hour",
            "mention_id": spread_mention.pk,
        }

    parts["waiting"] = _waiting_part(case, now=now)
    score = round(min(100.0, sum(p["points"] for p in parts.values())), 1)
    return score, _band(score), parts


def priority_set(case: Case, *, mentions: Sequence[Mention], now: datetime) -> None:
    """Score the case from its customer mentions (case_priority) and set it on the instance."""
    case.priority, case.priority_band, case.priority_parts = case_priority(
        case, mentions=mentions, now=now
    )


def cases_priority_refresh(*, now: datetime | None = None) -> int:
    """Recompute the waiting part (and so the score and band) of every unresolved case.

    Idempotent for a given ``now``. Touches Case.priority, priority_band and priority_parts
    only, in chunks with one bulk UPDATE each; the other parts keep the values routing gave
    them. A case that cannot be scored (its stored parts edited into nonsense, say) is logged
    with its id and left as it is; the other cases are refreshed (issue 9). Returns the number
    of cases whose priority changed.
    """
    now = now or timezone.now()
    changed = 0
    fields = ["id", "status", "opened_at", "first_response_at", "first_response_due"]
    fields += ["resolution_due", "priority", "priority_band", "priority_parts"]
    # Keyset pages over the unresolved cases: case_unresolved_idx.
    queryset = Case.objects.exclude(status=Case.Status.RESOLVED).only(*fields)
    for chunk in chunks_by_pk(queryset, size=REFRESH_CHUNK):
        dirty = []
        for case in chunk:
            before = (case.priority, case.priority_band, case.priority_parts)
            try:
                priority_waiting_update(case, now=now)
                _check_storable(case.priority_parts)
            except Exception:
                logger.exception(
                    "case_id=%s: priority not refreshed", case.pk, extra={"case_id": case.pk}
                )
                continue
            if (case.priority, case.priority_band, case.priority_parts) != before:
                dirty.append(case)
        if dirty:
            Case.objects.bulk_update(dirty, ["priority", "priority_band", "priority_parts"])
            changed += len(dirty)
    return changed


def _check_storable(parts: object) -> None:
    """Raise ValueError for what PostgreSQL's json type refuses (NaN, Infinity), before the
    chunk's one UPDATE would fail for every case in it."""
    json.dumps(parts, allow_nan=False)
