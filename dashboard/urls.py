"""Read-only pages for marketers, namespace "dashboard"."""

app_name = "dashboard"

urlpatterns: list = []
