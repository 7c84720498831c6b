"""The sign-in forms (the site's and the admin's), under the sign-in limiter."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from brands.signin_services import signin_refused_for, signin_refused_message


class RefusedSignInMixin:
    """Say "too many attempts" instead of "wrong password" when the limiter refused the
    attempt (brands.backends): the password was not even checked."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            refused_until = signin_refused_for(self.request)
            if refused_until is None:
                raise
            raise ValidationError(
                signin_refused_message(refused_until), code="signin_refused"
            ) from None


class LoginForm(RefusedSignInMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Both are case-sensitive.",
    }


class AdminLoginForm(RefusedSignInMixin, AdminAuthenticationForm):
    """The admin's sign-in form (config/admin.py), under the same limit as /login/."""
