"""Routing: turn each brand's new mentions into cases; the orchestrator of the queue.

The router sweeps MentionMatch rows whose ``routed_at`` is empty (oldest first, in batches) and
decides, per (mention, brand), what the mention is to the brand's care team. The rules below
are what the README says about the queue; the parts routing hands over live beside their own
rules and constants:

* engagement/priority.py: the priority score, its explained parts and the once-a-minute refresh;
* engagement/similarity.py: the similarity and phrase keys that group similar requests;
* engagement/standing.py: author standing (advocate, detractor, neutral);
* engagement/followup.py: follow-up outcomes, running and final;
* engagement/care.py: care settings and ``shifted``, the time arithmetic that never overflows.

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

No row blocks the others (issue 9)
    A batch that raises is routed again one row at a time; a row that still raises is marked
    routed with ``MentionMatch.route_error`` (shown in the admin's mention page, with a
    "could not be routed" filter), logged, and kept out of the queue. Times are shifted with
    ``shifted``, which holds them between EARLIEST and LATEST instead of overflowing; a
    mention dated before EARLIEST is placed at EARLIEST. To route a marked row again after a
    fix, clear its ``routed_at`` and ``route_error``. ``cases_priority_refresh`` and
    ``followups_evaluate`` log and skip a case they cannot handle.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from brands.models import Brand, handle_normalise
from engagement.care import EARLIEST, care_settings_for, shifted
from engagement.followup import followups_running_update
from engagement.models import AutoTagRule, CareSettings, Case, CaseMention
from engagement.priority import priority_set
from engagement.similarity import brand_terms_for, phrase_key, similarity_key_for
from engagement.standing import standings_update
from listening.models import Mention, MentionMatch
from listening.query import CompiledQuery, MatchDocument, QueryError, compile_query

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SUBJECT_LENGTH = 140

_QUESTION_WORDS_TEXT = "who what when where why how can could is are do does will"
QUESTION_WORDS = frozenset(_QUESTION_WORDS_TEXT.split())
_QUESTION_START_RE = re.compile(r"^\W*([a-z]+)\b(?!['’])")

ROUTE_ERROR_LENGTH = 1000

# Errors of the connection or the server (lost connection, deadlock, shutdown), not of a row:
# routing leaves the batch unrouted for the next run instead of blaming its rows.
# Celery's soft time limit is an Exception too: the task ran out of time, the rows are fine.
_NOT_THE_ROWS_FAULT = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


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


def _brand_contexts(
    brand_ids: set[int], cache: dict[int, _BrandContext]
) -> dict[int, _BrandContext]:
    """Brand, care settings and compiled auto-tag rules, built once per sweep."""
    missing = brand_ids - set(cache)
    if missing:
        brands = Brand.objects.in_bulk(missing)
        cares = care_settings_for(missing)
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
                terms=brand_terms_for(brand),
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
        Q(status__in=Case.OPEN_STATUSES)
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
    unresolved = [c for c in candidates if c.status in Case.OPEN_STATUSES]
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
        phrase_key=phrase_key(text=mention.text, published_at=at, brand_terms=ctx.terms),
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
        if case.status in Case.OPEN_STATUSES:
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
        if thread_case.status in Case.OPEN_STATUSES:
            case = thread_case
        elif is_negative and _is_within_reopen(thread_case, at, care):
            case, outcome = thread_case, "reopened"
    if case is None and not kind:
        result.skipped += 1
        return
    if case is None and mention.author_id:
        mine = batch.by_author.get((brand_id, mention.author_id), [])
        open_mine = [c for c in mine if c.kind == kind and c.status in Case.OPEN_STATUSES]
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

    # (brand, mention, the brand's effective label): what author standing counts.
    counted: list[tuple[int, Mention, str]] = []
    for match in matches:
        mention = mentions[match.mention_id]
        ctx = ctxs[match.brand_id]
        _route_one(ctx=ctx, mention=mention, batch=batch, result=result)
        author = mention.author
        if author is not None and handle_normalise(author.handle) not in ctx.own:
            counted.append((match.brand_id, mention, match.label))

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
    standings_update(counted)
    followups_running_update(
        [(brand_id, mention) for brand_id, mention, _ in counted],
        by_author=batch.by_author,
        now=now,
    )
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
        priority_set(case, mentions=list(mentions.values()), now=batch.now)


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
