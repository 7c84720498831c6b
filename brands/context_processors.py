"""What the main navigation needs on every page: which sections the user may open at all."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from brands.permissions import Action, brand_ids_for


def navigation(request: HttpRequest) -> dict[str, object]:
    """``nav_customers``: whether the user is an admin of some brand (customer data is for
    brand admins only); ``nav_referrals``: whether they may see some brand's tracked links.
    Lazy: evaluated only by a page that shows the navigation, and then answered from the
    roles the permission checks already cache on the user."""
    user = getattr(request, "user", None)

    def may(action: Action) -> SimpleLazyObject:
        return SimpleLazyObject(lambda: user is not None and bool(brand_ids_for(user, action)))

    return {
        "nav_customers": may(Action.VIEW_CUSTOMERS),
        "nav_referrals": may(Action.VIEW_REFERRALS),
    }
