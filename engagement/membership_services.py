"""Writes for memberships made from the admin: new users, and staff access for brand admins."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from engagement.models import Membership


def user_create(*, username: str, password: str, email: str = ""):
    """Create an active, non-staff user. Not idempotent: the username must be free.

    Touches: the user table. Raises ValidationError when the password is too weak.
    """
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


def membership_staff_sync(*, membership: Membership) -> None:
    """Give a brand admin is_staff so they can reach /admin/ (idempotent).

    Never takes is_staff away: the user may administer other brands, or be staff for other
    reasons. Touches: the member's user row (is_staff only).
    """
    user = membership.user
    if membership.role == Membership.Role.ADMIN and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
