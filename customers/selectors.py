"""Reads of the customers app. Views check brands.permissions (VIEW_CUSTOMERS) first; these
take the brand the caller was allowed."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from brands.models import Brand
from customers.models import AuthorMatch, Customer, CustomerImport
from listening.models import Author


def loyalists(brand: Brand | int) -> QuerySet[Author]:
    """The brand's social loyalists: authors confirmed as one of its customers (an exact
    handle match, or a suggestion an admin confirmed)."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    return Author.objects.filter(
        pk__in=AuthorMatch.objects.filter(
            brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED
        ).values("author_id")
    )


def loyal_customers(brand_id: int) -> QuerySet[Customer]:
    """Customers with at least one confirmed author."""
    return Customer.objects.filter(
        brand_id=brand_id,
        pk__in=AuthorMatch.objects.filter(
            brand_id=brand_id, status=AuthorMatch.Status.CONFIRMED
        ).values("customer_id"),
    )


def customers_page(*, brand_id: int, q: str = "") -> QuerySet[Customer]:
    """The customer list: each with its order count and confirmed authors' count."""
    qs = Customer.objects.filter(brand_id=brand_id)
    if q:
        qs = qs.filter(
            Q(customer_id__icontains=q)
            | Q(name__icontains=q)
            | Q(email__icontains=q)
            | Q(handles__icontains=q)
        )
    return qs.annotate(
        order_count=Count("orders", distinct=True),
        author_count=Count(
            "matches", filter=Q(matches__status=AuthorMatch.Status.CONFIRMED), distinct=True
        ),
    ).order_by("customer_id")


def matches_page(*, brand_id: int, status: str) -> QuerySet[AuthorMatch]:
    """Matches of a brand by status, most likely first, with customer and author joined."""
    return (
        AuthorMatch.objects.filter(brand_id=brand_id, status=status)
        .select_related("customer", "author", "decided_by")
        .order_by("-confidence", "customer__customer_id", "pk")
    )


def match_get(*, brand_id: int, match_id: int) -> AuthorMatch | None:
    return (
        AuthorMatch.objects.filter(brand_id=brand_id, pk=match_id)
        .select_related("customer", "author", "brand")
        .first()
    )


def imports_recent(*, brand_id: int, limit: int = 20) -> QuerySet[CustomerImport]:
    return CustomerImport.objects.filter(brand_id=brand_id).select_related("user")[:limit]
