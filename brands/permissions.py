"""Who may do what, per brand. The one place that decides; views and selectors ask here.

A user acts in a brand only through a Membership with a role. Someone with no membership in
a brand gets 404 for anything of it (a guessed URL reveals nothing); a member whose role does
not allow the action gets 403. Superusers are admins of every brand.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from brands.models import Brand, Membership

Role = Membership.Role


class Action(StrEnum):
    VIEW_MENTIONS = "view_mentions"  # mention lists (sentiment explanations: VIEW_QUEUE)
    # Author pages (issue 12): marketers read them from the dashboard's authors page; what
    # the page offers beyond reading asks VIEW_QUEUE (case links) and WORK_CASES (actions).
    VIEW_AUTHORS = "view_authors"
    EXPORT = "export"  # CSV/JSONL exports, labelled corrections
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_QUEUE = "view_queue"  # the queue and case pages
    WORK_CASES = "work_cases"  # claim, assign, reply, note, tag, resolve, correct sentiment
    CONFIGURE = "configure"  # brands, queries, sources, users, saved replies, SLAs, tags
    # Customer data is personal data (issue 14): brand admins only, whatever else a role sees.
    VIEW_CUSTOMERS = "view_customers"  # customers, matches, the loyalty panel and its CSV
    MANAGE_CUSTOMERS = "manage_customers"  # import files, confirm or reject suggestions
    # Tracked links (issue 14): agents put them in replies, marketers in campaigns; the links
    # page with their clicks, sales and revenue, and its CSV, is for admins and marketers.
    MAKE_LINKS = "make_links"
    VIEW_REFERRALS = "view_referrals"
    # The ROI report (issue 14): aggregates only (counts and sums, groups too small to hide
    # one person shown to admins only); anything that lists customers stays VIEW_CUSTOMERS.
    VIEW_ROI = "view_roi"


ALLOWED: dict[Action, frozenset[str]] = {
    Action.VIEW_MENTIONS: frozenset({Role.ADMIN, Role.MARKETER, Role.AGENT}),
    Action.EXPORT: frozenset({Role.ADMIN, Role.MARKETER}),
    Action.VIEW_DASHBOARD: frozenset({Role.ADMIN, Role.MARKETER}),
    Action.VIEW_AUTHORS: frozenset({Role.ADMIN, Role.MARKETER, Role.AGENT}),
    Action.VIEW_QUEUE: frozenset({Role.ADMIN, Role.AGENT}),
    Action.WORK_CASES: frozenset({Role.ADMIN, Role.AGENT}),
    Action.CONFIGURE: frozenset({Role.ADMIN}),
    Action.VIEW_CUSTOMERS: frozenset({Role.ADMIN}),
    Action.MANAGE_CUSTOMERS: frozenset({Role.ADMIN}),
    Action.MAKE_LINKS: frozenset({Role.ADMIN, Role.MARKETER, Role.AGENT}),
    Action.VIEW_REFERRALS: frozenset({Role.ADMIN, Role.MARKETER}),
    Action.VIEW_ROI: frozenset({Role.ADMIN, Role.MARKETER}),
}


def role_in(user, brand_id: int) -> str | None:
    """The user's role in a brand, or None when they are not a member."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = _roles_by_brand(user)
    return roles.get(brand_id)


def _roles_by_brand(user) -> dict[int, str]:
    # Cached on the user object: one query per request however many checks a page makes.
    cached = getattr(user, "_earshot_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("brand_id", "role"))
        user._earshot_roles = cached
    return cached


def can(user, brand_id: int, action: Action) -> bool:
    role = role_in(user, brand_id)
    return role is not None and role in ALLOWED[action]


def require(user, brand_id: int, action: Action) -> None:
    """404 for a non-member (nothing revealed), 403 for a member whose role does not allow."""
    role = role_in(user, brand_id)
    if role is None:
        raise Http404("No such page.")
    if role not in ALLOWED[action]:
        raise PermissionDenied(f"Your role ({role}) does not allow this.")


def brand_ids_for(user, action: Action) -> list[int]:
    """Ids of the brands where the user may perform action."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return list(Brand.objects.values_list("pk", flat=True))
    allowed = ALLOWED[action]
    return [b for b, role in _roles_by_brand(user).items() if role in allowed]


def brands_for(user, action: Action) -> QuerySet[Brand]:
    return Brand.objects.filter(pk__in=brand_ids_for(user, action)).order_by("name")


def scoped(qs: QuerySet, user, action: Action, brand_field: str = "brand") -> QuerySet:
    """Filter any queryset to the brands where the user may perform action."""
    return qs.filter(**{f"{brand_field}__in": brand_ids_for(user, action)})


def get_for_user(qs: QuerySet, user, action: Action, brand_field: str = "brand_id", **lookup):
    """The object matching lookup if the user may perform action on its brand.

    404 when it does not exist or belongs to a brand the user is not a member of; 403 when
    the user is a member whose role does not allow the action.
    """
    obj = qs.filter(**lookup).first()
    if obj is None:
        raise Http404("No such page.")
    brand_id = obj
    for part in brand_field.split("__"):
        brand_id = getattr(brand_id, part)
    require(user, brand_id, action)
    return obj
