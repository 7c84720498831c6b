"""Reads of the queue: its tabs, counts, rows and similar-request counts. Every selector is
scoped through brands.permissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from brands.models import Brand
from brands.permissions import ALLOWED, Action, brand_ids_for, can, get_for_user
from engagement.models import CareSettings, Case, CaseMention

# Tab counts stop at this many rows: counting a huge tab exactly reads every row of it,
# and "10,000+" tells an agent as much as "123,456" does.
QUEUE_COUNT_CAP = 10_000


def queue_brand_ids(*, user) -> list[int]:
    return brand_ids_for(user, Action.VIEW_QUEUE)


def queue_assignees(*, user) -> QuerySet:
    """People who can be assigned cases in the user's queue brands (agents and admins)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__brand_id__in=queue_brand_ids(user=user),
            memberships__role__in=ALLOWED[Action.WORK_CASES],
        )
        .distinct()
        .order_by("username")
    )


def care_off_brand_ids_q() -> QuerySet:
    """The ids of brands whose care is off (CareSettings.care_enabled False), as a subquery:
    their cases, even those opened before care was switched off, are not in the queue. A
    brand without care settings has care on."""
    return CareSettings.objects.filter(care_enabled=False).values("brand_id")


@dataclass(frozen=True)
class CareOffBrand:
    """A brand of the user's queue whose care is off, and where to turn it on (a link to its
    care settings in admin, only for a user who may change them; else empty)."""

    brand: Brand
    settings_url: str = ""


def queue_care_off_brands(*, user) -> list[CareOffBrand]:
    """The user's queue brands whose care is off, by name. One query."""
    rows = (
        CareSettings.objects.filter(brand_id__in=queue_brand_ids(user=user), care_enabled=False)
        .select_related("brand")
        .order_by("brand__name")
    )
    result = []
    for care in rows:
        url = ""
        if user.is_staff and can(user, care.brand_id, Action.CONFIGURE):
            url = reverse("admin:engagement_caresettings_change", args=[care.pk])
        result.append(CareOffBrand(brand=care.brand, settings_url=url))
    return result


def _tab_q(tab: str) -> Q:
    # Spelled as status IN (...) rather than status <> 'resolved' so that case_queue_idx
    # (brand, kind, status, -priority) serves the open tabs. History cases are filed
    # resolved; the open tabs say so again, so a history case never enters the live queue.
    if tab == "resolved":
        return Q(status=Case.Status.RESOLVED)
    kind = Case.Kind.ADVOCATE if tab == "advocate" else Case.Kind.CARE
    return Q(kind=kind, status__in=Case.OPEN_STATUSES, is_history=False)


def overdue_q(now: datetime | None = None) -> Q:
    """Case.is_overdue as a filter: first response late, or (once answered) resolution late."""
    now = now or timezone.now()
    return Q(status__in=Case.OPEN_STATUSES) & (
        Q(first_response_at__isnull=True, first_response_due__lt=now)
        | Q(first_response_at__isnull=True, first_response_due__isnull=True, resolution_due__lt=now)
        | Q(first_response_at__isnull=False, resolution_due__lt=now)
    )


def _worst_label_q(label: str) -> Q:
    """The effective label of the case's worst customer mention (negative < neutral <
    positive; "unscored" when no customer mention was scored): the brand's
    MentionMatch.label, which an agent's correction overrides.

    EXISTS over casemention_case_idx and match_unique_brand (mention, brand): a page of
    candidates costs two index probes each, and the filter needs no column kept in sync on
    Case.
    """

    def with_label(value: str) -> Exists:
        # One filter() call: the brand and the label must be of the same MentionMatch row.
        return Exists(
            CaseMention.objects.filter(
                case=OuterRef("pk"),
                is_brand_reply=False,
                mention__matches__brand_id=F("brand_id"),
                mention__matches__label=value,
            )
        )

    negative, neutral = with_label("negative"), with_label("neutral")
    if label == "negative":
        return Q(negative)
    if label == "neutral":
        return Q(neutral) & ~Q(negative)
    positive = with_label("positive")
    if label == "unscored":
        # Nothing scored to rank it by: every customer post is in a language Earshot does
        # not score.
        return Q(with_label("unscored")) & ~Q(negative) & ~Q(neutral) & ~Q(positive)
    return Q(positive) & ~Q(negative) & ~Q(neutral)


def _filtered(*, user, filters: dict) -> QuerySet[Case]:
    """The user's queue cases narrowed by every filter except the tab."""
    brand_ids = queue_brand_ids(user=user)
    brand = filters.get("brand")
    if brand is not None:
        brand_ids = [b for b in brand_ids if b == brand.pk]
    qs = Case.objects.filter(brand_id__in=brand_ids).exclude(brand_id__in=care_off_brand_ids_q())
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("band"):
        qs = qs.filter(priority_band=filters["band"])
    if filters.get("sentiment"):
        qs = qs.filter(_worst_label_q(filters["sentiment"]))
    if filters.get("source"):
        qs = qs.filter(
            Exists(
                CaseMention.objects.filter(
                    case=OuterRef("pk"), mention__source__kind=filters["source"]
                )
            )
        )
    assignee = filters.get("assignee")
    if assignee == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee_id=int(assignee))
    if filters.get("mine"):
        qs = qs.filter(assignee=user)
    if filters.get("overdue"):
        qs = qs.filter(overdue_q())
    return qs


def _ordered(qs: QuerySet[Case], *, tab: str, filters: dict) -> QuerySet[Case]:
    if filters.get("sort") == "age":
        # case_age_idx (brand, opened_at).
        return qs.order_by("opened_at", "pk")
    if tab == "resolved":
        return qs.order_by("-resolved_at", "-pk")
    # case_queue_idx (brand, kind, status, -priority); ties as case_claim_next breaks them.
    return qs.order_by("-priority", "opened_at", "pk")


# What a queue row shows, read as plain values: building Case, Brand, Author and User instances
# (and prefetching tags onto them) for 50 rows cost about 9 ms a page against 4 ms for values.
QUEUE_ROW_FIELDS = {
    "pk": "pk",
    "brand_id": "brand_id",
    "brand_name": "brand__name",
    "kind": "kind",
    "status": "status",
    "subject": "subject",
    "priority": "priority",
    "priority_band": "priority_band",
    "similarity_key": "similarity_key",
    "opened_at": "opened_at",
    "first_response_at": "first_response_at",
    "resolved_at": "resolved_at",
    "first_response_due": "first_response_due",
    "resolution_due": "resolution_due",
    "author_id": "author_id",
    "author_handle": "author__handle",
    "author_display_name": "author__display_name",
    "author_followers": "author__followers",
    "assignee_id": "assignee_id",
    "assignee_username": "assignee__username",
    "is_history": "is_history",
}


@dataclass(slots=True)
class QueueRow:
    """One case as the queue lists it (see QUEUE_ROW_FIELDS), with its tags and the number of
    other open cases saying the same thing."""

    pk: int
    brand_id: int
    brand_name: str
    kind: str
    status: str
    subject: str
    priority: float
    priority_band: str
    similarity_key: str
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    author_id: int | None
    author_handle: str | None
    author_display_name: str | None
    author_followers: int | None
    assignee_id: int | None
    assignee_username: str | None
    is_history: bool
    tags: list[str] = field(default_factory=list)
    similar: int = 0
    # Why the agent's last action on this row failed (a claim lost to someone else).
    error: str = ""


def _queue_rows(qs: QuerySet[Case]) -> list[QueueRow]:
    """The rows of qs in its order, with tags and similar counts: three queries."""
    names, paths = list(QUEUE_ROW_FIELDS), list(QUEUE_ROW_FIELDS.values())
    rows = [QueueRow(**dict(zip(names, values, strict=True))) for values in qs.values_list(*paths)]
    by_pk = {row.pk: row for row in rows}
    if by_pk:
        tagged = (
            Case.tags.through.objects.filter(case_id__in=by_pk)
            .order_by("tag__name")
            .values_list("case_id", "tag__name")
        )
        for case_id, name in tagged:
            by_pk[case_id].tags.append(name)
        for pk, count in queue_similar_counts(cases=rows).items():
            by_pk[pk].similar = count
    return rows


def queue_page(*, user, tab: str, filters: dict, offset: int, limit: int) -> list[QueueRow]:
    """One page of the user's queue tab, filtered and sorted.

    The page's ids are picked in a subquery that sorts narrow rows: sorting the joined rows
    (brand, author, assignee) of a 100,000-case tab made Postgres join them all before its
    top-N sort (~400 ms); joining only the page's 50 rows takes a sixth of that.
    """
    ids = _ordered(
        _filtered(user=user, filters=filters).filter(_tab_q(tab)), tab=tab, filters=filters
    ).values("pk")[offset : offset + limit]
    return _queue_rows(_ordered(Case.objects.filter(pk__in=ids), tab=tab, filters=filters))


def queue_row_get(*, user, case_id: int) -> QueueRow:
    """One case's queue row: 404 outside the user's brands, 403 without VIEW_QUEUE."""
    case = get_for_user(Case.objects.only("brand_id"), user, Action.VIEW_QUEUE, pk=case_id)
    return _queue_rows(Case.objects.filter(pk=case.pk))[0]


def queue_counts(*, user, filters: dict) -> dict[str, int]:
    """Cases per tab under the same filters, each counted up to QUEUE_COUNT_CAP + 1 rows
    (a count above the cap means "more than QUEUE_COUNT_CAP")."""
    base = _filtered(user=user, filters=filters).order_by()
    return {
        tab: base.filter(_tab_q(tab)).values("pk")[: QUEUE_COUNT_CAP + 1].count()
        for tab in ("care", "advocate", "resolved")
    }


# Similar-request counts stop here: the queue only needs to say "99+", and a viral complaint
# can put tens of thousands of cases behind one key (an uncapped count took 55 ms a page).
SIMILAR_COUNT_CAP = 100


def queue_similar_counts(*, cases: list) -> dict[int, int]:
    """For each case (a Case or a QueueRow): how many other open cases of its brand share its
    similarity key.

    One query for the whole page: a capped count per distinct (brand, key), each served by
    case_similar_idx (brand, similarity_key). Counts stop at SIMILAR_COUNT_CAP - 1 others.
    """
    keys = sorted({(c.brand_id, c.similarity_key) for c in cases if c.similarity_key})
    if not keys:
        return {}
    table = Case._meta.db_table
    values = ", ".join(["(%s, %s)"] * len(keys))
    statuses = ", ".join(["%s"] * len(Case.OPEN_STATUSES))
    # VALUES columns are column1, column2 on both PostgreSQL and SQLite.
    sql = (
        f"SELECT k.column1, k.column2, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} c"  # noqa: S608
        f" WHERE c.brand_id = k.column1 AND c.similarity_key = k.column2"
        f" AND c.status IN ({statuses}) LIMIT %s) capped) FROM (VALUES {values}) AS k"
    )
    params = [*map(str, Case.OPEN_STATUSES), SIMILAR_COUNT_CAP, *(v for key in keys for v in key)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        totals = {(int(b), k): n for b, k, n in cursor.fetchall()}
    counts = {}
    for case in cases:
        total = totals.get((case.brand_id, case.similarity_key), 0)
        others = total - (1 if case.status in Case.OPEN_STATUSES else 0)
        if case.similarity_key and others > 0:
            counts[case.pk] = others
    return counts
