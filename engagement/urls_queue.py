"""Routes of urls_queue (see engagement/urls.py)."""

urlpatterns: list = []
