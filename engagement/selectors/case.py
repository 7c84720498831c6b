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
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from brands.models import Brand, Membership
from brands.permissions import ALLOWED, Action, get_for_user, require
from engagement.models import (
    AuthorStanding,
    CareSettings,
    Case,
    CaseMention,
    Note,
    Reply,
    SavedReply,
    SentimentCorrection,
    Tag,
    sla_overdue,
)
from listening.connectors.registry import UnknownSourceKind, connector_for
from listening.models import Author, Mention, MentionMatch, Source, label_text
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
NOT_A_TARGET = "Choose one of this case's customer posts to answer."


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
    """The case with its brand (and its care settings), author, owner and the post that made
    it need an answer; 404 for non-members, 403 for other roles."""
    qs = Case.objects.select_related("brand__care", "author", "assignee", "answer_target__author")
    return get_for_user(qs, user, action, id=case_id)


def case_reply_target_get(*, case: Case, mention_id: int | None = None) -> Mention | None:
    """The customer post a reply on the case answers, with its source.

    mention_id given: that post, only if it is a customer post (not the brand's own) OF THIS
    CASE, else None (a post of another case or brand is never a target). Not given: the
    post that made the case need an answer (Case.answer_target) when it is still a customer
    post of the case, else the case's latest customer post (cases routed before
    answer_target existed). Read-only; one query (two when answer_target is gone).
    """
    links = CaseMention.objects.filter(case_id=case.pk, is_brand_reply=False).select_related(
        "mention__source", "mention__author"
    )
    if mention_id is not None:
        link = links.filter(mention_id=mention_id).first()
        return link.mention if link else None
    if case.answer_target_id:
        link = links.filter(mention_id=case.answer_target_id).first()
        if link is not None:
            return link.mention
    link = links.order_by("-mention__published_at", "-mention_id").first()
    return link.mention if link else None


def default_reply_target_id(*, case: Case, customer_posts: list[Mention]) -> int | None:
    """case_reply_target_get's default, picked from posts already loaded (the case page)."""
    if not customer_posts:
        return None
    if case.answer_target_id and any(m.pk == case.answer_target_id for m in customer_posts):
        return case.answer_target_id
    return max(customer_posts, key=lambda m: (m.published_at, m.pk)).pk


def sla_overdue_deadline(case: Any, now: datetime) -> str:
    """Which deadline models.sla_overdue finds passed: "first_response" (not answered by
    first_response_due), "resolution" (resolution_due passed, answered or without a
    first-response SLA) or "" (not overdue)."""
    if not sla_overdue(case, now):
        return ""
    if case.first_response_at is None and case.first_response_due:
        return "first_response"
    return "resolution"


def care_enabled(brand: Brand) -> bool:
    """Whether the brand's customers are answered (a brand without care settings is)."""
    try:
        care = brand.care
    except CareSettings.DoesNotExist:
        return True
    return care.care_enabled


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


# Keys of a priority part that name where it comes from rather than what it is worth.
_PART_SOURCE_KEYS = ("mention_id",)


def _part_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return f"{value:+.2f}"
    if isinstance(value, dict) and "text" in value and "points" in value:
        return f"{value['text']} ({_part_value(value['points'])})"
    if isinstance(value, dict):
        return ", ".join(
            f"{k}: {_part_value(v)}" for k, v in value.items() if k not in _PART_SOURCE_KEYS
        )
    if isinstance(value, list | tuple):
        return ", ".join(_part_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class PostRef:
    """A post of the case named on the page (by priority, or as what needs an answer): who
    wrote it, its first words, and the anchor of its entry in the conversation."""

    mention_id: int
    author: str
    excerpt: str
    at: datetime | None = None
    # Whether the post is shown in the conversation on the page (the link is an anchor).
    in_conversation: bool = True

    @property
    def anchor(self) -> str:
        return f"#mention-{self.mention_id}"


@dataclass(frozen=True)
class PriorityPart:
    """One line of a case's priority explanation, and the post it comes from, if it says."""

    name: str
    value: str
    post: PostRef | None = None


EXCERPT_CHARS = 80


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first words of a post on one line, cut at limit characters with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def post_ref(mention: Mention, *, in_conversation: bool = True) -> PostRef:
    author = mention.author if mention.author_id else None
    return PostRef(
        mention_id=mention.pk,
        author=(author.display_name or author.handle) if author else "unknown author",
        excerpt=excerpt(mention.text or mention.title),
        at=mention.published_at,
        in_conversation=in_conversation,
    )


def _part_mention_id(value: Any) -> int | None:
    if isinstance(value, dict):
        mention_id = value.get("mention_id")
        if isinstance(mention_id, int) and not isinstance(mention_id, bool):
            return mention_id
    return None


def priority_parts(parts: Any, *, posts: dict[int, PostRef] | None = None) -> list[PriorityPart]:
    """The parts that explain a case's priority, one line each whatever the JSON; a part with
    a "mention_id" names that post when posts (the case's, by mention id) holds it."""
    posts = posts or {}

    def line(name: str, value: Any) -> PriorityPart:
        mention_id = _part_mention_id(value)
        post = posts.get(mention_id) if mention_id is not None else None
        return PriorityPart(name=name, value=_part_value(value), post=post)

    if isinstance(parts, dict):
        return [line(str(name).replace("_", " "), v) for name, v in parts.items()]
    if isinstance(parts, list):
        lines = []
        for part in parts:
            if isinstance(part, dict) and ("name" in part or "label" in part):
                name = str(part.get("name") or part.get("label"))
                rest = {k: v for k, v in part.items() if k not in ("name", "label")}
                lines.append(line(name, rest))
            else:
                lines.append(line("", part))
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
    # The brand's MentionMatch.label of a mention ("" when the brand has no match of it: a
    # post of the brand's own that its query does not name).
    match_label: str = ""

    @property
    def effective_label(self) -> str:
        """A mention's effective label for the case's brand: the latest correction, else the
        brand's match label (Earshot's, or the brand's own model's), else Earshot's label
        ("" for a reply or a note)."""
        if self.correction is not None:
            return self.correction.label
        if self.match_label:
            return self.match_label
        mention = getattr(self.obj, "mention", None)
        return mention.our_label if mention is not None else ""


@dataclass(frozen=True)
class ReplyTarget:
    """A customer post of the case the agent may answer, and how a reply to it goes out."""

    post: PostRef
    channel: ReplyChannel
    platform: str = ""


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
    # The channel of the chosen reply target (what the reply box offers).
    reply_channel: ReplyChannel
    previous_id: int | None
    next_id: int | None
    author_link: str = ""
    priority_parts: list[PriorityPart] = field(default_factory=list)
    # The customer posts a reply may answer (oldest first) and the chosen one's mention id.
    reply_targets: list[ReplyTarget] = field(default_factory=list)
    reply_target_id: int | None = None
    # Whether any target's source can post replies: the Send button is on the page (hidden
    # while the chosen target's source cannot, case.js shows it when one that can is chosen).
    can_send_any: bool = False
    # The post that made the case need an answer, and since when.
    needs_answer: PostRef | None = None
    # "first_response", "resolution" or "": which deadline is overdue (sla_overdue_deadline).
    overdue: str = ""
    care_enabled: bool = True

    @property
    def reply_target(self) -> ReplyTarget | None:
        for target in self.reply_targets:
            if target.post.mention_id == self.reply_target_id:
                return target
        return None

    @property
    def is_history(self) -> bool:
        return self.case.is_history


def case_conversation(*, case: Case) -> list[Entry]:
    """Mentions (the author's and the brand's own), Earshot replies and notes, oldest first."""
    links = (
        CaseMention.objects.filter(case=case)
        .select_related("mention__author", "mention__source")
        .prefetch_related(_corrections_prefetch())
        .annotate(
            match_label=Subquery(
                MentionMatch.objects.filter(
                    mention_id=OuterRef("mention_id"), brand_id=case.brand_id
                ).values("label")[:1]
            )
        )
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
                match_label=link.match_label or "",
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


def case_reply_targets(*, conversation: list[Entry]) -> list[ReplyTarget]:
    """The case's customer posts (not the brand's own), oldest first, each with the channel a
    reply to it takes (source_reply_channel). No query: the conversation holds the sources."""
    targets = []
    for entry in conversation:
        if entry.kind == "mention" and not entry.obj.is_brand_reply:
            mention = entry.obj.mention
            targets.append(
                ReplyTarget(
                    post=post_ref(mention),
                    channel=source_reply_channel(source=mention.source),
                    platform=mention.platform or "",
                )
            )
    return targets


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


def case_page(*, case: Case, target_id: int | None = None, now: datetime | None = None) -> CasePage:
    """Everything the case page shows besides presence (the caller already checked access).

    target_id: the reply target the agent chose (a customer post of the case); anything else
    falls back to the default (default_reply_target_id).
    """
    conversation = case_conversation(case=case)
    customer_posts = [
        e.obj.mention for e in conversation if e.kind == "mention" and not e.obj.is_brand_reply
    ]
    posts = {e.obj.mention_id: post_ref(e.obj.mention) for e in conversation if e.kind == "mention"}
    targets = case_reply_targets(conversation=conversation)
    if target_id is None or target_id not in {t.post.mention_id for t in targets}:
        target_id = default_reply_target_id(case=case, customer_posts=customer_posts)
    chosen = next((t for t in targets if t.post.mention_id == target_id), None)
    needs_answer = None
    if case.answer_target_id:
        needs_answer = posts.get(case.answer_target_id)
        if needs_answer is None and case.answer_target is not None:
            needs_answer = post_ref(case.answer_target, in_conversation=False)
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
        reply_channel=(
            chosen.channel if chosen else ReplyChannel(can_send=False, why_not=NO_CUSTOMER_POST)
        ),
        previous_id=previous_id,
        next_id=next_id,
        author_link=web_url(case.author.profile_url) if case.author else "",
        priority_parts=priority_parts(case.priority_parts, posts=posts),
        reply_targets=targets,
        reply_target_id=target_id,
        can_send_any=any(t.channel.can_send for t in targets),
        needs_answer=needs_answer,
        overdue=sla_overdue_deadline(case, now or timezone.now()),
        care_enabled=care_enabled(case.brand),
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
    """An author as seen by one brand: 404 unless the user is a member and the brand heard them.

    Read-only, for every role that may read author pages (VIEW_AUTHORS, marketers included):
    what the page links to or offers beyond reading is the view's to decide. Labels are the
    brand's effective ones (MentionMatch.label: an agent's correction counts).
    """
    if brand_id is None:
        raise Http404("No such page.")
    require(user, brand_id, Action.VIEW_AUTHORS)
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
        Mention.objects.filter(author_id=author_id, matches__brand_id=brand_id)
        .annotate(effective_label=F("matches__label"))
        .order_by("-published_at")[:100]
    )
    for mention in mentions:
        mention.effective_label_text = label_text(mention.effective_label)
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
    compound (Earshot's; None when unscored), label (effective), label_text (as shown), text
    and case_id / case_kind / case_opened (the mention opened its case);
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
                "compound": mention.our_compound,
                "label": match.label,
                "label_text": match.label_text,
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
