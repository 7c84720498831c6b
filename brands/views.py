"""Sign-in (the admin's too) under the sign-in limiter, sign-out, password change and the
home page that sends each role where it works."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from brands.forms import LoginForm
from brands.permissions import Action, brand_ids_for, brands_for


class LoginView(auth_views.LoginView):
    """Django's sign-in, refused with 429 while the sign-in limiter holds.

    The limit lives in the authentication backend (brands.backends), so the admin's
    sign-in page and any later API share it; this view only turns a refusal into a 429 page
    that says when to try again. A refused attempt never reaches the password check.
    """

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        """Without a ?next=, each role lands on its own home: agents and admins on the queue,
        marketers on their dashboard (LOGIN_REDIRECT_URL, the queue, is a 403 for them)."""
        return home_url_for(self.request.user) or super().get_default_redirect_url()

    def form_invalid(self, form):
        if not form.has_error(NON_FIELD_ERRORS, "signin_refused"):
            return super().form_invalid(form)
        refused = form.non_field_errors()[0]
        username = form.data.get("username", "")
        fresh = self.get_form_class()(self.request, initial={"username": username})
        context = self.get_context_data(form=fresh, refused=refused)
        return self.render_to_response(context, status=429)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


def home_url_for(user) -> str:
    """Where a signed-in user works: the queue for agents and admins, the dashboard for
    marketers, "" for someone with no role (names only: brands imports no other app)."""
    if brand_ids_for(user, Action.VIEW_QUEUE):
        return reverse("engagement:queue")
    if brand_ids_for(user, Action.VIEW_DASHBOARD):
        try:
            return reverse("dashboard:mentions")
        except NoReverseMatch:
            pass
    return ""


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous → sign-in; agents and admins → the queue; marketers → their dashboard."""
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    url = home_url_for(user)
    return redirect(url) if url else no_access(request, status=200)


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
