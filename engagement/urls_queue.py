"""Routes of urls_queue (see engagement/urls.py)."""

from django.urls import path

from engagement import views_queue

urlpatterns: list = [
    path("queue/", views_queue.queue, name="queue"),
    path("queue/counts/", views_queue.queue_counts, name="queue-counts"),
    path("queue/next/", views_queue.next_case, name="next"),
    path("queue/<int:case_id>/claim/", views_queue.claim, name="claim"),
]
