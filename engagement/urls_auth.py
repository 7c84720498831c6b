"""Sign-in, sign-out, password change and the home redirect (no namespace)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from engagement import views_auth

urlpatterns: list = [
    path("", views_auth.home, name="home"),
    path("login/", views_auth.LoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views_auth.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        views_auth.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
