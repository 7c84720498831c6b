"""Routes of the queue (see engagement/urls/__init__.py)."""

from django.urls import path

from engagement.views import queue as views
from engagement.views.case import case_claim

urlpatterns: list = [
    path("queue/", views.queue, name="queue"),
    path("queue/counts/", views.queue_counts, name="queue-counts"),
    path("queue/next/", views.next_case, name="next"),
    # The queue row's claim: the case page's claim view, answering with the row.
    path("queue/<int:case_id>/claim/", case_claim, {"answer": "row"}, name="claim"),
]
