"""Routes of urls_case (see engagement/urls.py)."""

urlpatterns: list = []
