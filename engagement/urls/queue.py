"""Routes of the queue (see engagement/urls/__init__.py)."""

from django.urls import path

from engagement.views import queue as views

urlpatterns: list = [
    path("queue/", views.queue, name="queue"),
    path("queue/counts/", views.queue_counts, name="queue-counts"),
    path("queue/next/", views.next_case, name="next"),
    path("queue/<int:case_id>/claim/", views.claim, name="claim"),
]
