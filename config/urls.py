from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("listening/demo/", include("demo.urls")),
    path("hooks/", include("listening.urls_hooks")),
    path("dashboard/", include("dashboard.urls")),
    path("", include("engagement.urls")),
    # Sign-in and the home page (no namespace: LOGIN_URL = "login").
    path("", include("engagement.urls_auth")),
]
