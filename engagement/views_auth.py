"""Sign-in with a rate limit, sign-out, password change and the home page that sends each
role where it works."""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from engagement.forms import LoginForm
from engagement.models import LoginAttempt
from engagement.permissions import Action, brand_ids_for, brands_for
from engagement.selectors import login_failures_recent


class LoginView(auth_views.LoginView):
    """Django's sign-in, refused with 429 after too many recent failures.

    Failures are counted per username and per client address (REMOTE_ADDR; behind a proxy
    that rewrites it, set it from the proxy's header in the proxy, not here). A refused
    attempt never reaches the password check, so a guessed password cannot be confirmed
    while the limit holds. Every attempt is recorded, refused ones as failures: an attacker
    who keeps trying keeps the window closed.
    """

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = (request.POST.get("username") or "").strip()[:150]
        ip = request.META.get("REMOTE_ADDR") or None
        retry_at = login_failures_recent(
            username=username,
            ip=ip,
            limit=settings.EARSHOT_LOGIN_RATE_LIMIT,
            window=timedelta(seconds=settings.EARSHOT_LOGIN_RATE_WINDOW),
        )
        if retry_at is not None:
            LoginAttempt.objects.create(username=username, ip=ip, succeeded=False)
            minutes = max(1, math.ceil((retry_at - timezone.now()).total_seconds() / 60))
            unit = "minute" if minutes == 1 else "minutes"
            form = self.get_form_class()(request, initial={"username": username})
            context = self.get_context_data(
                form=form,
                refused=f"Too many sign-in attempts; try again in {minutes} {unit}.",
            )
            return self.render_to_response(context, status=429)
        self._attempt = (username, ip)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        username, ip = self._attempt
        LoginAttempt.objects.create(username=username, ip=ip, succeeded=True)
        return super().form_valid(form)

    def form_invalid(self, form):
        username, ip = self._attempt
        LoginAttempt.objects.create(username=username, ip=ip, succeeded=False)
        return super().form_invalid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous → sign-in; agents and admins → the queue; marketers → their dashboard."""
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if brand_ids_for(user, Action.VIEW_QUEUE):
        return redirect("engagement:queue")
    if brand_ids_for(user, Action.VIEW_DASHBOARD):
        try:
            return redirect(reverse("dashboard:mentions"))
        except NoReverseMatch:
            pass
    return no_access(request, status=200)


def no_access(request: HttpRequest, *, status: int = 403, reason: str = "") -> HttpResponse:
    """A friendly page listing what the user can reach (the queue's 403 uses it too)."""
    try:
        dashboard_url = reverse("dashboard:mentions")
    except NoReverseMatch:
        dashboard_url = ""
    context = {
        "reason": reason,
        "dashboard_brands": brands_for(request.user, Action.VIEW_DASHBOARD),
        "dashboard_url": dashboard_url,
    }
    return render(request, "registration/no_access.html", context, status=status)
