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

Care on or off (per brand, ``CareSettings.care_enabled``)
    A brand whose care is off (a competitor you only watch) gets no case: its mentions are
    routed as skipped, and still count in author standing and every listening figure.

Conversations
    A case holds every conversation it joined (``CaseMention.conversation``), not one thread.
    A post's conversation is its ``thread_id``; else, if it replies to a post (``in_reply_to``)
    already in a case of the brand (or placed in one earlier in the same batch), that post's
    conversation; else a conversation of its own, named by its own external id.
    A customer post that replies to a brand reply still waiting for its own parent is placed
    at the end of the batch, once that reply is linked, so the same posts give the same
    conversations in any order. ``Case.thread_id`` is the conversation the case was opened
    in (never empty).
    *The thread's case* of a post is the case holding the post it replies to, or a case holding
    its conversation: an unresolved one first (the parent's case before the others), else the
    parent's case, else the one resolved last.

Brand replies
    A mention whose author handle is one of the brand's own handles (``Brand.handle_list``,
    compared case-insensitively, ignoring a leading "@" and any "@instance" suffix) is the brand
    answering on the platform. If it has a thread's case, it joins that case as a brand reply,
    whatever the case's status. A brand post that replies to nothing (no ``in_reply_to``, and no
    ``thread_id`` other than its own id) is skipped. A brand reply whose thread's case is not
    there yet (the post it answers is not stored or not routed: backfill pages out of order, an
    export with the brand's posts first) *waits* (``WaitingBrandReply``), for ``WAIT_DAYS`` (14)
    days from when routing first saw it. Every batch, once its customer posts are placed, links
    the waiting replies whose ``in_reply_to`` is a post now in a case of the brand, or whose
    ``thread_id`` is a conversation of such a case; again while that links more (a brand reply
    answering a brand reply just linked), at most ``LINK_ROUNDS`` times.
    ``waiting_replies_expire`` drops the replies that waited too long, and
    ``waiting_replies_requeue`` sends back to routing the ones whose parent a concurrent router
    placed meanwhile (both run with the periodic follow-up task).

First response
    A care case *needs an answer* from its first customer post that needs one
    (``Case.answer_target``, at ``Case.needs_answer_at``): the post it opened with, or the
    one that turned an advocate case into a care case; a post of the case that needs an
    answer and is older (it arrived late) takes its place. ``first_response_due`` is
    ``needs_answer_at`` + the first-response SLA. ``first_response_at`` is the earliest brand
    answer at or after ``needs_answer_at`` (after ``opened_at`` for an advocate case): the
    brand replies linked to the case and the agents' replies written in Earshot. A brand reply
    before the need is part of the conversation, not its first response. It is computed from
    what is linked, so late and out-of-order arrivals give the same answer; the follow-up
    window (``followup_until``) starts at it, and moves (with the running outcome) if it moves.

What needs an answer (per brand, tuned in CareSettings)
    * negative: Earshot's compound (``Mention.our_compound``) <= ``negative_threshold``
      (default -0.05); a mention Earshot left unscored (its language) is never negative.
      Where the brand's own learned model labelled the mention (issue 13: its match's label
      then differs from Earshot's), that label decides instead: negative, or not;
    * a question (if ``answer_questions``): the text contains "?" or starts with who, what,
      when, where, why, how, can, could, is, are, do, does or will, and the brand's label (its
      model's, else Earshot's) is not positive;
    * addressed (if ``answer_addressed``): the text mentions one of the brand's own handles,
      e.g. "@acme_help".
    A mention that needs an answer goes to a *care* case (the main queue). A positive mention
    that needs none goes to an *advocate* case (thank, like, share). A neutral one that needs
    none gets no case, unless it has a thread's case that is still open (then it is part of
    that conversation and joins it).

Joining, first rule that applies
    1. The thread's case. Not resolved: join it. Resolved within ``reopen_window_hours`` and
       the mention is negative: reopen it.
    2. The author's open case of the brand of the same kind (care or advocate): join it. The
       case then holds this conversation too, so the brand's answers in either are found.
    3. The author's care case resolved within ``reopen_window_hours``, if the mention is
       negative: reopen it (status open, ``reopened_count`` + 1, resolution due again).
    4. Otherwise open a new case: status new, subject the first 140 characters, opened at the
       mention's published time, first response and resolution due after the brand's SLA.
    After each batch, a live case still open that got posts is *waiting on the customer* when
    its latest post is a brand answer (a linked brand reply, or an agent's reply in Earshot),
    and *open* when the customer spoke after the latest answer (a customer mention joining a
    case that waits on the customer sets it back to open); a case with no answer keeps its
    status. Decided from the times, so a reply that arrives late does not flip it.

History (``MentionMatch.is_history``, from ``import_mentions --history``)
    A history row only joins or opens history cases (``Case.is_history``), a live row only live
    ones: history never enters the live queue. Rule 1 joins the thread's history case whatever
    its status; rule 2 joins the author's history case of the same kind whose customer posts
    (first to last) come within ``reopen_window_hours`` of this one; there is no reopening.
    After each batch every history case it touched is resolved as of its data: at its last brand
    answer if it was answered, else at its last customer post (then it is "no answer, imported",
    with no first response). Its SLA times are set from its data as for a live case (so SLA
    figures are computed the same way), its priority is 0 (band low, no parts), and as it is
    resolved it is never overdue. Its follow-up runs from its data like a live case's.

Re-routing
    Routing a row again (its ``routed_at`` cleared) changes nothing: a mention already in a
    case stays there (counted as joined, or brand_replies for the brand's own posts), a
    waiting reply keeps waiting, and author standing is recounted from the routed rows, so
    nothing is counted twice.

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
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from brands.models import Brand, handle_normalise
from engagement.care import EARLIEST, care_settings_for, shifted
from engagement.followup import FOLLOWUP_FIELDS, followups_on_route
from engagement.models import (
    AutoTagRule,
    CareSettings,
    Case,
    CaseMention,
    Reply,
    WaitingBrandReply,
)
from engagement.priority import priority_set
from engagement.similarity import brand_terms_for, phrase_key, similarity_key_for
from engagement.standing import standings_recount
from listening.models import Mention, MentionMatch
from listening.query import CompiledQuery, MatchDocument, QueryError, compile_query

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SUBJECT_LENGTH = 140
# How long a brand reply waits for the post it answers, from when routing first saw it.
WAIT_DAYS = 14
# Rounds of linking waiting replies per batch: a chain brand -> brand -> ... this long links
# in one batch; a longer one goes on with the next post that arrives in the conversation.
LINK_ROUNDS = 10

_QUESTION_WORDS_TEXT = "who what when where why how can could is are do does will"
QUESTION_WORDS = frozenset(_QUESTION_WORDS_TEXT.split())
_QUESTION_START_RE = re.compile(r"^\W*([a-z]+)\b(?!['’])")

ROUTE_ERROR_LENGTH = 1000
_ID_LENGTH = 255  # CaseMention.conversation / external_id

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
    *,
    mention: Mention,
    match: MentionMatch,
    doc: MatchDocument,
    care: CareSettings,
    own: frozenset[str],
) -> bool:
    if _is_negative(mention, match, care):
        return True
    if (
        care.answer_questions
        and match.label != Mention.Label.POSITIVE
        and _is_question(mention.text)
    ):
        return True
    return bool(care.answer_addressed and own and own & doc.handles)


def _is_negative(mention: Mention, match: MentionMatch, care: CareSettings) -> bool:
    """Whether the mention is negative for the match's brand: the brand's own learned model
    said so, where it labelled the match (listening.brand_scoring stores its label on the
    match, which then differs from Earshot's); else Earshot's compound is at or below the
    brand's threshold (never for an unscored one). The model gives a label, not a compound
    on Earshot's scale, so its label is what the threshold would have decided."""
    if match.label != mention.our_label:
        return match.label == Mention.Label.NEGATIVE
    compound = mention.our_compound
    return compound is not None and compound <= care.negative_threshold


def _placed_at(published_at: datetime, now: datetime) -> datetime:
    """Where a post is placed in time: its own time (imported or delayed posts keep theirs),
    never in the future, and never before EARLIEST, so a year-1 date already stored opens a
    case every page can show."""
    return max(min(published_at, now), EARLIEST)


def _is_reply(mention: Mention) -> bool:
    """Whether a post answers another one (rather than starting a conversation)."""
    return bool(
        mention.in_reply_to or (mention.thread_id and mention.thread_id != mention.external_id)
    )


# --- Routing --------------------------------------------------------------------------------


@dataclass(slots=True)
class RouteResult:
    """What a sweep did.

    One count per routed MentionMatch row (``routed`` is their sum): opened: opened a new
    case; joined: added to an existing case (or already in one, when routed again);
    reopened: reopened a resolved case; brand_replies: the brand's own post linked as its
    answer on a case (in its batch); waiting: the brand's own post left waiting for the post
    it answers; skipped: routed without a case (neutral, care off, or a brand post that
    answers nothing).

    Not in ``routed``: advocates: how many of the opened or joined went to advocate cases;
    linked_late: brand replies that waited (routed in an earlier sweep) and were linked now
    that the post they answer is in a case; failed: rows marked routed with a route_error
    because routing them raised.
    """

    opened: int = 0
    joined: int = 0
    reopened: int = 0
    brand_replies: int = 0
    waiting: int = 0
    skipped: int = 0
    advocates: int = 0
    linked_late: int = 0
    failed: int = 0

    @property
    def routed(self) -> int:
        return (
            self.opened
            + self.joined
            + self.reopened
            + self.brand_replies
            + self.waiting
            + self.skipped
        )

    def plus(self, other: RouteResult) -> RouteResult:
        return RouteResult(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(slots=True)
class _BrandContext:
    brand: Brand
    care: CareSettings
    own: frozenset[str]
    terms: frozenset[str]
    rules: list[tuple[CompiledQuery, int]]


@dataclass(slots=True)
class _Link:
    case: Case
    mention: Mention
    is_brand_reply: bool
    conversation: str


@dataclass(slots=True)
class _Pending:
    """A brand reply of this batch with no case yet: linked at the end of the batch, or
    stored as a WaitingBrandReply."""

    match: MentionMatch
    mention: Mention
    conversation: str


@dataclass(slots=True)
class _Batch:
    """The cases a batch may touch, indexed the ways routing looks them up. Cases are keyed
    by id(case): the new ones have no primary key until the batch is written."""

    now: datetime
    # (brand, conversation) -> the cases holding it, oldest first.
    by_conv: dict[tuple[int, str], list[Case]] = field(default_factory=dict)
    # (brand, external id) -> the case holding that post, and the post's conversation.
    by_ext: dict[tuple[int, str], Case] = field(default_factory=dict)
    conv_of: dict[tuple[int, str], str] = field(default_factory=dict)
    by_author: dict[tuple[int, int], list[Case]] = field(default_factory=dict)
    # (brand, mention id) -> the case already holding the mention (a row routed again).
    placed: dict[tuple[int, int], Case] = field(default_factory=dict)
    new: list[Case] = field(default_factory=list)
    changed: dict[int, Case] = field(default_factory=dict)
    mentions: dict[int, list[Mention]] = field(default_factory=lambda: defaultdict(list))
    links: list[_Link] = field(default_factory=list)
    tags: set[tuple[int, int]] = field(default_factory=set)  # (id(case), tag_id)
    # Brand answers linked in this batch, by id(case), and cases whose need moved.
    brand_times: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    need_moved: set[int] = field(default_factory=set)
    # Keys of the posts linked since the last round of linking waiting replies.
    fresh_ext: set[tuple[int, str]] = field(default_factory=set)
    fresh_conv: set[tuple[int, str]] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)
    # (brand, external id) of posts not placed yet: waiting brand replies (stored or of this
    # batch) and deferred posts. A customer post replying to one is deferred until it is.
    unplaced: set[tuple[int, str]] = field(default_factory=set)
    deferred: list[tuple[_BrandContext, MentionMatch, Mention]] = field(default_factory=list)

    def index_author(self, case: Case) -> None:
        if case.author_id:
            self.by_author.setdefault((case.brand_id, case.author_id), []).append(case)

    def hold(self, case: Case, conversation: str) -> None:
        held = self.by_conv.setdefault((case.brand_id, conversation), [])
        if not any(c is case for c in held):
            held.append(case)

    def link(self, case: Case, mention: Mention, *, conversation: str, is_brand: bool) -> None:
        self.links.append(_Link(case, mention, is_brand, conversation))
        key = (case.brand_id, mention.external_id)
        self.by_ext[key] = case
        self.conv_of[key] = conversation
        self.hold(case, conversation)
        self.fresh_ext.add(key)
        self.fresh_conv.add((case.brand_id, conversation))
        self.touch(case)

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
    """Load the cases the batch can join, reopen or answer into ``batch`` (three queries):
    the cases already holding its mentions or the posts they reply to, the cases holding
    their conversations, and the authors' cases still alive."""
    brand_ids = {m.brand_id for m in matches}
    posts = [mentions[m.mention_id] for m in matches]
    parents = {m.in_reply_to for m in posts if m.in_reply_to}
    placed_rows = []
    parent_rows = []
    # casemention_unique (mention, brand) and casemention_extid_idx (brand, external_id).
    for brand_id, mention_id, case_id, external_id, conversation in CaseMention.objects.filter(
        Q(mention_id__in=[m.pk for m in posts]) | Q(external_id__in=parents),
        brand_id__in=brand_ids,
    ).values_list("brand_id", "mention_id", "case_id", "external_id", "conversation"):
        if mention_id in mentions:
            placed_rows.append((brand_id, mention_id, case_id))
        if external_id in parents:
            parent_rows.append((brand_id, external_id, case_id, conversation))

    if parents:
        # The posts that reply to a brand reply still waiting for its own parent: they are
        # placed once it is linked (a few waiting rows per brand; joined to their mention).
        batch.unplaced.update(
            WaitingBrandReply.objects.filter(
                brand_id__in=brand_ids, mention__external_id__in=parents
            ).values_list("brand_id", "mention__external_id")
        )

    conversations = {m.thread_id or m.external_id for m in posts}
    conversations.update(row[3] for row in parent_rows if row[3])
    conv_rows = []
    if conversations:
        # casemention_conv_idx (brand, conversation)
        conv_rows = list(
            CaseMention.objects.filter(brand_id__in=brand_ids, conversation__in=conversations)
            .values_list("brand_id", "conversation", "case_id")
            .distinct()
        )

    author_ids = {m.author_id for m in posts if m.author_id}
    # Imported mentions can be old: windows are measured from the mentions' own times.
    oldest = min(m.published_at for m in matches)
    alive = (
        Q(status__in=Case.OPEN_STATUSES)
        | Q(resolved_at__gte=shifted(oldest, hours=-window))
        | Q(followup_until__gte=oldest)
    )
    case_ids = {row[2] for row in placed_rows} | {row[2] for row in parent_rows}
    case_ids |= {row[2] for row in conv_rows}
    found = Q(pk__in=case_ids)
    if author_ids:
        # case_author_idx
        found |= alive & Q(brand_id__in=brand_ids, author_id__in=author_ids)
    cases = {c.pk: c for c in Case.objects.filter(found)} if case_ids or author_ids else {}

    for case in sorted(cases.values(), key=lambda c: (c.opened_at, c.pk)):
        batch.index_author(case)
    for brand_id, mention_id, case_id in placed_rows:
        batch.placed[(brand_id, mention_id)] = cases[case_id]
    for brand_id, external_id, case_id, conversation in parent_rows:
        batch.by_ext[(brand_id, external_id)] = cases[case_id]
        batch.conv_of[(brand_id, external_id)] = conversation or external_id
    for _brand_id, conversation, case_id in sorted(
        conv_rows, key=lambda r: (cases[r[2]].opened_at, r[2])
    ):
        batch.hold(cases[case_id], conversation)


def _conversation(batch: _Batch, brand_id: int, mention: Mention) -> str:
    if mention.thread_id:
        return mention.thread_id[:_ID_LENGTH]
    if mention.in_reply_to:
        found = batch.conv_of.get((brand_id, mention.in_reply_to))
        if found:
            return found
    return mention.external_id[:_ID_LENGTH]


def _thread_case(
    batch: _Batch, brand_id: int, mention: Mention, conversation: str, *, is_history: bool
) -> Case | None:
    """The thread's case (see the module docstring), among the cases of the row's mode."""
    parent = batch.by_ext.get((brand_id, mention.in_reply_to)) if mention.in_reply_to else None
    candidates = [] if parent is None else [parent]
    candidates += [c for c in batch.by_conv.get((brand_id, conversation), []) if c is not parent]
    candidates = [c for c in candidates if c.is_history == is_history]
    if not candidates:
        return None
    parent_first = parent is not None and candidates[0] is parent
    if is_history:
        return parent if parent_first else candidates[-1]
    if parent_first and parent.status in Case.OPEN_STATUSES:
        return parent
    unresolved = [c for c in candidates if c.status in Case.OPEN_STATUSES]
    if unresolved:
        return unresolved[-1]
    if parent_first:
        return parent
    return max(candidates, key=lambda c: c.resolved_at or c.opened_at)


def _is_within_reopen(case: Case, at: datetime, care: CareSettings) -> bool:
    return bool(
        case.status == Case.Status.RESOLVED
        and case.resolved_at is not None
        and at - case.resolved_at <= timedelta(hours=care.reopen_window_hours)
    )


def _is_near(case: Case, at: datetime, care: CareSettings) -> bool:
    """Whether a history post at ``at`` falls within the reopen window of a history case's
    customer posts (history's stand-in for "the author's open case"; brand answers are left
    out so that the answer is the same in one batch or many)."""
    window = care.reopen_window_hours
    return (
        shifted(case.opened_at, hours=-window) <= at <= shifted(case.last_mention_at, hours=window)
    )


def _reopen(case: Case, *, at: datetime, care: CareSettings, batch: _Batch) -> None:
    case.status = Case.Status.OPEN
    case.reopened_count += 1
    case.resolved_at = None
    case.resolution_due = shifted(at, minutes=care.resolution_minutes)
    batch.touch(case)


def _open(
    *,
    ctx: _BrandContext,
    mention: Mention,
    kind: str,
    at: datetime,
    conversation: str,
    is_history: bool,
    batch: _Batch,
) -> Case:
    care = ctx.care
    case = Case(
        brand_id=ctx.brand.pk,
        author_id=mention.author_id,
        kind=kind,
        status=Case.Status.NEW,
        thread_id=conversation,
        is_history=is_history,
        subject=mention.text[:SUBJECT_LENGTH],
        similarity_key=similarity_key_for(mention.text),
        phrase_key=phrase_key(text=mention.text, published_at=at, brand_terms=ctx.terms),
        opened_at=at,
        last_mention_at=at,
        first_response_due=shifted(at, minutes=care.first_response_minutes),
        resolution_due=shifted(at, minutes=care.resolution_minutes),
    )
    batch.new.append(case)
    batch.index_author(case)
    return case


def _brand_reply_link(
    batch: _Batch, case: Case, mention: Mention, *, conversation: str, at: datetime
) -> None:
    batch.link(case, mention, conversation=conversation, is_brand=True)
    batch.brand_times[id(case)].append(at)


def _route_one(
    *,
    ctx: _BrandContext,
    match: MentionMatch,
    mention: Mention,
    batch: _Batch,
    result: RouteResult,
    may_defer: bool = True,
) -> None:
    care = ctx.care
    brand_id = ctx.brand.pk
    is_history = match.is_history
    at = _placed_at(mention.published_at, batch.now)
    author = mention.author
    is_brand = author is not None and handle_normalise(author.handle) in ctx.own
    if not care.care_enabled:
        result.skipped += 1
        return
    if (brand_id, mention.pk) in batch.placed:
        # Routed again (its routed_at was cleared): it is already where it belongs.
        if is_brand:
            result.brand_replies += 1
        else:
            result.joined += 1
        return
    conversation = _conversation(batch, brand_id, mention)
    if is_brand:
        case = _thread_case(batch, brand_id, mention, conversation, is_history=is_history)
        if case is not None:
            _brand_reply_link(batch, case, mention, conversation=conversation, at=at)
            result.brand_replies += 1
        elif _is_reply(mention):
            batch.pending.append(_Pending(match, mention, conversation))
            batch.unplaced.add((brand_id, mention.external_id))
            result.waiting += 1
        else:
            result.skipped += 1
        return
    parent_key = (brand_id, mention.in_reply_to)
    if may_defer and parent_key in batch.unplaced and parent_key not in batch.by_ext:
        # It answers a brand reply that waits for its own parent: placed once that is linked,
        # so the conversation is the same whatever order the posts arrived in.
        batch.deferred.append((ctx, match, mention))
        batch.unplaced.add((brand_id, mention.external_id))
        return

    doc = MatchDocument(
        mention.text,
        author=f"{author.handle} {author.display_name}" if author else "",
        url=mention.url,
        lang=mention.language,
    )
    is_negative = _is_negative(mention, match, care)
    needs = _needs_answer(mention=mention, match=match, doc=doc, care=care, own=ctx.own)
    if needs:
        kind = Case.Kind.CARE
    elif match.label == Mention.Label.POSITIVE:
        kind = Case.Kind.ADVOCATE
    else:
        kind = ""

    case = None
    outcome = "joined"
    thread_case = _thread_case(batch, brand_id, mention, conversation, is_history=is_history)
    if thread_case is not None:
        if is_history or thread_case.status in Case.OPEN_STATUSES:
            case = thread_case
        elif is_negative and _is_within_reopen(thread_case, at, care):
            case, outcome = thread_case, "reopened"
    if case is None and not kind:
        result.skipped += 1
        return
    if case is None and mention.author_id:
        mine = [
            c
            for c in batch.by_author.get((brand_id, mention.author_id), [])
            if c.is_history == is_history
        ]
        if is_history:
            near = [c for c in mine if c.kind == kind and _is_near(c, at, care)]
            if near:
                case = near[-1]
        else:
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
        case = _open(
            ctx=ctx,
            mention=mention,
            kind=kind,
            at=at,
            conversation=conversation,
            is_history=is_history,
            batch=batch,
        )
        outcome = "opened"
    elif outcome == "reopened":
        _reopen(case, at=at, care=care, batch=batch)
    if kind == Case.Kind.CARE and case.kind == Case.Kind.ADVOCATE:
        case.kind = Case.Kind.CARE  # the conversation now needs an answer: into the queue
    if needs and (case.needs_answer_at is None or at < case.needs_answer_at):
        # The first post that needs an answer (an older one may arrive late).
        case.answer_target = mention
        case.needs_answer_at = at
        case.first_response_due = shifted(at, minutes=care.first_response_minutes)
        batch.need_moved.add(id(case))
    if at > case.last_mention_at:
        case.last_mention_at = at
    batch.link(case, mention, conversation=conversation, is_brand=False)
    batch.mentions[id(case)].append(mention)
    for query, tag_id in ctx.rules:
        if query.match(doc):
            batch.tags.add((id(case), tag_id))
    setattr(result, outcome, getattr(result, outcome) + 1)
    if case.kind == Case.Kind.ADVOCATE:
        result.advocates += 1


def _waiting_case(batch: _Batch, brand_id: int, mention: Mention, *, is_history: bool):
    """The case a waiting brand reply answers now, if any, and its conversation."""
    conversation = _conversation(batch, brand_id, mention)
    case = _thread_case(batch, brand_id, mention, conversation, is_history=is_history)
    return case, conversation


def _waiting_link(batch: _Batch, result: RouteResult) -> list[int]:
    """Place what waited on a parent, in rounds while a round places something (at most
    LINK_ROUNDS): the batch's pending brand replies and the stored waiting ones whose thread's
    case is now known, then the deferred customer posts whose parent is now placed (or, once
    nothing moves, all of them, without their parent). Returns the ids of the stored
    WaitingBrandReply rows linked (to delete). One query per round that has new posts."""
    linked_rows: list[int] = []
    seen_rows: set[int] = set()
    for _ in range(LINK_ROUNDS):
        progress = _waiting_round(batch, result, linked_rows, seen_rows)
        if batch.deferred:
            ready = [d for d in batch.deferred if (d[0].brand.pk, d[2].in_reply_to) in batch.by_ext]
            if not ready and not progress:
                ready = batch.deferred  # their parents will not come in this batch
            batch.deferred = [d for d in batch.deferred if not any(d is r for r in ready)]
            for ctx, match, mention in ready:
                _route_one(
                    ctx=ctx,
                    match=match,
                    mention=mention,
                    batch=batch,
                    result=result,
                    may_defer=False,
                )
            progress = True
        if not progress:
            break
    for ctx, match, mention in batch.deferred:  # only after LINK_ROUNDS rounds
        _route_one(
            ctx=ctx, match=match, mention=mention, batch=batch, result=result, may_defer=False
        )
    batch.deferred = []
    return linked_rows


def _waiting_round(
    batch: _Batch, result: RouteResult, linked_rows: list[int], seen_rows: set[int]
) -> bool:
    """One round of linking waiting brand replies to the posts placed since the last one.
    True when it linked something."""
    if not (batch.fresh_ext or batch.fresh_conv):
        return False
    exts, convs = batch.fresh_ext, batch.fresh_conv
    batch.fresh_ext, batch.fresh_conv = set(), set()
    progress = False

    still = []
    for item in batch.pending:
        brand_id = item.match.brand_id
        case, conversation = _waiting_case(
            batch, brand_id, item.mention, is_history=item.match.is_history
        )
        if case is None:
            still.append(item)
            continue
        at = _placed_at(item.mention.published_at, batch.now)
        _brand_reply_link(batch, case, item.mention, conversation=conversation, at=at)
        result.waiting -= 1
        result.brand_replies += 1
        progress = True
    batch.pending = still

    brand_ids = {b for b, _ in exts} | {b for b, _ in convs}
    wanted = Q(in_reply_to__in={e for _, e in exts}) | Q(thread_id__in={c for _, c in convs})
    # waitingreply_parent_idx and waitingreply_thread_idx. SKIP LOCKED: a row another
    # router is linking right now is its to link.
    rows = (
        WaitingBrandReply.objects.filter(wanted, brand_id__in=brand_ids)
        .exclude(pk__in=seen_rows)
        .select_related("match", "mention__author")
        .select_for_update(skip_locked=True, of=("self",))
    )
    for row in rows:
        if (row.brand_id, row.in_reply_to) not in exts and (
            row.brand_id,
            row.thread_id,
        ) not in convs:
            continue
        seen_rows.add(row.pk)
        if (row.brand_id, row.mention_id) in batch.placed:
            linked_rows.append(row.pk)  # already linked (routed again): just drop the row
            continue
        case, conversation = _waiting_case(
            batch, row.brand_id, row.mention, is_history=row.match.is_history
        )
        if case is None:
            continue
        at = _placed_at(row.mention.published_at, batch.now)
        _brand_reply_link(batch, case, row.mention, conversation=conversation, at=at)
        batch.placed[(row.brand_id, row.mention_id)] = case
        linked_rows.append(row.pk)
        result.linked_late += 1
        progress = True
    return progress


def _answers_settle(batch: _Batch, ctxs: dict[int, _BrandContext]) -> list[Case]:
    """Settle what follows from the answers linked to the cases the batch gave posts (two
    queries), from the data, whatever order the posts came in:

    * first response (and the follow-up window) of the cases that got a brand answer or
      whose need moved;
    * status of a live case still open: waiting on the customer when its latest post is a
      brand answer (a linked brand reply or an agent's reply), open when the customer spoke
      after the latest answer, unchanged when it has none;
    * a history case is resolved at its last brand answer, else at its last customer post.

    Returns the cases whose first response moved and is set (their follow-up is evaluated
    again); one whose first response went away is back to watching nothing."""
    linked_now = {id(link.case) for link in batch.links}
    settle = {
        key: c
        for key, c in batch.changed.items()
        if key in linked_now or key in batch.need_moved or c.is_history
    }
    saved = [c.pk for c in settle.values() if c.pk]
    known: dict[int, list[datetime]] = defaultdict(list)
    agents: dict[int, list[datetime]] = defaultdict(list)
    if saved:
        # casemention_case_idx
        for case_id, published_at in CaseMention.objects.filter(
            case_id__in=saved, is_brand_reply=True
        ).values_list("case_id", "mention__published_at"):
            known[case_id].append(_placed_at(published_at, batch.now))
        for case_id, created_at in Reply.objects.filter(case_id__in=saved).values_list(
            "case_id", "created_at"
        ):
            agents[case_id].append(created_at)
    restarted = []
    for key, case in settle.items():
        brand = [*known.get(case.pk, []), *batch.brand_times.get(key, [])]
        answers = [*brand, *agents.get(case.pk, [])]
        if key in batch.brand_times or key in batch.need_moved or case.is_history:
            since = case.needs_answer_at or case.opened_at
            first = min((t for t in answers if t >= since), default=None)
            if first != case.first_response_at:
                case.first_response_at = first
                if first is None:
                    case.followup_until = None
                    case.compound_before = case.compound_after = None
                    case.outcome = Case.Outcome.PENDING
                else:
                    days = ctxs[case.brand_id].care.followup_days
                    case.followup_until = shifted(first, days=days)
                    restarted.append(case)
        if case.is_history:
            case.status = Case.Status.RESOLVED
            if case.first_response_at is not None:
                case.resolved_at = max(
                    (t for t in brand if t >= case.first_response_at),
                    default=case.first_response_at,
                )
            else:
                case.resolved_at = case.last_mention_at
        elif key in linked_now and case.status in Case.OPEN_STATUSES and answers:
            latest = max(answers)
            waits = latest >= case.last_mention_at
            case.status = Case.Status.WAITING if waits else Case.Status.OPEN
    return restarted


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

    # The routed customer mentions as (brand, mention): what standing and follow-up read.
    counted: list[tuple[int, Mention]] = []
    for match in matches:
        mention = mentions[match.mention_id]
        ctx = ctxs[match.brand_id]
        _route_one(ctx=ctx, match=match, mention=mention, batch=batch, result=result)
        author = mention.author
        if author is not None and handle_normalise(author.handle) not in ctx.own:
            counted.append((match.brand_id, mention))

    linked_rows = _waiting_link(batch, result)
    restarted = _answers_settle(batch, ctxs)
    _priorities_update(batch)
    for case in followups_on_route(
        restarted=restarted, counted=counted, by_author=batch.by_author, now=now
    ):
        batch.touch(case)

    if batch.new:
        Case.objects.bulk_create(batch.new)
    new_ids = {id(c) for c in batch.new}
    existing_changed = [c for c in batch.changed.values() if id(c) not in new_ids]
    if existing_changed:
        Case.objects.bulk_update(existing_changed, _ROUTE_FIELDS)
    if batch.links:
        CaseMention.objects.bulk_create(
            [
                CaseMention(
                    case=link.case,
                    mention=link.mention,
                    brand_id=link.case.brand_id,
                    is_brand_reply=link.is_brand_reply,
                    conversation=link.conversation,
                    external_id=link.mention.external_id[:_ID_LENGTH],
                )
                for link in batch.links
            ],
            ignore_conflicts=True,
        )
    if batch.tags:
        Through = Case.tags.through
        Through.objects.bulk_create(
            [
                Through(case_id=batch.changed[key].pk, tag_id=tag_id)
                for key, tag_id in sorted(batch.tags)
            ],
            ignore_conflicts=True,
        )
    if batch.pending:
        waits_until = shifted(now, days=WAIT_DAYS)
        WaitingBrandReply.objects.bulk_create(
            [
                WaitingBrandReply(
                    match=item.match,
                    brand_id=item.match.brand_id,
                    mention=item.mention,
                    in_reply_to=item.mention.in_reply_to,
                    thread_id=item.mention.thread_id,
                    waits_until=waits_until,
                )
                for item in batch.pending
            ],
            ignore_conflicts=True,  # routed again: it waits already
        )
    if linked_rows:
        WaitingBrandReply.objects.filter(pk__in=linked_rows).delete()
    standings_recount(
        {(brand_id, m.author_id) for brand_id, m in counted if m.author_id},
        routing_match_ids=[m.pk for m in matches],
    )
    return result


_ROUTE_FIELDS = [
    "kind",
    "status",
    "last_mention_at",
    "answer_target",
    "needs_answer_at",
    "first_response_at",
    "first_response_due",
    "followup_until",
    "resolved_at",
    "reopened_count",
    "resolution_due",
    "priority",
    "priority_band",
    "priority_parts",
    *FOLLOWUP_FIELDS,
]


def _priorities_update(batch: _Batch) -> None:
    """Recompute the priority of every touched case from all its customer mentions; a
    history case has none (0, low, no parts)."""
    new_ids = {id(c) for c in batch.new}
    earlier = [c.pk for c in batch.changed.values() if id(c) not in new_ids and not c.is_history]
    known: dict[int, list[Mention]] = defaultdict(list)
    if earlier:
        # casemention_case_idx
        for link in CaseMention.objects.filter(
            case_id__in=earlier, is_brand_reply=False
        ).select_related("mention", "mention__author"):
            known[link.case_id].append(link.mention)
    for key, case in batch.changed.items():
        if case.is_history:
            case.priority, case.priority_band, case.priority_parts = 0.0, "low", {}
            continue
        mentions = {m.pk: m for m in known.get(case.pk, [])} if case.pk else {}
        mentions.update({m.pk: m for m in batch.mentions.get(key, [])})
        priority_set(case, mentions=list(mentions.values()), now=batch.now)


def waiting_replies_expire(*, now: datetime | None = None) -> int:
    """Drop the brand replies that waited past ``waits_until`` for the post they answer.

    Idempotent. Touches WaitingBrandReply only (one DELETE; their MentionMatch rows stay
    routed, so they are not routed again). Returns how many were dropped.
    """
    now = now or timezone.now()
    # waitingreply_until_idx
    deleted, _ = WaitingBrandReply.objects.filter(waits_until__lt=now).delete()
    return deleted


def waiting_replies_requeue() -> int:
    """Send back to routing the waiting brand replies whose parent (``in_reply_to``) or
    conversation (``thread_id``) is in a case of the brand and of the same mode by now.

    Two routers working at once can each miss the other: one places the customer post while
    the other, not seeing it yet, files the brand's answer as waiting. Their MentionMatch rows
    are unrouted again and the waiting rows deleted, so the next sweep links them (as brand
    replies). Idempotent. Touches WaitingBrandReply and MentionMatch.routed_at (one read, one
    UPDATE, one DELETE). Returns how many were sent back.
    """
    same_mode = Q(case__is_history=OuterRef("match__is_history"), brand_id=OuterRef("brand_id"))
    # casemention_extid_idx and casemention_conv_idx, per waiting row.
    parent_placed = CaseMention.objects.filter(same_mode, external_id=OuterRef("in_reply_to"))
    thread_placed = CaseMention.objects.filter(same_mode, conversation=OuterRef("thread_id"))
    with transaction.atomic():
        rows = list(
            WaitingBrandReply.objects.filter(
                (~Q(in_reply_to="") & Exists(parent_placed))
                | (~Q(thread_id="") & Exists(thread_placed))
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "match_id")
        )
        if rows:
            MentionMatch.objects.filter(pk__in=[m for _, m in rows]).update(routed_at=None)
            WaitingBrandReply.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    return len(rows)


def mentions_route(*, limit: int = 2000, now: datetime | None = None) -> RouteResult:
    """Route up to ``limit`` unrouted brand mentions, oldest first, into cases.

    Idempotent: each batch locks its MentionMatch rows (SKIP LOCKED, so concurrent workers
    take different rows), routes them and marks them routed in the same transaction;
    CaseMention is unique per (mention, brand), a row routed again changes nothing. Touches
    Case (open, join, reopen, brand replies, first response, priority, tags, follow-up),
    CaseMention, WaitingBrandReply (created, linked and deleted), AuthorStanding,
    CareSettings (defaults created for brands without) and MentionMatch.routed_at and
    route_error. A constant number of queries per batch (plus one per round of linking
    waiting replies, at most LINK_ROUNDS).

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
