"""Read-only pages for marketers, namespace "dashboard"."""

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("mentions/", views.mentions, name="mentions"),
    path("mentions.csv", views.mentions_export, name="mentions-export"),
    path("corrections.csv", views.corrections_export, name="corrections-export"),
]
