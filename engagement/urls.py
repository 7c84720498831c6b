"""The engagement URLs, namespace "engagement": the queue and its pages (urls_queue) and the
case pages (urls_case), kept in separate modules so each area's routes live beside its views."""

from engagement import urls_case, urls_queue

app_name = "engagement"

urlpatterns = urls_queue.urlpatterns + urls_case.urlpatterns
