"""Authentication backend: Django's ModelBackend behind the one sign-in limiter."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from brands.signin_services import (
    REFUSED_UNTIL_ATTR,
    signin_attempt_record,
    signin_key,
    signin_refused_until,
)


class LimitedModelBackend(ModelBackend):
    """ModelBackend that refuses, without checking the password, a username that failed too
    often from this address (see selectors.py login_refused_until), and records every attempt.

    Being the backend, it limits every caller of authenticate(): the sign-in page, the
    admin's sign-in page, a later API. PermissionDenied makes authenticate() stop and send
    user_login_failed, as for a wrong password; the refusal's end is noted on the request
    for the form to show.
    """

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        if username is None or password is None:
            # Not a password sign-in (or another backend's credentials): nothing to count.
            return None
        key_username, ip = signin_key(request=request, username=username)
        refused_until = signin_refused_until(username=key_username, ip=ip)
        if refused_until is not None:
            signin_attempt_record(username=key_username, ip=ip, succeeded=False)
            if request is not None:
                setattr(request, REFUSED_UNTIL_ATTR, refused_until)
            raise PermissionDenied("too many sign-in attempts")
        if _unstorable(username):
            # No user can have this name, and PostgreSQL refuses to even compare with a NUL:
            # a failure, after the same hashing work as ModelBackend's unknown-user path.
            get_user_model()().set_password(password)
            user = None
        else:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        signin_attempt_record(username=key_username, ip=ip, succeeded=user is not None)
        return user

    @staticmethod
    def _username_field() -> str:
        return get_user_model().USERNAME_FIELD


def _unstorable(username: object) -> bool:
    """NUL or a lone surrogate: text the database cannot hold or compare."""
    text = str(username)
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
