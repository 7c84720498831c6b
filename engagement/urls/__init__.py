"""The engagement URLs, namespace "engagement": the queue (urls/queue.py) and the case pages
(urls/case.py), one module per area as in views/. Sign-in has no namespace: brands/urls.py."""

from engagement.urls import case, queue

app_name = "engagement"

urlpatterns = queue.urlpatterns + case.urlpatterns
