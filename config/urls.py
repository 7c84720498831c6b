from django.apps import apps
from django.contrib import admin
from django.urls import include, path

# The demo's feeds and stand-in APIs, only where the demo app is installed (DEBUG or
# EARSHOT_DEMO, config/settings.py); at the paths stored demo sources already point to.
_demo = [path("listening/demo/", include("demo.urls"))] if apps.is_installed("demo") else []

urlpatterns = [
    path("admin/", admin.site.urls),
    *_demo,
    path("hooks/", include("listening.urls_hooks")),
    path("dashboard/", include("dashboard.urls")),
    path("customers/", include("customers.urls")),
    # Tracked links: /r/<code>, /conversions/, /tracking/links/, /cases/<id>/tracked-link/.
    path("", include("tracking.urls")),
    path("", include("engagement.urls")),
    # Sign-in and the home page (no namespace: LOGIN_URL = "login").
    path("", include("brands.urls")),
]

# A refused request says what the user's roles allow and where to go (brands.views); a 404
# uses templates/404.html through Django's own handler.
handler403 = "brands.views.permission_denied"
