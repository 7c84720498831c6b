"""Routing: turn each brand's new mentions into cases, and keep priority, follow-up and standing.

The router sweeps MentionMatch rows whose ``routed_at`` is empty (oldest first, in batches) and
decides, per (mention, brand), what the mention is to the brand's care team. Everything below is
what the README says about the queue.

Brand replies
    A mention whose author handle is one of the brand's own handles (``Brand.handle_list``,
    compared case-insensitively, ignoring a leading "@" and any "@instance" suffix) is the
    brand answering on the platform. If it replies in a thread that has a case (its
    ``thread_id`` or ``in_reply_to`` is the case's ``thread_id``) it joins that case as a brand
    reply: the case's first response is set to the reply's published time (if not set yet), the
    case waits on the customer, and the follow-up window starts. Otherwise it is skipped. This
    holds for imported past conversations too, so response-time KPIs stay true.

What needs an answer (per brand, tuned in CareSettings)
    * negative: compound <= ``negative_threshold`` (default -0.05);
    * a question (if ``answer_questions``): the text contains "?" or starts with who, what,
      when, where, why, how, can, could, is, are, do, does or will, and is not positive;
    * addressed (if ``answer_addressed``): the text mentions one of the brand's own handles,
      e.g. "@acme_help".
    A mention that needs an answer goes to a *care* case (the main queue). A positive mention
    that needs none goes to an *advocate* case (thank, like, share). A neutral one that needs
    none gets no case, unless it replies in a thread whose case is still open (then it is part
    of that conversation and joins it).

Joining, first rule that applies
    1. The thread's case: a case of the brand whose ``thread_id`` is the mention's thread id.
       Not resolved: join it. Resolved within ``reopen_window_hours`` and the mention is
       negative: reopen it.
    2. The author's open case of the brand of the same kind (care or advocate): join it.
    3. The author's care case resolved within ``reopen_window_hours``, if the mention is
       negative: reopen it (status open, ``reopened_count`` + 1, resolution due again).
    4. Otherwise open a new case: status new, subject the first 140 characters, opened at the
       mention's published time, first response and resolution due after the brand's SLA.
    A customer mention joining a case that waits on the customer sets it back to open.

Priority (0-100, recomputed on every routed mention; ``case_priority``)
    * negativity, up to 40: 40 x the most negative compound in the case (0 when none < 0);
    * reach, up to 25: 25 x log10(1 + followers) / 6 (a million followers is full marks), using
      the largest follower count the case's mentions carry (as of each mention);
    * spread, up to 20: 20 x log10(1 + r) / 2 where r is replies + reposts per hour since
      publication of the case's most-engaged mention (full marks at 100 per hour; 0 when the
      source gives no counts);
    * waiting, up to 15: 12 x the fraction of the first-response SLA used (of the resolution
      SLA once answered; 0 while waiting on the customer), plus 3 when overdue.
    Bands: high >= 60, medium >= 35, else low. ``cases_priority_refresh`` recomputes only the
    waiting part of every unresolved case once a minute.

Similar requests
    ``similarity_key``: SHA-256 of the normalised text of the case's first mention (casefolded;
    URLs, @handles, #tags, numbers and punctuation removed; whitespace collapsed).
    ``phrase_key``: "<day>:<phrase>" where the phrase is the most frequent bigram of adjacent
    words of the first mention in which neither word is a stopword, a brand term (the brand's
    name, query terms and handles), a sentiment word (in VADER's lexicon), a number, or shorter
    than 3 letters; ties go to the first. The day is the mention's local date. Cases of the same
    brand and kind, not resolved, that share either key are shown as a group (``similar_cases``).

Author standing (``AuthorStanding``, per author and brand, updated as mentions are routed)
    Counts every routed mention of the brand by the author (brand replies excluded):
    * advocate: at least 3 positive mentions, and positive ones are at least 2/3 of all;
    * detractor: at least 2 negative mentions, and negative ones are at least 1/2 of all;
    * neutral otherwise.

No row blocks the others (issue 9)
    A batch that raises is routed again one row at a time; a row that still raises is marked
    routed with ``MentionMatch.route_error`` (shown in the admin's mention page, with a
    "could not be routed" filter), logged, and kept out of the queue. Times are shifted with
    ``shifted``, which holds them between EARLIEST and LATEST instead of overflowing; a
    mention dated before EARLIEST is placed at EARLIEST. To route a marked row again after a
    fix, clear its ``routed_at`` and ``route_error``. ``cases_priority_refresh`` and
    ``followups_evaluate`` log and skip a case they cannot handle.

Follow-up (did the tone change?)
    After the first response the author's later mentions of the brand are watched for
    ``followup_days`` (``followup_until`` = first response + followup_days).
    ``compound_before`` is the mean compound of the author's mentions of the brand from the
    case's opening up to the first response; ``compound_after`` the mean of those after it,
    inside the window. Outcome: converted (before < -0.05 and after >= 0.05), else improved
    (after - before >= 0.2), else worsened (before - after >= 0.2), else unchanged. The outcome
    is a running one: it is recorded as soon as a later mention arrives and updated by each
    later one inside the window; ``followups_evaluate`` closes the cases whose window passed
    without a later mention as "no further word".
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from engagement.models import AuthorStanding, AutoTagRule, CareSettings, Case, CaseMention
from listening.models import Author, Brand, Mention, MentionMatch
from listening.query import CompiledQuery, MatchDocument, QueryError, compile_query
from listening.sentiment import get_analyzer
from listening.text import handle_normalise

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
REFRESH_CHUNK = 1000
SUBJECT_LENGTH = 140

_QUESTION_WORDS_TEXT = "who what when where why how can could is are do does will"
QUESTION_WORDS = frozenset(_QUESTION_WORDS_TEXT.split())
_QUESTION_START_RE = re.compile(r"^\W*([a-z]+)\b(?!['’])")

# Priority parts and bands.
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

# Standing rule.
ADVOCATE_MIN_POSITIVE = 3
ADVOCATE_MIN_SHARE = 2 / 3
DETRACTOR_MIN_NEGATIVE = 2
DETRACTOR_MIN_SHARE = 1 / 2

# Follow-up outcome rule.
CONVERTED_BEFORE_BELOW = -0.05
CONVERTED_AFTER_AT_LEAST = 0.05
CHANGE_AT_LEAST = 0.2

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE_OR_TAG_RE = re.compile(r"(?<!\w)[@#][\w.@-]*\w")
_NOT_LETTERS_RE = re.compile(r"[\W\d_]+")
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each even
    ever every few for from further get gets got had has have having he her here hers herself
    him himself his how i if in into is it its itself just let me more most my myself no nor
    not now of off on once only or other ought our ours ourselves out over own please same she
    should so some still such than that the their theirs them themselves then there these they
    this those through to too under until up very via was we were what when where which while
    who whom why will with would yet you your yours yourself yourselves again already always
    anyone anything back day days doesn don dont cant didnt isnt wont im ive its thats week
    today yesterday tomorrow since new one two really much many make made going know need
want trying tried like"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# The times a shifted time is held to instead of raising OverflowError: a day inside
# datetime's range, so every time zone can still show them (issue 9).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
ROUTE_ERROR_LENGTH = 1000

# Errors of the connection or the server (lost connection, deadlock, shutdown), not of a row:
# routing leaves the batch unrouted for the next run instead of blaming its rows.
# Celery's soft time limit is an Exception too: the task ran out of time, the rows are fine.
_NOT_THE_ROWS_FAULT = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


def shifted(at: datetime, **delta: float) -> datetime:
    """``at + timedelta(**delta)``, held between EARLIEST and LATEST: a year-1 date already
    stored or a huge care setting gives a far time instead of an OverflowError that would stop
    every brand's routing (issue 9)."""
    try:
        moved = at + timedelta(**delta)
    except OverflowError:
        return LATEST if sum(delta.values()) > 0 else EARLIEST
    return min(max(moved, EARLIEST), LATEST)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ROUTE_ERROR_LENGTH]


# --- Small pure helpers ---------------------------------------------------------------------


def _own_handles(brand: Brand) -> frozenset[str]:
    return brand.own_handle_keys


def _is_question(text: str) -> bool:
    if "?" in text:
        return True
    found = _QUESTION_START_RE.match(text.casefold())
    return bool(found and found.group(1) in QUESTION_WORDS)


def _needs_answer(
    *, mention: Mention, doc: MatchDocument, care: CareSettings, own: frozenset[str]
) -> bool:
    if mention.compound <= care.negative_threshold:
        return True
    if (
        care.answer_questions
        and mention.label != Mention.Label.POSITIVE
        and _is_question(mention.text)
    ):
        return True
    return bool(care.answer_addressed and own and own & doc.handles)


def text_normalise(text: str) -> str:
    """Casefolded text without URLs, @handles, #tags, numbers and punctuation."""
    text = _URL_RE.sub(" ", unicodedata.normalize("NFKC", text))
    text = _HANDLE_OR_TAG_RE.sub(" ", text)
    return " ".join(_NOT_LETTERS_RE.sub(" ", text.casefold()).split())


def similarity_key_for(text: str) -> str:
    """The similarity key of a text: SHA-256 of its normalised form, or "" when nothing is left."""
    normalised = text_normalise(text)
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else ""


def _brand_terms(brand: Brand) -> frozenset[str]:
    words = set(text_normalise(brand.name).split())
    words.update(text_normalise(re.sub(r"[@#]", " ", brand.query)).split())
    words.update(text_normalise(" ".join(_own_handles(brand)).replace("_", " ")).split())
    words.update(_own_handles(brand))
    return frozenset(words - {"and", "or", "not"})


def key_phrase_for(text: str, *, brand_terms: frozenset[str]) -> str:
    """The most frequent bigram of adjacent content words (see the module docstring)."""
    lexicon = get_analyzer().lexicon
    words = text_normalise(text).split()

    def is_content(word: str) -> bool:
        return (
            len(word) >= 3
            and word not in STOPWORDS
            and word not in brand_terms
            and word not in lexicon
        )

    bigrams = [
        f"{a} {b}"
        for a, b in zip(words, words[1:], strict=False)
        if is_content(a) and is_content(b)
    ]
    if not bigrams:
        return ""
    counts = Counter(bigrams)
    best = max(counts.values())
    return next(b for b in bigrams if counts[b] == best)


def _phrase_key(*, text: str, published_at: datetime, brand_terms: frozenset[str]) -> str:
    phrase = key_phrase_for(text, brand_terms=brand_terms)
    if not phrase:
        return ""
    try:
        day = timezone.localtime(published_at).date().isoformat()
    except OverflowError:  # year 1 west of UTC is year 0 locally
        day = published_at.astimezone(UTC).date().isoformat()
    return f"{day}:{phrase}"[:120]


# --- Priority -------------------------------------------------------------------------------


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
    worst = min((m.compound for m in mentions), default=0.0)
    parts["negativity"] = {
        "points": round(NEGATIVITY_POINTS * max(0.0, -worst), 1),
        "text": f"most negative compound {worst:+.2f}" if mentions else "no mentions",
    }

    followers = None
    for m in mentions:
        count = m.author_followers
        if count is None and m.author_id is not None and Mention.author.is_cached(m):
            count = m.author.followers
        if count is not None and (followers is None or count > followers):
            followers = count
    if followers is None:
        parts["reach"] = {"points": 0.0, "text": "followers unknown"}
    else:
        points = REACH_POINTS * min(1.0, math.log10(1 + followers) / _REACH_FULL_LOG)
        label = "follower" if followers == 1 else "followers"
        parts["reach"] = {"points": round(points, 1), "text": f"{followers:,} {label}"}

    best_rate, best_engaged = None, -1
    for m in mentions:
        if m.reply_count is None and m.repost_count is None:
            continue
        engaged = (m.reply_count or 0) + (m.repost_count or 0)
        if engaged > best_engaged:
            hours = max((now - m.published_at).total_seconds() / 3600, _SPREAD_MIN_HOURS)
            best_engaged, best_rate = engaged, engaged / hours
    if best_rate is None:
        parts["spread"] = {"points": 0.0, "text": "no reply or repost counts"}
    else:
        points = SPREAD_POINTS * min(1.0, math.log10(1 + best_rate) / _SPREAD_FULL_LOG)
        shown = (
            f"{best_rate:,.0f}" if best_rate >= 10 else f"{best_rate:.1f}".rstrip("0").rstrip(".")
        )
        parts["spread"] = {"points": round(points, 1), "text": f"{shown} replies/reposts per hour"}

    parts["waiting"] = _waiting_part(case, now=now)
    score = round(min(100.0, sum(p["points"] for p in parts.values())), 1)
    return score, _band(score), parts


def _priority_set(case: Case, *, mentions: Sequence[Mention], now: datetime) -> None:
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
    queryset = Case.objects.exclude(status=Case.Status.RESOLVED).only(*fields).order_by("pk")
    last_pk = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_pk)[:REFRESH_CHUNK])
        if not chunk:
            break
        last_pk = chunk[-1].pk
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


# --- Follow-up ------------------------------------------------------------------------------


def _outcome(before: float, after: float) -> str:
    if before < CONVERTED_BEFORE_BELOW and after >= CONVERTED_AFTER_AT_LEAST:
        return Case.Outcome.CONVERTED
    if after - before >= CHANGE_AT_LEAST:
        return Case.Outcome.IMPROVED
    if before - after >= CHANGE_AT_LEAST:
        return Case.Outcome.WORSENED
    return Case.Outcome.UNCHANGED


def _author_compounds(
    cases: Sequence[Case], *, until: datetime
) -> dict[tuple[int, int], list[tuple[datetime, float]]]:
    """{(brand_id, author_id): [(published_at, compound), ...]} for the cases' authors, from
    the earliest opening up to ``until``. One query. The brand's own replies are never
    among them: their author is a brand handle, not the case's author."""
    if not cases:
        return {}
    since = min(c.opened_at for c in cases)
    rows = MentionMatch.objects.filter(
        brand_id__in={c.brand_id for c in cases},
        mention__author_id__in={c.author_id for c in cases},
        published_at__gte=since,
        published_at__lte=until,
    ).values_list("brand_id", "mention__author_id", "published_at", "mention__compound")
    found: dict[tuple[int, int], list[tuple[datetime, float]]] = defaultdict(list)
    for brand_id, author_id, published_at, compound in rows:
        found[(brand_id, author_id)].append((published_at, compound))
    return found


def _followup_apply(case: Case, series: Iterable[tuple[datetime, float]], *, now: datetime) -> bool:
    """Set compound_before/after and the (running or final) outcome. True when changed."""
    assert case.first_response_at is not None and case.followup_until is not None
    before = [c for at, c in series if case.opened_at <= at <= case.first_response_at]
    after = [c for at, c in series if case.first_response_at < at <= case.followup_until]
    old = (case.compound_before, case.compound_after, case.outcome)
    case.compound_before = round(sum(before) / len(before), 4) if before else None
    if after:
        case.compound_after = round(sum(after) / len(after), 4)
        case.outcome = _outcome(case.compound_before or 0.0, case.compound_after)
    elif now >= case.followup_until:
        case.compound_after = None
        case.outcome = Case.Outcome.NO_FURTHER_WORD
    return old != (case.compound_before, case.compound_after, case.outcome)


_FOLLOWUP_FIELDS = ["compound_before", "compound_after", "outcome"]


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
        days = _care_for({c.brand_id for c in starting})
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
    ).order_by("pk")
    last_pk = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_pk)[:REFRESH_CHUNK])
        if not chunk:
            break
        last_pk = chunk[-1].pk
        series = _author_compounds(
            [c for c in chunk if c.author_id], until=max(c.followup_until for c in chunk)
        )
        dirty = []
        for case in chunk:
            try:
                if _followup_apply(case, series.get((case.brand_id, case.author_id), []), now=now):
                    dirty.append(case)
            except Exception:
                logger.exception(
                    "case_id=%s: follow-up not evaluated", case.pk, extra={"case_id": case.pk}
                )
        Case.objects.bulk_update(dirty, _FOLLOWUP_FIELDS)
        changed += len(dirty)
    return changed


def author_trajectory(*, author: Author, brand: Brand) -> list[dict]:
    """The author's mentions of the brand in time order, with case markers, for the profile.

    Read-only. Each item is a dict with "at" and "kind": "mention" items carry mention_id,
    compound, label, text and case_id / case_kind / case_opened (the mention opened its case);
    "first_response" items carry case_id and the case's outcome, compound_before and
    compound_after. Two queries.
    """
    matches = (
        MentionMatch.objects.filter(brand=brand, mention__author=author)
        .select_related("mention")
        .order_by("published_at", "mention_id")
    )
    links = {
        link.mention_id: link
        for link in CaseMention.objects.filter(
            brand=brand, mention__author=author, is_brand_reply=False
        ).select_related("case")
    }
    points: list[dict] = []
    firsts: dict[int, Case] = {}
    seen_cases: set[int] = set()
    for match in matches:
        mention = match.mention
        link = links.get(mention.pk)
        case = link.case if link else None
        points.append(
            {
                "kind": "mention",
                "at": match.published_at,
                "mention_id": mention.pk,
                "compound": mention.compound,
                "label": mention.label,
                "text": mention.text,
                "case_id": case.pk if case else None,
                "case_kind": case.kind if case else "",
                "case_opened": bool(case and case.pk not in seen_cases),
            }
        )
        if case is not None:
            seen_cases.add(case.pk)
            if case.first_response_at is not None:
                firsts[case.pk] = case
    for case in firsts.values():
        points.append(
            {
                "kind": "first_response",
                "at": case.first_response_at,
                "case_id": case.pk,
                "outcome": case.outcome,
                "compound_before": case.compound_before,
                "compound_after": case.compound_after,
            }
        )
    points.sort(key=lambda p: (p["at"], p["kind"] != "mention"))
    return points


# --- Similar requests -----------------------------------------------------------------------


# The open statuses, spelled as the partial indexes' conditions.
OPEN_CASE_STATUSES = [Case.Status.NEW, Case.Status.OPEN, Case.Status.WAITING]

# A similar-requests group lists at most this many cases per key: enough to answer a wave of
# the same complaint at once, without sorting every case of a viral key on each case page.
SIMILAR_LIMIT = 200


def similar_cases(*, case: Case) -> QuerySet[Case]:
    """Unresolved cases of the same brand and kind that share the case's similarity key or
    phrase key (the case itself excluded), highest priority first, at most SIMILAR_LIMIT per
    key. Read-only. One ordered read of case_similar_open_idx / case_phrase_open_idx per key
    (an OR of both keys cannot be read in order and sorted the whole group: 53 ms with 20k)."""
    base = Case.objects.filter(
        brand_id=case.brand_id, kind=case.kind, status__in=OPEN_CASE_STATUSES
    ).exclude(pk=case.pk)
    ids: list[int] = []
    for key_field, value in (
        ("similarity_key", case.similarity_key),
        ("phrase_key", case.phrase_key),
    ):
        if value:
            ids += (
                base.filter(**{key_field: value})
                .order_by("-priority", "opened_at")
                .values_list("pk", flat=True)[:SIMILAR_LIMIT]
            )
    if not ids:
        return Case.objects.none()
    return (
        Case.objects.filter(pk__in=ids).select_related("author").order_by("-priority", "opened_at")
    )


# --- Routing --------------------------------------------------------------------------------


@dataclass(slots=True)
class RouteResult:
    """What a sweep did, one count per routed (mention, brand) except ``advocates``.

    opened: opened a new case; joined: added to an existing case; reopened: reopened a
    resolved case; brand_replies: recorded as the brand's answer on a case; skipped: routed
    without a case (neutral, or a brand reply outside any case's thread). advocates: how many
    of the opened or joined went to advocate cases. failed: marked routed with a route_error
    because routing them raised (not counted in ``routed``).
    """

    opened: int = 0
    joined: int = 0
    reopened: int = 0
    brand_replies: int = 0
    advocates: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def routed(self) -> int:
        return self.opened + self.joined + self.reopened + self.brand_replies + self.skipped

    def plus(self, other: RouteResult) -> RouteResult:
        return RouteResult(
            opened=self.opened + other.opened,
            joined=self.joined + other.joined,
            reopened=self.reopened + other.reopened,
            brand_replies=self.brand_replies + other.brand_replies,
            advocates=self.advocates + other.advocates,
            skipped=self.skipped + other.skipped,
            failed=self.failed + other.failed,
        )


@dataclass(slots=True)
class _BrandContext:
    brand: Brand
    care: CareSettings
    own: frozenset[str]
    terms: frozenset[str]
    rules: list[tuple[CompiledQuery, int]]


@dataclass(slots=True)
class _Batch:
    """The cases a batch may touch, indexed the ways routing looks them up."""

    now: datetime
    by_thread: dict[tuple[int, str], list[Case]] = field(default_factory=dict)
    by_author: dict[tuple[int, int], list[Case]] = field(default_factory=dict)
    new: list[Case] = field(default_factory=list)
    changed: dict[int, Case] = field(default_factory=dict)  # id(case) -> case
    mentions: dict[int, list[Mention]] = field(default_factory=lambda: defaultdict(list))
    links: list[tuple[Case, Mention, bool]] = field(default_factory=list)
    tags: set[tuple[int, int]] = field(default_factory=set)  # (id(case), tag_id)

    def index(self, case: Case) -> None:
        if case.thread_id:
            self.by_thread.setdefault((case.brand_id, case.thread_id), []).append(case)
        if case.author_id:
            self.by_author.setdefault((case.brand_id, case.author_id), []).append(case)

    def touch(self, case: Case) -> None:
        self.changed[id(case)] = case


def _care_for(brand_ids: set[int]) -> dict[int, CareSettings]:
    """The brands' CareSettings, creating defaults for brands that have none (2-3 queries)."""
    found = {c.brand_id: c for c in CareSettings.objects.filter(brand_id__in=brand_ids)}
    missing = brand_ids - set(found)
    if missing:
        CareSettings.objects.bulk_create(
            [CareSettings(brand_id=b) for b in sorted(missing)], ignore_conflicts=True
        )
        found.update({c.brand_id: c for c in CareSettings.objects.filter(brand_id__in=missing)})
    return found


def _brand_contexts(
    brand_ids: set[int], cache: dict[int, _BrandContext]
) -> dict[int, _BrandContext]:
    """Brand, care settings and compiled auto-tag rules, built once per sweep."""
    missing = brand_ids - set(cache)
    if missing:
        brands = Brand.objects.in_bulk(missing)
        cares = _care_for(missing)
        rules: dict[int, list[tuple[CompiledQuery, int]]] = defaultdict(list)
        for rule in AutoTagRule.objects.filter(brand_id__in=missing).order_by("pk"):
            try:
                rules[rule.brand_id].append((compile_query(rule.query), rule.tag_id))
            except QueryError as exc:
                # Saved through a form that validates; one edited around it must not stop routing.
                logger.warning("Auto-tag rule %s is invalid: %s", rule.pk, exc)
        for brand_id, brand in brands.items():
            cache[brand_id] = _BrandContext(
                brand=brand,
                care=cares[brand_id],
                own=_own_handles(brand),
                terms=_brand_terms(brand),
                rules=rules[brand_id],
            )
    return {b: cache[b] for b in brand_ids if b in cache}


def _advisory_lock(pairs: Iterable[tuple[int, int]]) -> None:
    """Serialise routers on the same (brand, author) pairs until the transaction ends, so two
    workers never open two cases for one author or lose each other's standing counts."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers already.
    keys = sorted({(brand_id << 40) ^ author_id for brand_id, author_id in pairs})
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
                [keys],
            )


def _load_cases(
    batch: _Batch, matches: Sequence[MentionMatch], mentions: dict[int, Mention], window: int
) -> None:
    """Load the cases the batch can join or reopen into ``batch`` (two queries)."""
    brand_ids = {m.brand_id for m in matches}
    threads = set()
    for m in mentions.values():
        threads.update(t for t in (m.thread_id, m.in_reply_to) if t)
    author_ids = {m.author_id for m in mentions.values() if m.author_id}
    # Imported mentions can be old: windows are measured from the mentions' own times.
    oldest = min(m.published_at for m in matches)
    alive = (
        ~Q(status=Case.Status.RESOLVED)
        | Q(resolved_at__gte=shifted(oldest, hours=-window))
        | Q(followup_until__gte=oldest)
    )
    found: dict[int, Case] = {}
    if threads:
        # case_thread_idx
        for case in Case.objects.filter(
            alive, brand_id__in=brand_ids, thread_id__in=threads
        ).exclude(thread_id=""):
            found[case.pk] = case
    if author_ids:
        # case_author_idx
        for case in Case.objects.filter(alive, brand_id__in=brand_ids, author_id__in=author_ids):
            found[case.pk] = case
    for case in sorted(found.values(), key=lambda c: c.opened_at):
        batch.index(case)


def _thread_case(batch: _Batch, brand_id: int, mention: Mention) -> Case | None:
    """The thread's case: an unresolved one if there is one, else the latest resolved."""
    candidates = []
    for thread in (mention.thread_id, mention.in_reply_to):
        if thread:
            candidates.extend(batch.by_thread.get((brand_id, thread), []))
    unresolved = [c for c in candidates if c.status != Case.Status.RESOLVED]
    if unresolved:
        return unresolved[-1]
    return max(candidates, key=lambda c: c.resolved_at or c.opened_at, default=None)


def _is_within_reopen(case: Case, at: datetime, care: CareSettings) -> bool:
    return bool(
        case.status == Case.Status.RESOLVED
        and case.resolved_at is not None
        and at - case.resolved_at <= timedelta(hours=care.reopen_window_hours)
    )


def _reopen(case: Case, *, at: datetime, care: CareSettings, batch: _Batch) -> None:
    case.status = Case.Status.OPEN
    case.reopened_count += 1
    case.resolved_at = None
    case.resolution_due = shifted(at, minutes=care.resolution_minutes)
    batch.touch(case)


def _open(*, ctx: _BrandContext, mention: Mention, kind: str, at: datetime, batch: _Batch) -> Case:
    care = ctx.care
    case = Case(
        brand_id=ctx.brand.pk,
        author_id=mention.author_id,
        kind=kind,
        status=Case.Status.NEW,
        thread_id=mention.thread_id or mention.in_reply_to,
        subject=mention.text[:SUBJECT_LENGTH],
        similarity_key=similarity_key_for(mention.text),
        phrase_key=_phrase_key(text=mention.text, published_at=at, brand_terms=ctx.terms),
        opened_at=at,
        last_mention_at=at,
        first_response_due=shifted(at, minutes=care.first_response_minutes),
        resolution_due=shifted(at, minutes=care.resolution_minutes),
    )
    batch.new.append(case)
    batch.index(case)
    return case


def _route_one(*, ctx: _BrandContext, mention: Mention, batch: _Batch, result: RouteResult) -> None:
    care = ctx.care
    brand_id = ctx.brand.pk
    # Imported or delayed mentions are placed at their own time; never in the future, and
    # never before EARLIEST, so a year-1 date already stored opens a case every page can show.
    at = max(min(mention.published_at, batch.now), EARLIEST)
    author = mention.author
    if author is not None and handle_normalise(author.handle) in ctx.own:
        case = _thread_case(batch, brand_id, mention)
        if case is None:
            result.skipped += 1
            return
        batch.links.append((case, mention, True))
        if case.first_response_at is None:
            case.first_response_at = at
            case.followup_until = shifted(at, days=care.followup_days)
        if case.status != Case.Status.RESOLVED:
            case.status = Case.Status.WAITING
        batch.touch(case)
        result.brand_replies += 1
        return

    doc = MatchDocument(
        mention.text,
        author=f"{author.handle} {author.display_name}" if author else "",
        url=mention.url,
        lang=mention.language,
    )
    is_negative = mention.compound <= care.negative_threshold
    if _needs_answer(mention=mention, doc=doc, care=care, own=ctx.own):
        kind = Case.Kind.CARE
    elif mention.label == Mention.Label.POSITIVE:
        kind = Case.Kind.ADVOCATE
    else:
        kind = ""

    case = None
    outcome = "joined"
    thread_case = _thread_case(batch, brand_id, mention)
    if thread_case is not None:
        if thread_case.status != Case.Status.RESOLVED:
            case = thread_case
        elif is_negative and _is_within_reopen(thread_case, at, care):
            case, outcome = thread_case, "reopened"
    if case is None and not kind:
        result.skipped += 1
        return
    if case is None and mention.author_id:
        mine = batch.by_author.get((brand_id, mention.author_id), [])
        open_mine = [c for c in mine if c.kind == kind and c.status != Case.Status.RESOLVED]
        if open_mine:
            case = open_mine[-1]
        elif is_negative:
            resolved = [
                c for c in mine if c.kind == Case.Kind.CARE and _is_within_reopen(c, at, care)
            ]
            if resolved:
                case = max(resolved, key=lambda c: c.resolved_at)
                outcome = "reopened"
    if case is None:
        case = _open(ctx=ctx, mention=mention, kind=kind, at=at, batch=batch)
        outcome = "opened"
    elif outcome == "reopened":
        _reopen(case, at=at, care=care, batch=batch)
    elif case.status == Case.Status.WAITING:
        case.status = Case.Status.OPEN  # the customer has answered
    if kind == Case.Kind.CARE and case.kind == Case.Kind.ADVOCATE:
        case.kind = Case.Kind.CARE  # the conversation now needs an answer: into the queue
    if at > case.last_mention_at:
        case.last_mention_at = at
    batch.touch(case)
    batch.links.append((case, mention, False))
    batch.mentions[id(case)].append(mention)
    for query, tag_id in ctx.rules:
        if query.match(doc):
            batch.tags.add((id(case), tag_id))
    setattr(result, outcome, getattr(result, outcome) + 1)
    if case.kind == Case.Kind.ADVOCATE:
        result.advocates += 1


def _standing(row: AuthorStanding) -> str:
    total = row.mention_count or 1
    if (
        row.positive_count >= ADVOCATE_MIN_POSITIVE
        and row.positive_count / total >= ADVOCATE_MIN_SHARE
    ):
        return AuthorStanding.Standing.ADVOCATE
    if (
        row.negative_count >= DETRACTOR_MIN_NEGATIVE
        and row.negative_count / total >= DETRACTOR_MIN_SHARE
    ):
        return AuthorStanding.Standing.DETRACTOR
    return AuthorStanding.Standing.NEUTRAL


def _standings_update(counted: Sequence[tuple[int, Mention]]) -> None:
    """Add the routed customer mentions to AuthorStanding (at most three queries)."""
    if not counted:
        return
    pairs = {(brand_id, m.author_id) for brand_id, m in counted}
    existing = {
        (s.brand_id, s.author_id): s
        for s in AuthorStanding.objects.filter(
            brand_id__in={b for b, _ in pairs}, author_id__in={a for _, a in pairs}
        )
    }
    new: dict[tuple[int, int], AuthorStanding] = {}
    for brand_id, mention in counted:
        key = (brand_id, mention.author_id)
        row = existing.get(key) or new.get(key)
        if row is None:
            row = new[key] = AuthorStanding(brand_id=brand_id, author_id=mention.author_id)
        row.mention_count += 1
        row.positive_count += mention.label == Mention.Label.POSITIVE
        row.negative_count += mention.label == Mention.Label.NEGATIVE
        row.compound_sum += mention.compound
        if row.last_mention_at is None or mention.published_at > row.last_mention_at:
            row.last_mention_at = mention.published_at
    touched = [s for k, s in existing.items() if k in pairs]
    for row in [*touched, *new.values()]:
        row.standing = _standing(row)
    if touched:
        AuthorStanding.objects.bulk_update(
            touched,
            [
                "standing",
                "positive_count",
                "negative_count",
                "mention_count",
                "compound_sum",
                "last_mention_at",
            ],
        )
    if new:
        AuthorStanding.objects.bulk_create(list(new.values()))


def _batch_route(
    matches: Sequence[MentionMatch], *, now: datetime, contexts: dict[int, _BrandContext]
) -> RouteResult:
    result = RouteResult()
    mentions = Mention.objects.select_related("author").in_bulk({m.mention_id for m in matches})
    ctxs = _brand_contexts({m.brand_id for m in matches}, contexts)
    _advisory_lock(
        (m.brand_id, mentions[m.mention_id].author_id)
        for m in matches
        if mentions[m.mention_id].author_id
    )
    batch = _Batch(now=now)
    window = max(c.care.reopen_window_hours for c in ctxs.values())
    _load_cases(batch, matches, mentions, window)

    counted: list[tuple[int, Mention]] = []
    for match in matches:
        mention = mentions[match.mention_id]
        ctx = ctxs[match.brand_id]
        _route_one(ctx=ctx, mention=mention, batch=batch, result=result)
        author = mention.author
        if author is not None and handle_normalise(author.handle) not in ctx.own:
            counted.append((match.brand_id, mention))

    _priorities_update(batch)
    if batch.new:
        Case.objects.bulk_create(batch.new)
    new_ids = {id(c) for c in batch.new}
    existing_changed = [c for c in batch.changed.values() if id(c) not in new_ids]
    if existing_changed:
        Case.objects.bulk_update(existing_changed, _ROUTE_FIELDS)
    if batch.links:
        CaseMention.objects.bulk_create(
            [
                CaseMention(case=case, mention=mention, brand_id=case.brand_id, is_brand_reply=own)
                for case, mention, own in batch.links
            ],
            ignore_conflicts=True,
        )
    if batch.tags:
        by_id = {id(c): c for c in batch.changed.values()}
        Through = Case.tags.through
        Through.objects.bulk_create(
            [Through(case_id=by_id[key].pk, tag_id=tag_id) for key, tag_id in sorted(batch.tags)],
            ignore_conflicts=True,
        )
    _standings_update(counted)
    _followups_update(counted, batch=batch, now=now)
    return result


_ROUTE_FIELDS = [
    "kind",
    "status",
    "last_mention_at",
    "first_response_at",
    "followup_until",
    "resolved_at",
    "reopened_count",
    "resolution_due",
    "priority",
    "priority_band",
    "priority_parts",
]


def _priorities_update(batch: _Batch) -> None:
    """Recompute the priority of every touched case from all its customer mentions."""
    new_ids = {id(c) for c in batch.new}
    earlier = [c.pk for c in batch.changed.values() if id(c) not in new_ids]
    known: dict[int, list[Mention]] = defaultdict(list)
    if earlier:
        # casemention_case_idx
        for link in CaseMention.objects.filter(
            case_id__in=earlier, is_brand_reply=False
        ).select_related("mention", "mention__author"):
            known[link.case_id].append(link.mention)
    for key, case in batch.changed.items():
        mentions = {m.pk: m for m in known.get(case.pk, [])} if case.pk else {}
        mentions.update({m.pk: m for m in batch.mentions.get(key, [])})
        _priority_set(case, mentions=list(mentions.values()), now=batch.now)


def _followups_update(
    counted: Sequence[tuple[int, Mention]], *, batch: _Batch, now: datetime
) -> None:
    """Record the running follow-up outcome of answered cases whose author spoke again."""
    pairs = {(b, m.author_id) for b, m in counted}
    watched = [
        c
        for cases in (batch.by_author.get(p, []) for p in pairs)
        for c in cases
        if c.first_response_at is not None
        and c.followup_until is not None
        and c.outcome != Case.Outcome.NO_FURTHER_WORD
        and any(
            (b, m.author_id) == (c.brand_id, c.author_id)
            and c.first_response_at < m.published_at <= c.followup_until
            for b, m in counted
        )
    ]
    if not watched:
        return
    series = _author_compounds(watched, until=max(c.followup_until for c in watched))
    dirty = [
        c for c in watched if _followup_apply(c, series.get((c.brand_id, c.author_id), []), now=now)
    ]
    if dirty:
        Case.objects.bulk_update(dirty, _FOLLOWUP_FIELDS)


def mentions_route(*, limit: int = 2000, now: datetime | None = None) -> RouteResult:
    """Route up to ``limit`` unrouted brand mentions, oldest first, into cases.

    Idempotent: each batch locks its MentionMatch rows (SKIP LOCKED, so concurrent workers
    take different rows), routes them and marks them routed in the same transaction;
    CaseMention is unique per (mention, brand). Touches Case (open, join, reopen, brand
    replies, priority, tags, running follow-up), CaseMention, AuthorStanding, CareSettings
    (defaults created for brands without) and MentionMatch.routed_at and route_error. A
    constant number of queries per batch.

    No row blocks the others (issue 9): a batch that raises is routed again one row at a time,
    and a row that still raises is marked routed with ``route_error`` set, logged, and left out
    of the queue, while the rest of the batch flows. Connection and server errors are not a
    row's fault: they are raised, and the batch stays unrouted for the next run.
    """
    now = now or timezone.now()
    total = RouteResult()
    contexts: dict[int, _BrandContext] = {}
    remaining = limit
    while remaining > 0:
        size = min(BATCH_SIZE, remaining)
        with transaction.atomic():
            # match_unrouted_idx
            matches = list(
                MentionMatch.objects.filter(routed_at__isnull=True)
                .order_by("published_at", "pk")
                .select_for_update(skip_locked=True)[:size]
            )
            if not matches:
                break
            total = total.plus(_batch_route_isolated(matches, now=now, contexts=contexts))
        remaining -= len(matches)
        if len(matches) < size:
            break
    return total


def _batch_route_isolated(
    matches: Sequence[MentionMatch], *, now: datetime, contexts: dict[int, _BrandContext]
) -> RouteResult:
    """Route and mark a batch; if it raises, route its rows one by one, each in a savepoint,
    and mark the ones that still raise with their error. Runs inside the caller's transaction,
    which holds the rows' locks."""
    try:
        with transaction.atomic():
            result = _batch_route(matches, now=now, contexts=contexts)
            MentionMatch.objects.filter(pk__in=[m.pk for m in matches]).update(
                routed_at=now, route_error=""
            )
        return result
    except _NOT_THE_ROWS_FAULT:
        raise
    except Exception:
        logger.warning(
            "routing a batch of %s failed; routing its rows one by one",
            len(matches),
            exc_info=True,
        )
    total = RouteResult()
    for match in matches:
        # The cached contexts may hold care settings created in a rolled-back savepoint.
        contexts.clear()
        try:
            with transaction.atomic():
                result = _batch_route([match], now=now, contexts=contexts)
                MentionMatch.objects.filter(pk=match.pk).update(routed_at=now, route_error="")
        except _NOT_THE_ROWS_FAULT:
            raise
        except Exception as exc:
            logger.exception(
                "mention_id=%s brand_id=%s: could not route; marked with its error",
                match.mention_id,
                match.brand_id,
                extra={"mention_id": match.mention_id, "brand_id": match.brand_id},
            )
            MentionMatch.objects.filter(pk=match.pk).update(
                routed_at=now, route_error=_error_text(exc)
            )
            result = RouteResult(failed=1)
        total = total.plus(result)
    contexts.clear()
    return total
