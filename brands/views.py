"""Sign-in (the admin's too) under the sign-in limiter, sign-out, password change and the
home page that sends each role where it works."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from brands.forms import LoginForm
from brands.models import Membership
from brands.permissions import Action, Role, brand_ids_for


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
            return reverse("dashboard:overview")
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


# What each role may do, in the words the 403 page uses (brands.permissions.ALLOWED decides).
ROLE_ALLOWS: dict[str, str] = {
    Role.ADMIN: "Everything in the brand: the care queue and its cases, the dashboard, the "
    "mention lists and exports, and its set-up in admin (query, sources, members, care "
    "settings, saved replies).",
    Role.AGENT: "The care queue and its cases (claim, reply, resolve, tag) and the mention "
    "lists. Not the dashboard's figures or exports.",
    Role.MARKETER: "The dashboard, the mention lists and exports. Not the care queue or its cases.",
}


def _reverse_or_empty(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def role_links(role: str, *, is_staff: bool) -> list[tuple[str, str]]:
    """(label, url) of the pages a role works on, its home first (names only: brands imports
    no other app)."""
    queue = ("The care queue", _reverse_or_empty("engagement:queue"))
    dashboard = ("The dashboard", _reverse_or_empty("dashboard:overview"))
    mentions = ("The mention explorer", _reverse_or_empty("dashboard:explorer"))
    admin = ("Admin (brand set-up)", _reverse_or_empty("admin:index"))
    links = {
        Role.ADMIN: [queue, dashboard, *([admin] if is_staff else [])],
        Role.AGENT: [queue, mentions],
        Role.MARKETER: [dashboard],
    }[role]
    return [(label, url) for label, url in links if url]


def access_rows(user) -> list[dict]:
    """One row per brand the user belongs to: its role, what the role allows, where to go.
    One query (none for a superuser, who is an admin of every brand)."""
    if user.is_superuser:
        return [
            {
                "brand": "Every brand (superuser)",
                "role": Role.ADMIN.label,
                "allows": ROLE_ALLOWS[Role.ADMIN],
                "links": role_links(Role.ADMIN, is_staff=True),
            }
        ]
    memberships = (
        Membership.objects.filter(user=user).select_related("brand").order_by("brand__name")
    )
    return [
        {
            "brand": m.brand.name,
            "role": Role(m.role).label,
            "allows": ROLE_ALLOWS[m.role],
            "links": role_links(m.role, is_staff=user.is_staff),
        }
        for m in memberships
    ]


def no_access(request: HttpRequest, *, status: int = 403, reason: str = "") -> HttpResponse:
    """The page for a request the user's role does not allow (and the home page of a user
    with no role): what each of their roles allows and where to go instead; a sign-in link
    for someone not signed in. Brand names are user data: the template escapes them."""
    user = request.user
    context = {
        "status": status,
        "reason": reason,
        "rows": access_rows(user) if user.is_authenticated else [],
        "login_url": f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}",
    }
    return render(request, "registration/no_access.html", context, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403 (config/urls.py): a PermissionDenied anywhere answers with no_access. Our
    PermissionDenied messages are written for users ("Your role (agent) does not allow
    this."); others (Django's own) are not shown."""
    reason = str(exception) if exception and str(exception).startswith("Your role") else ""
    return no_access(request, status=403, reason=reason)
