"""Sign-in, sign-out, password change and the home redirect (no namespace)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from brands import views

urlpatterns: list = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
