from django.contrib import admin
from django.urls import include, path

from engagement.forms import AdminLoginForm
from engagement.views_auth import admin_login

# The admin's sign-in goes through the same limiter as /login/ (issue 9): its form says when
# to try again, and admin_login answers 429 while refused.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("listening/", include("listening.urls")),
    path("hooks/", include("listening.urls_hooks")),
    path("dashboard/", include("dashboard.urls")),
    path("", include("engagement.urls")),
    # Sign-in and the home page (no namespace: LOGIN_URL = "login").
    path("", include("engagement.urls_auth")),
]
