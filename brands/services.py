"""Writes of the brands app: the audit log, and memberships made from the admin (new users,
staff access for brand admins). The sign-in limiter is in signin_services.py."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from brands.models import AuditLog, Brand, Membership


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


# --- audit -----------------------------------------------------------------------------------


class _AuditEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, models.Model):
            return str(o)
        if isinstance(o, set | frozenset):
            return sorted(o)
        return super().default(o)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, cls=_AuditEncoder))


def audit_record(
    *,
    actor: Any,
    brand: Brand | None,
    action: str,
    obj: models.Model,
    before: dict[str, Any],
    after: dict[str, Any],
) -> AuditLog:
    """Write one audit entry. Not idempotent (each call is one entry); touches AuditLog only.

    before/after may hold datetimes, model instances (stored as their str) and sets.
    """
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        brand=brand,
        action=action,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        before=_jsonable(before),
        after=_jsonable(after),
    )
