"""Reads for the case page, the author page and replies.

Every entry point takes the user and goes through brands.permissions, so a caller never
holds an object the user may not see. The case page is built from a fixed number of queries
(pinned in tests/engagement/test_views_case.py), whatever the length of the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from brands.models import Brand, Membership
from brands.permissions import ALLOWED, Action, get_for_user, require
from engagement.models import (
    AuthorStanding,
    Case,
    CaseMention,
    Note,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
)
from listening.connectors.registry import UnknownSourceKind, connector_for
from listening.models import Author, Mention, MentionMatch, Source
from listening.outside import web_url


@dataclass(frozen=True)
class ReplyChannel:
    """Whether Earshot can post a reply on the platform, and if not, why (for the agent)."""

    can_send: bool
    why_not: str = ""
    # The platform's longest reply, when it is shorter than Earshot's own limit.
    max_chars: int | None = None
    # The platform's name as agents know it ("Bluesky"), for messages.
    platform: str = ""


CANNOT_POST = "This platform cannot be answered from Earshot: reply there and mark it replied."
NO_CUSTOMER_POST = "This case has no customer post to reply to."


def source_reply_channel(*, source: Source) -> ReplyChannel:
    """Can a reply to a post of this source go out through its connector: a platform that
    takes replies, and a source holding the credentials the connector needs? The reply box
    and services.reply_send both ask this."""
    try:
        connector = connector_for(source.kind)
    except UnknownSourceKind:
        return ReplyChannel(can_send=False, why_not=CANNOT_POST)
    if not connector.supports_reply:
        return ReplyChannel(can_send=False, why_not=CANNOT_POST)
    missing = connector.reply_credentials_missing(source.config or {})
    return ReplyChannel(
        can_send=not missing,
        why_not=missing,
        max_chars=connector.reply_max_chars,
        platform=connector.platform.title(),
    )


def case_get_for_user(*, case_id: int, user, action: Action = Action.VIEW_QUEUE) -> Case:
    """The case with its brand, author and owner; 404 for non-members, 403 for other roles."""
    qs = Case.objects.select_related("brand", "author", "assignee")
    return get_for_user(qs, user, action, id=case_id)


def reply_get_for_user(*, reply_id: int, user, action: Action = Action.WORK_CASES) -> Reply:
    qs = Reply.objects.select_related("case__brand", "case__author", "case__assignee")
    return get_for_user(qs, user, action, brand_field="case__brand_id", id=reply_id)


def case_mention_get_for_user(
    *, case_id: int, mention_id: int, user, action: Action = Action.VIEW_QUEUE
) -> CaseMention:
    """A mention as part of a case (the brand that corrects or explains it is the case's)."""
    qs = CaseMention.objects.select_related("case__brand", "mention__author", "mention__source")
    qs = qs.prefetch_related(_corrections_prefetch())
    return get_for_user(
        qs, user, action, brand_field="case__brand_id", case_id=case_id, mention_id=mention_id
    )


def saved_reply_get(*, case: Case, saved_id: int) -> SavedReply:
    """A saved reply of the case's brand (the case itself was fetched through permissions)."""
    saved = SavedReply.objects.filter(brand_id=case.brand_id, pk=saved_id).first()
    if saved is None:
        raise Http404("No such saved reply.")
    return saved


def _corrections_prefetch() -> Prefetch:
    # Newest first: the page shows the current correction beside VADER's own score.
    return Prefetch(
        "mention__corrections",
        queryset=SentimentCorrection.objects.select_related("user").order_by("-created_at"),
        to_attr="corrections_newest_first",
    )


def _part_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return f"{value:+.2f}"
    if isinstance(value, dict) and "text" in value and "points" in value:
        return f"{value['text']} ({_part_value(value['points'])})"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_part_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_part_value(v) for v in value)
    return str(value)


def priority_parts(parts: Any) -> list[tuple[str, str]]:
    """The parts that explain a case's priority, as (name, value) lines whatever the JSON."""
    if isinstance(parts, dict):
        return [(str(name).replace("_", " "), _part_value(v)) for name, v in parts.items()]
    if isinstance(parts, list):
        lines = []
        for part in parts:
            if isinstance(part, dict) and ("name" in part or "label" in part):
                name = str(part.get("name") or part.get("label"))
                rest = {k: v for k, v in part.items() if k not in ("name", "label")}
                lines.append((name, _part_value(rest)))
            else:
                lines.append(("", _part_value(part)))
        return lines
    return []


@dataclass
class Entry:
    """One item of the conversation, in time order: a mention, an Earshot reply or a note."""

    kind: str  # "mention", "reply" or "note"
    at: datetime
    obj: Any
    link: str = ""
    correction: SentimentCorrection | None = None


@dataclass
class CasePage:
    case: Case
    conversation: list[Entry]
    tags: list[Tag]
    case_tag_ids: set[int]
    saved_replies: list[SavedReply]
    standing: AuthorStanding | None
    other_cases: list[Case]
    similar: list[Case]
    workers: list[Any]
    reply_channel: ReplyChannel
    previous_id: int | None
    next_id: int | None
    author_link: str = ""
    priority_parts: list[tuple[str, str]] = field(default_factory=list)


def case_conversation(*, case: Case) -> list[Entry]:
    """Mentions (the author's and the brand's own), Earshot replies and notes, oldest first."""
    links = (
        CaseMention.objects.filter(case=case)
        .select_related("mention__author", "mention__source")
        .prefetch_related(_corrections_prefetch())
    )
    entries: list[Entry] = []
    for link in links:
        mention = link.mention
        corrections = [c for c in mention.corrections_newest_first if c.brand_id == case.brand_id]
        entries.append(
            Entry(
                kind="mention",
                at=mention.published_at,
                obj=link,
                link=web_url(mention.url),
                correction=corrections[0] if corrections else None,
            )
        )
    for reply in Reply.objects.filter(case=case).select_related("user"):
        entries.append(Entry(kind="reply", at=reply.created_at, obj=reply, link=web_url(reply.url)))
    for note in Note.objects.filter(case=case).select_related("user"):
        entries.append(Entry(kind="note", at=note.created_at, obj=note))
    order = {"mention": 0, "reply": 1, "note": 2}
    entries.sort(key=lambda e: (e.at, order[e.kind], e.obj.pk))
    return entries


def case_workers(*, brand_id: int) -> QuerySet:
    """Users who may work the brand's cases (the assign choices)."""
    roles = ALLOWED[Action.WORK_CASES]
    member_ids = Membership.objects.filter(brand_id=brand_id, role__in=roles).values("user_id")
    return (
        get_user_model()
        .objects.filter(Q(pk__in=member_ids) | Q(is_superuser=True), is_active=True)
        .order_by("username")
    )


def case_reply_channel(*, conversation: list[Entry]) -> ReplyChannel:
    """How a reply to the case's latest customer mention can go out (see
    source_reply_channel)."""
    for entry in reversed(conversation):
        if entry.kind == "mention" and not entry.obj.is_brand_reply:
            return source_reply_channel(source=entry.obj.mention.source)
    return ReplyChannel(can_send=False, why_not=NO_CUSTOMER_POST)


def case_neighbours(*, case: Case) -> tuple[int | None, int | None]:
    """Previous and next unresolved case of the same brand and kind in the queue's default
    order (-priority, opened_at, pk), for the [ and ] keys. Two queries, each an ordered
    read of case_open_priority_idx: the status condition is spelled exactly as that partial
    index's (NOT status = 'resolved' made PostgreSQL scan 100k cases, 25 ms each)."""
    open_cases = Case.objects.filter(
        brand_id=case.brand_id, kind=case.kind, status__in=Case.OPEN_STATUSES
    )
    p, o, pk = case.priority, case.opened_at, case.pk
    earlier = (
        Q(priority__gt=p) | Q(priority=p, opened_at__lt=o) | Q(priority=p, opened_at=o, pk__lt=pk)
    )
    later = (
        Q(priority__lt=p) | Q(priority=p, opened_at__gt=o) | Q(priority=p, opened_at=o, pk__gt=pk)
    )
    before = (
        open_cases.filter(earlier)
        .order_by("priority", "-opened_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    after = (
        open_cases.filter(later)
        .order_by("-priority", "opened_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return before, after


# A similar-requests group lists at most this many cases per key: enough to answer a wave of
# the same complaint at once, without sorting every case of a viral key on each case page.
SIMILAR_LIMIT = 200


def similar_cases(*, case: Case) -> QuerySet[Case]:
    """Unresolved cases of the same brand and kind that share the case's similarity key or
    phrase key (the case itself excluded), highest priority first, at most SIMILAR_LIMIT per
    key. Read-only. One ordered read of case_similar_open_idx / case_phrase_open_idx per key
    (an OR of both keys cannot be read in order and sorted the whole group: 53 ms with 20k)."""
    base = Case.objects.filter(
        brand_id=case.brand_id, kind=case.kind, status__in=Case.OPEN_STATUSES
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


def case_similar(*, case: Case) -> list[Case]:
    return list(
        similar_cases(case=case).exclude(pk=case.pk).select_related("author", "assignee")[:50]
    )


def case_page(*, case: Case) -> CasePage:
    """Everything the case page shows besides presence (the caller already checked access)."""
    conversation = case_conversation(case=case)
    brand_tags = list(Tag.objects.filter(brand_id=case.brand_id))
    case_tag_ids = set(case.tags.values_list("pk", flat=True))
    standing = None
    other_cases: list[Case] = []
    if case.author_id:
        standing = AuthorStanding.objects.filter(
            author_id=case.author_id, brand_id=case.brand_id
        ).first()
        other_cases = list(
            Case.objects.filter(brand_id=case.brand_id, author_id=case.author_id)
            .exclude(pk=case.pk)
            .order_by("-opened_at")[:10]
        )
    previous_id, next_id = case_neighbours(case=case)
    return CasePage(
        case=case,
        conversation=conversation,
        tags=brand_tags,
        case_tag_ids=case_tag_ids,
        saved_replies=list(SavedReply.objects.filter(brand_id=case.brand_id)),
        standing=standing,
        other_cases=other_cases,
        similar=case_similar(case=case),
        workers=list(case_workers(brand_id=case.brand_id)),
        reply_channel=case_reply_channel(conversation=conversation),
        previous_id=previous_id,
        next_id=next_id,
        author_link=web_url(case.author.profile_url) if case.author else "",
        priority_parts=priority_parts(case.priority_parts),
    )


@dataclass
class AuthorProfile:
    author: Author
    brand: Brand
    standing: AuthorStanding | None
    cases: list[Case]
    mentions: list[Mention]
    trajectory: list[dict]
    profile_link: str


def author_profile_get(*, author_id: int, brand_id: int | None, user) -> AuthorProfile:
    """An author as seen by one brand: 404 unless the user is a member and the brand heard them."""
    if brand_id is None:
        raise Http404("No such page.")
    require(user, brand_id, Action.VIEW_QUEUE)
    author = Author.objects.filter(pk=author_id).first()
    brand = Brand.objects.filter(pk=brand_id).first()
    if author is None or brand is None:
        raise Http404("No such page.")
    heard = MentionMatch.objects.filter(brand_id=brand_id, mention__author_id=author_id)
    cases = list(
        Case.objects.filter(brand_id=brand_id, author_id=author_id)
        .select_related("assignee")
        .order_by("-opened_at")
    )
    if not cases and not heard.exists():
        raise Http404("No such page.")
    mentions = list(
        Mention.objects.filter(author_id=author_id, matches__brand_id=brand_id).order_by(
            "-published_at"
        )[:100]
    )
    return AuthorProfile(
        author=author,
        brand=brand,
        standing=AuthorStanding.objects.filter(author_id=author_id, brand_id=brand_id).first(),
        cases=cases,
        mentions=mentions,
        trajectory=author_trajectory(author=author, brand=brand),
        profile_link=web_url(author.profile_url),
    )


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
