"""Working the queue: claiming, assigning, statuses, replies, notes, tags, corrections.

Every service checks permissions itself (brands.permissions.require: 404 for a
non-member, 403 for a role that may not act) and raises CaseActionError, whose message is
shown to the user as is, when the action cannot be done right now ("Already claimed by
tom."). Ownership changes are single conditional UPDATEs whose row count is checked, so two
agents pressing a button at the same moment never both win. Every change that matters writes
an AuditLog row (who, when, what, before and after).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models, transaction
from django.db.models import F, Value, When
from django.http import Http404
from django.utils import timezone

from brands.models import Brand
from brands.permissions import Action, Role, brand_ids_for, can, require, role_in
from brands.services import audit_record
from engagement.models import (
    CareSettings,
    Case,
    CasePresence,
    Note,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
)
from engagement.priority import priority_waiting_update
from engagement.selectors.case import (
    NO_CUSTOMER_POST,
    NOT_A_TARGET,
    case_reply_target_get,
    source_reply_channel,
)
from engagement.selectors.queue import care_off_brand_ids_q
from engagement.standing import standing_label_change
from listening.connectors.base import ConnectorError, SourceState
from listening.connectors.registry import connector_for
from listening.models import Mention, MentionMatch
from listening.rollups import rollups_label_change

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 5000
MAX_NOTE_CHARS = 5000
MAX_REASON_CHARS = 300
# Claims retry this often when the row changed between reading and updating it (released
# and re-claimed in between); more would only mean someone is hammering the same case.
_CLAIM_ATTEMPTS = 3


class CaseActionError(Exception):
    """The action cannot be done now; str(exc) is a message for the user."""


# --- helpers ---------------------------------------------------------------------------------


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _is_admin(user: Any, brand_id: int) -> bool:
    return role_in(user, brand_id) == Role.ADMIN


def _lock(case: Case) -> Case:
    """The case's row, locked until the surrounding transaction ends.

    No select_related here: when the lock had to wait for another transaction, PostgreSQL
    re-checks the updated case row against the joined rows it read before waiting, so a
    joined assignee would come back as the previous owner's row or as NULL.
    """
    return Case.objects.select_for_update().get(pk=case.pk)


def _copy_into(target: Case, source: Case) -> Case:
    """Refresh the caller's instance from a fresher one without another query."""
    for field in Case._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    if "assignee" in source._state.fields_cache:
        target.assignee = source.assignee
    return target


def _require_owner(case: Case, user: Any, *, action: str) -> None:
    """CaseActionError unless user owns the (locked) case; action completes the message."""
    if case.assignee_id == user.pk:
        return
    if case.assignee_id is None:
        raise CaseActionError(f"Claim the case to {action}.")
    raise CaseActionError(f"Take over the case to {action}; {_username(case.assignee)} owns it.")


def _claimed_by_message(case_id: int) -> str:
    owner = Case.objects.filter(pk=case_id).values_list("assignee__username", flat=True).first()
    return f"Already claimed by {owner}." if owner else "Someone else just claimed this case."


def _open_if_new() -> models.Case:
    # One UPDATE both claims and opens: "new" means nobody has picked the case up yet.
    return models.Case(
        When(status=Case.Status.NEW, then=Value(Case.Status.OPEN)), default=F("status")
    )


# --- claiming and assignment -----------------------------------------------------------------


def case_claim(*, case_id: int, user: Any) -> Case:
    """Make user the owner of an unassigned case; new becomes open.

    Idempotent for the owner (claiming one's own case changes nothing). Touches Case
    (assignee, status) with one conditional UPDATE and writes a "claim" AuditLog entry.
    Raises CaseActionError naming the owner when someone else has it; Http404/PermissionDenied
    when the user may not work the case's brand.
    """
    case = Case.objects.select_related("assignee", "brand").filter(pk=case_id).first()
    if case is None:
        raise Http404("No such case.")
    require(user, case.brand_id, Action.WORK_CASES)
    for _ in range(_CLAIM_ATTEMPTS):
        if case.assignee_id == user.pk:
            return case
        if case.assignee_id is not None:
            raise CaseActionError(f"Already claimed by {_username(case.assignee)}.")
        before_status = case.status
        with transaction.atomic():
            claimed = Case.objects.filter(pk=case_id, assignee__isnull=True).update(
                assignee=user, status=_open_if_new()
            )
            if claimed:
                case.refresh_from_db(fields=["assignee", "status"])
                audit_record(
                    actor=user,
                    brand=case.brand,
                    action="claim",
                    obj=case,
                    before={"assignee": None, "status": before_status},
                    after={"assignee": _username(user), "status": case.status},
                )
                return case
        case = Case.objects.select_related("assignee", "brand").get(pk=case_id)
    raise CaseActionError(_claimed_by_message(case_id))


def case_claim_next(*, user: Any, brand_ids: list[int] | None = None) -> Case | None:
    """Claim the highest-priority unclaimed, unresolved care case of the user's brands (never
    an imported history case, nor one of a brand whose care is off: neither is in the queue).

    brand_ids narrows the brands (those the user may not work are ignored). Concurrent calls
    get different cases: the candidate row is locked with SKIP LOCKED, then claimed with a
    conditional UPDATE. Returns None when the queue is empty. Touches one Case and writes a
    "claim" AuditLog entry. Not idempotent: every call claims another case.
    """
    allowed = set(brand_ids_for(user, Action.WORK_CASES))
    if brand_ids is not None:
        allowed &= set(brand_ids)
    if not allowed:
        return None
    for _ in range(_CLAIM_ATTEMPTS):
        with transaction.atomic():
            # Same conditions as case_unclaimed_idx, so the partial index serves the query;
            # never a history case, nor one of a brand whose care is off (not in the queue).
            candidate = (
                Case.objects.select_for_update(skip_locked=True)
                .filter(
                    brand_id__in=allowed,
                    assignee__isnull=True,
                    kind=Case.Kind.CARE,
                    is_history=False,
                )
                .exclude(status=Case.Status.RESOLVED)
                .exclude(brand_id__in=care_off_brand_ids_q())
                .order_by("-priority", "opened_at", "pk")
                .first()
            )
            if candidate is None:
                return None
            before_status = candidate.status
            claimed = Case.objects.filter(pk=candidate.pk, assignee__isnull=True).update(
                assignee=user, status=_open_if_new()
            )
            if not claimed:
                continue
            candidate.refresh_from_db(fields=["assignee", "status"])
            audit_record(
                actor=user,
                brand=candidate.brand,
                action="claim",
                obj=candidate,
                before={"assignee": None, "status": before_status},
                after={"assignee": _username(user), "status": candidate.status},
            )
            return candidate
    return None


def case_release(*, case: Case, user: Any) -> Case:
    """Give a case back to the queue: the owner, or an admin of the brand, unassigns it.

    Idempotent (releasing an unassigned case changes nothing). Touches Case.assignee with a
    conditional UPDATE on the owner seen; writes a "release" AuditLog entry.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    with transaction.atomic():
        locked = _lock(case)
        if locked.assignee_id is None:
            return _copy_into(case, locked)
        if locked.assignee_id != user.pk and not _is_admin(user, case.brand_id):
            raise CaseActionError(
                f"Only {_username(locked.assignee)} (the owner) or an admin can release it."
            )
        previous = locked.assignee
        Case.objects.filter(pk=locked.pk, assignee=previous).update(assignee=None)
        locked.assignee = None
        audit_record(
            actor=user,
            brand=locked.brand,
            action="release",
            obj=locked,
            before={"assignee": _username(previous)},
            after={"assignee": None},
        )
    return _copy_into(case, locked)


def case_assign(*, case: Case, user: Any, assignee: Any) -> Case:
    """Assign a case to an agent or admin of its brand; new becomes open.

    Admins assign any case. Agents assign cases that are unassigned or their own (handing
    over); someone else's case must be taken over explicitly first (no silent collisions).
    Idempotent (assigning to the current owner changes nothing). Touches Case (assignee,
    status); writes an "assign" AuditLog entry with the assignee before and after.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    if assignee is None or not can(assignee, case.brand_id, Action.WORK_CASES):
        raise CaseActionError("Cases can only be assigned to agents and admins of this brand.")
    with transaction.atomic():
        locked = _lock(case)
        if locked.assignee_id == assignee.pk:
            return _copy_into(case, locked)
        if locked.assignee_id not in (None, user.pk) and not _is_admin(user, case.brand_id):
            raise CaseActionError(
                f"Take over the case to reassign it; {_username(locked.assignee)} owns it."
            )
        _owner_set(locked, actor=user, owner=assignee, action="assign")
    return _copy_into(case, locked)


def _owner_set(locked: Case, *, actor: Any, owner: Any, action: str) -> None:
    """Give a locked case to owner (a new case opens) and audit who had it before."""
    before = {"assignee": _username(locked.assignee), "status": locked.status}
    locked.assignee = owner
    if locked.status == Case.Status.NEW:
        locked.status = Case.Status.OPEN
    locked.save(update_fields=["assignee", "status"])
    audit_record(
        actor=actor,
        brand=locked.brand,
        action=action,
        obj=locked,
        before=before,
        after={"assignee": _username(owner), "status": locked.status},
    )


def case_takeover(*, case: Case, user: Any) -> Case:
    """Take a case from its current owner, explicitly; the audit entry names who had it.

    Idempotent for the owner. An unassigned case is simply claimed. Touches Case.assignee with
    a conditional UPDATE on the owner seen; writes a "takeover" AuditLog entry.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    with transaction.atomic():
        locked = _lock(case)
        if locked.assignee_id == user.pk:
            return _copy_into(case, locked)
        if locked.assignee_id is None:
            claimed = case_claim(case_id=locked.pk, user=user)
            return _copy_into(case, claimed)
        _owner_set(locked, actor=user, owner=user, action="takeover")
    return _copy_into(case, locked)


# --- status ----------------------------------------------------------------------------------

_TRANSITIONS: dict[str, frozenset[str]] = {
    Case.Status.NEW: frozenset({Case.Status.OPEN}),
    Case.Status.OPEN: frozenset({Case.Status.WAITING, Case.Status.RESOLVED}),
    Case.Status.WAITING: frozenset({Case.Status.OPEN, Case.Status.RESOLVED}),
    Case.Status.RESOLVED: frozenset({Case.Status.OPEN}),
}


def case_status_set(*, case: Case, user: Any, status: str) -> Case:
    """Move a case along new -> open -> waiting -> resolved (and reopen resolved -> open).

    Only the owner or an admin may. Resolving sets resolved_at; reopening clears it and
    counts reopened_count. Idempotent (setting the current status changes nothing). Touches
    Case (status, resolved_at, reopened_count); writes a "status" AuditLog entry.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    if status not in Case.Status.values:
        raise CaseActionError(f"{status!r} is not a case status.")
    with transaction.atomic():
        locked = _lock(case)
        if locked.status == status:
            return _copy_into(case, locked)
        if not _is_admin(user, case.brand_id):
            _require_owner(locked, user, action="change its status")
        if status not in _TRANSITIONS[locked.status]:
            raise CaseActionError(
                f"A {Case.Status(locked.status).label.lower()} case cannot become "
                f"{Case.Status(status).label.lower()}."
            )
        before = {
            "status": locked.status,
            "resolved_at": locked.resolved_at,
            "reopened_count": locked.reopened_count,
        }
        if status == Case.Status.RESOLVED:
            locked.resolved_at = timezone.now()
        elif locked.status == Case.Status.RESOLVED:
            locked.resolved_at = None
            locked.reopened_count += 1
        locked.status = status
        # No longer "waited 50 of 60 min" once resolved or waiting on the customer.
        priority_waiting_update(locked, now=timezone.now())
        locked.save(
            update_fields=[
                "status",
                "resolved_at",
                "reopened_count",
                "priority",
                "priority_band",
                "priority_parts",
            ]
        )
        audit_record(
            actor=user,
            brand=locked.brand,
            action="reopen" if before["status"] == Case.Status.RESOLVED else "status",
            obj=locked,
            before=before,
            after={
                "status": locked.status,
                "resolved_at": locked.resolved_at,
                "reopened_count": locked.reopened_count,
            },
        )
    return _copy_into(case, locked)


# --- notes and tags --------------------------------------------------------------------------


def note_add(*, case: Case, user: Any, text: str) -> Note:
    """Add an internal note (never sent). Not idempotent; touches Note only."""
    require(user, case.brand_id, Action.WORK_CASES)
    text = text.strip()
    if not text:
        raise CaseActionError("Write something in the note.")
    if len(text) > MAX_NOTE_CHARS:
        raise CaseActionError(f"A note can be at most {MAX_NOTE_CHARS} characters.")
    return Note.objects.create(case=case, user=user, text=text)


def case_tags_set(*, case: Case, user: Any, tag_ids: list[int]) -> Case:
    """Replace a case's tags with tag_ids (tags of the case's brand only).

    Idempotent. Touches the case-tag table; writes a "tags" AuditLog entry when they change.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    wanted = set(tag_ids)
    tags = list(Tag.objects.filter(brand_id=case.brand_id, pk__in=wanted))
    if len(tags) != len(wanted):
        raise CaseActionError("Choose tags of this brand only.")
    with transaction.atomic():
        locked = _lock(case)
        current = sorted(locked.tags.values_list("name", flat=True))
        after = sorted(t.name for t in tags)
        if current != after:
            locked.tags.set(tags)
            audit_record(
                actor=user,
                brand=locked.brand,
                action="tags",
                obj=locked,
                before={"tags": current},
                after={"tags": after},
            )
    return _copy_into(case, locked)


# --- saved replies ---------------------------------------------------------------------------

# {name} with a plain identifier, nothing else: no attribute access, index, conversion or
# format spec ever reaches str.format, so a hostile template can neither raise nor leak.
_VARIABLE_RE = re.compile(r"\{([a-z_]+)\}")
# {name:argument}: a function of an app above this one, which registers it
# (saved_reply_function_register), e.g. tracking's {link:<code>}, which becomes the case's own
# tracked link. The argument is a plain token; the function gets it with the case and user.
_FUNCTION_RE = re.compile(r"\{([a-z_]+):([A-Za-z0-9_-]{1,64})\}")
_SAVED_REPLY_FUNCTIONS: dict[str, Callable[..., str | None]] = {}


def saved_reply_function_register(name: str, function: Callable[..., str | None]) -> None:
    """Let saved replies use {name:argument}: function(argument=, case=, user=) returns the
    text to put there, or None to leave the placeholder as typed. Called from an AppConfig's
    ready(); registering a name again replaces the function (idempotent for the same one)."""
    _SAVED_REPLY_FUNCTIONS[name] = function


def saved_reply_render(*, saved_reply: SavedReply, case: Case, user: Any) -> str:
    """The saved reply's body with {author_name}, {author_handle}, {brand}, {agent_name}
    filled in for this case, and registered functions such as {link:<code>} run; anything
    else in braces is left as typed. Never raises on the template. Read-only, except what a
    function writes (tracking's {link:<code>} makes the case's link once, then reuses it).
    """
    require(user, case.brand_id, Action.WORK_CASES)
    if saved_reply.brand_id != case.brand_id:
        raise CaseActionError("That saved reply belongs to another brand.")
    author = case.author
    values = {
        "author_name": (author.display_name or author.handle) if author else "",
        "author_handle": author.handle if author else "",
        "brand": case.brand.name,
        "agent_name": user.get_full_name() or user.get_username(),
    }

    def substitute(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    def call(match: re.Match[str]) -> str:
        function = _SAVED_REPLY_FUNCTIONS.get(match.group(1))
        if function is None:
            return match.group(0)
        text = function(argument=match.group(2), case=case, user=user)
        return match.group(0) if text is None else text

    # Functions first, on the template as written: a customer's name that happens to look
    # like {link:...} is never run.
    return _VARIABLE_RE.sub(substitute, _FUNCTION_RE.sub(call, saved_reply.body))


# --- replies ---------------------------------------------------------------------------------


def _reply_text_clean(text: str) -> str:
    text = text.strip()
    if not text:
        raise CaseActionError("Write the reply first.")
    if len(text) > MAX_REPLY_CHARS:
        raise CaseActionError(f"A reply can be at most {MAX_REPLY_CHARS} characters.")
    return text


HISTORY_NO_REPLY = "This case was imported from history: it takes no replies."


def _reply_target(case: Case, in_reply_to_id: int | None) -> Mention | None:
    """The customer post a reply answers: the one the agent chose, which must be a customer
    post of this very case (CaseActionError otherwise: never a post of another case or
    brand, nor the brand's own), else the default (selectors' case_reply_target_get)."""
    target = case_reply_target_get(case=case, mention_id=in_reply_to_id)
    if in_reply_to_id is not None and target is None:
        raise CaseActionError(NOT_A_TARGET)
    return target


def _reply_allowed(case: Case) -> None:
    if case.is_history:
        raise CaseActionError(HISTORY_NO_REPLY)


def _first_response_mark(case: Case, now: datetime) -> dict[str, Any]:
    """Set first response, follow-up window and waiting status on a locked case; the
    fields before the change, for the audit."""
    before = {
        "status": case.status,
        "first_response_at": case.first_response_at,
        "followup_until": case.followup_until,
    }
    if case.first_response_at is None:
        case.first_response_at = now
        care = CareSettings.objects.filter(brand_id=case.brand_id).first()
        if care is not None:
            case.followup_until = now + timedelta(days=care.followup_days)
    # Answered: the ball is in the customer's court. A resolved case stays resolved.
    if case.status in (Case.Status.NEW, Case.Status.OPEN):
        case.status = Case.Status.WAITING
    priority_waiting_update(case, now=now)
    case.save(
        update_fields=[
            "status",
            "first_response_at",
            "followup_until",
            "priority",
            "priority_band",
            "priority_parts",
        ]
    )
    return before


def _reply_enqueue(reply_id: int) -> None:
    # Imported here: engagement.tasks imports this module for reply_deliver.
    from engagement.tasks import reply_deliver_task

    transaction.on_commit(lambda: reply_deliver_task.delay(reply_id))


def reply_send(*, case: Case, user: Any, text: str, in_reply_to_id: int | None = None) -> Reply:
    """Store the owner's reply and queue its delivery through the source's connector.

    The reply answers in_reply_to_id, a customer post of this case the agent chose (any
    other post: CaseActionError), by default the post that made the case need an answer,
    else its latest customer post; delivery posts under it, on that post's source. The
    source's connector must support replying and the source must hold credentials, else
    CaseActionError (the agent replies on the platform and uses reply_mark_manual). A
    history case takes no replies.
    Not idempotent (each call is a reply). Touches Reply (status sending), Case
    (first_response_at, followup_until, status -> waiting) and AuditLog ("reply"); delivery
    is enqueued after commit.
    """
    require(user, case.brand_id, Action.WORK_CASES)
    text = _reply_text_clean(text)
    with transaction.atomic():
        locked = _lock(case)
        _reply_allowed(locked)
        _require_owner(locked, user, action="reply")
        target = _reply_target(locked, in_reply_to_id)
        if target is None:
            raise CaseActionError(NO_CUSTOMER_POST)
        channel = source_reply_channel(source=target.source)
        if not channel.can_send:
            raise CaseActionError(channel.why_not)
        if channel.max_chars is not None and len(text) > channel.max_chars:
            raise CaseActionError(
                f"{channel.platform} replies can be at most {channel.max_chars:,} characters; "
                f"this one has {len(text):,}."
            )
        now = timezone.now()
        reply = Reply.objects.create(
            case=locked,
            user=user,
            in_reply_to=target,
            text=text,
            status=Reply.Status.SENDING,
            created_at=now,
        )
        before = _first_response_mark(locked, now)
        _reply_audit(
            locked,
            user=user,
            reply=reply,
            action="reply",
            before=before,
            in_reply_to=target.external_id,
        )
        _reply_enqueue(reply.pk)
    _copy_into(case, locked)
    return reply


def _reply_audit(
    locked: Case, *, user: Any, reply: Reply, action: str, before: dict, **extra: Any
) -> None:
    """The audit entry of a reply: the case's response state after it, and the reply."""
    audit_record(
        actor=user,
        brand=locked.brand,
        action=action,
        obj=locked,
        before=before,
        after={
            "status": locked.status,
            "first_response_at": locked.first_response_at,
            "followup_until": locked.followup_until,
            "reply_id": reply.pk,
            "reply_status": reply.status,
            **extra,
            "text": reply.text,
        },
    )


_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


def reply_mark_manual(
    *, case: Case, user: Any, text: str, url: str = "", in_reply_to_id: int | None = None
) -> Reply:
    """Record a reply the owner posted on the platform by hand, with an optional link.

    It answers in_reply_to_id, a customer post of this case (any other post:
    CaseActionError), by default the same post reply_send would answer. A history case
    takes no replies.

    Not idempotent (each call is a reply). Touches Reply (status manual), Case (first
    response, follow-up window, status -> waiting) and AuditLog ("reply_manual").
    """
    require(user, case.brand_id, Action.WORK_CASES)
    text = _reply_text_clean(text)
    url = url.strip()
    if url:
        try:
            _URL_VALIDATOR(url)
        except ValidationError:
            raise CaseActionError("The link must be an http(s) URL.") from None
        if len(url) > 2000:
            raise CaseActionError("The link can be at most 2000 characters.")
    with transaction.atomic():
        locked = _lock(case)
        _reply_allowed(locked)
        _require_owner(locked, user, action="reply")
        target = _reply_target(locked, in_reply_to_id)
        now = timezone.now()
        reply = Reply.objects.create(
            case=locked,
            user=user,
            in_reply_to=target,
            text=text,
            status=Reply.Status.MANUAL,
            url=url,
            created_at=now,
            sent_at=now,
        )
        before = _first_response_mark(locked, now)
        _reply_audit(
            locked,
            user=user,
            reply=reply,
            action="reply_manual",
            before=before,
            url=url,
            in_reply_to=target.external_id if target else "",
        )
    _copy_into(case, locked)
    return reply


def reply_deliver(*, reply_id: int, is_final_attempt: bool = True) -> Reply:
    """Post a sending reply through its source's connector; record the attempt.

    Idempotent: only a reply in status sending is posted, under a row lock, so a SENT (or
    failed, or concurrently delivering) reply is never posted twice. Success -> sent with the
    platform's id, URL and sent_at. A transient failure (SourceUnavailable) with
    is_final_attempt False keeps the reply sending, records the error and re-raises, so the
    task can retry; any other failure, or the final attempt, -> failed with the reason.
    Touches that Reply only.
    """
    with transaction.atomic():
        reply = (
            Reply.objects.select_for_update(skip_locked=True)
            .filter(pk=reply_id, status=Reply.Status.SENDING)
            .first()
        )
        if reply is None:
            # Sent, failed, gone, or another worker holds it right now.
            return Reply.objects.filter(pk=reply_id).first() or Reply(pk=reply_id)
        reply.attempts += 1
        transient: ConnectorError | None = None
        target = (
            Mention.objects.select_related("source").filter(pk=reply.in_reply_to_id).first()
            if reply.in_reply_to_id
            else None
        )
        if target is None:
            reply.status, reply.error = Reply.Status.FAILED, "The customer's post is gone."
        else:
            try:
                result = connector_for(target.source.kind).reply(
                    SourceState.from_source(target.source),
                    in_reply_to=target.external_id,
                    text=reply.text,
                    # The same on every attempt: a platform that got the first attempt
                    # (the worker died before recording it) does not post it again.
                    key=f"earshot-reply-{reply.pk}",
                    created_at=reply.created_at,
                )
            except ConnectorError as exc:
                reply.error = str(exc)
                if exc.is_transient and not is_final_attempt:
                    transient = exc
                else:
                    reply.status = Reply.Status.FAILED
            except NotImplementedError as exc:
                reply.status, reply.error = Reply.Status.FAILED, str(exc)
            else:
                reply.status = Reply.Status.SENT
                reply.error = ""
                reply.external_id = result.external_id[:255]
                reply.url = result.url[:2000]
                reply.sent_at = timezone.now()
        reply.save(update_fields=["status", "attempts", "error", "external_id", "url", "sent_at"])
    if transient is not None:
        raise transient
    return reply


def reply_retry(*, reply: Reply, user: Any) -> Reply:
    """Send a failed reply again (the case's owner only): failed -> sending, enqueue.

    Idempotent (a reply that is not failed is left alone). Touches Reply.status with a
    conditional UPDATE and writes a "reply_retry" AuditLog entry.
    """
    case = reply.case
    require(user, case.brand_id, Action.WORK_CASES)
    with transaction.atomic():
        locked = _lock(case)
        _require_owner(locked, user, action="retry its reply")
        moved = Reply.objects.filter(pk=reply.pk, status=Reply.Status.FAILED).update(
            status=Reply.Status.SENDING
        )
        reply.refresh_from_db()
        if not moved:
            return reply
        audit_record(
            actor=user,
            brand=locked.brand,
            action="reply_retry",
            obj=reply,
            before={"status": Reply.Status.FAILED, "error": reply.error},
            after={"status": reply.status},
        )
        _reply_enqueue(reply.pk)
    return reply


# --- sentiment -------------------------------------------------------------------------------


def sentiment_correct(
    *, mention: Mention, brand: Brand, user: Any, label: str, reason: str
) -> SentimentCorrection:
    """Record an agent's corrected label for a mention of brand, beside its scores.

    The mention itself is never changed; the correction keeps the original label and
    compound: Earshot's (Mention.our_label / our_compound; an unscored mention may be given
    a label). The correction becomes the brand's effective label (MentionMatch.label): mention
    lists, counts and exports show it, and the author's standing counts it instead of the old
    one. Not idempotent (each call is a correction; the latest one counts). Touches
    SentimentCorrection, MentionMatch.label, AuthorStanding, the rollups (listening.rollups)
    and AuditLog ("sentiment_correct").
    """
    require(user, brand.pk, Action.WORK_CASES)
    if not MentionMatch.objects.filter(mention=mention, brand=brand).exists():
        raise Http404("No such mention.")
    if label not in Mention.Label.values:
        raise CaseActionError(f"{label!r} is not a sentiment label.")
    reason = reason.strip()
    if not reason:
        raise CaseActionError("Say why the label is wrong.")
    if len(reason) > MAX_REASON_CHARS:
        raise CaseActionError(f"The reason can be at most {MAX_REASON_CHARS} characters.")
    latest = (
        SentimentCorrection.objects.filter(mention=mention, brand=brand)
        .order_by("-created_at", "-pk")
        .values_list("label", flat=True)
        .first()
    )
    current = latest or mention.our_label
    if label == current:
        raise CaseActionError(f"The label is already {label}.")
    with transaction.atomic():
        correction = SentimentCorrection.objects.create(
            mention=mention,
            brand=brand,
            user=user,
            original_label=mention.our_label,
            original_compound=mention.our_compound,
            label=label,
            reason=reason,
        )
        # The effective label: the correction now counts wherever the brand's label is shown
        # or counted (listening.models.MentionMatch.label).
        match = (
            MentionMatch.objects.select_for_update()
            .filter(mention=mention, brand=brand)
            .values_list("pk", "label", "routed_at")
            .first()
        )
        if match is not None and match[1] != label:
            MentionMatch.objects.filter(pk=match[0]).update(label=label)
            rollups_label_change(match_id=match[0], before=match[1], after=label)
            if match[2] is not None and mention.author_id:
                standing_label_change(
                    brand_id=brand.pk, author_id=mention.author_id, before=match[1], after=label
                )
        audit_record(
            actor=user,
            brand=brand,
            action="sentiment_correct",
            obj=mention,
            before={"label": current, "compound": mention.our_compound},
            after={"label": label, "reason": reason, "correction_id": correction.pk},
        )
    return correction


# --- presence --------------------------------------------------------------------------------


def presence_touch(*, case: Case, user: Any, is_typing: bool = False) -> None:
    """Say user is looking at (or typing on) case now. Idempotent upsert of CasePresence."""
    require(user, case.brand_id, Action.VIEW_QUEUE)
    # One INSERT ... ON CONFLICT: concurrent touches of the same pair cannot collide.
    CasePresence.objects.bulk_create(
        [CasePresence(case=case, user=user, is_typing=is_typing, seen_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["case", "user"],
        update_fields=["is_typing", "seen_at"],
    )


def presence_others(*, case: Case, user: Any, within_seconds: int = 30) -> list[dict[str, Any]]:
    """Other users seen on the case within the last seconds. Read-only."""
    require(user, case.brand_id, Action.VIEW_QUEUE)
    since = timezone.now() - timedelta(seconds=within_seconds)
    rows = (
        CasePresence.objects.filter(case=case, seen_at__gte=since)
        .exclude(user=user)
        .order_by("user__username")
        .values_list("user__username", "is_typing")
    )
    return [{"username": username, "is_typing": is_typing} for username, is_typing in rows]
