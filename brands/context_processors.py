"""What the main navigation needs on every page: which sections the user may open at all."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from brands.permissions import Action, brand_ids_for


def navigation(request: HttpRequest) -> dict[str, object]:
    """``nav_customers``: whether the user is an admin of some brand (customer data is for
    brand admins only). Lazy: evaluated only by a page that shows the navigation, and then
    answered from the roles the permission checks already cache on the user."""
    user = getattr(request, "user", None)
    return {
        "nav_customers": SimpleLazyObject(
            lambda: user is not None and bool(brand_ids_for(user, Action.VIEW_CUSTOMERS))
        )
    }
