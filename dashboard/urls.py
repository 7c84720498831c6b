"""Read-only pages for marketers, namespace "dashboard"."""

from django.urls import path

from dashboard import views, views_report, views_roi
from dashboard.explorer import views as explorer_views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("overview/", views.overview, name="overview"),
    path("share/", views.share, name="share"),
    path("authors/", views.authors, name="authors"),
    path("funnel/", views.funnel, name="funnel"),
    path("care/", views.care, name="care"),
    path("funnel/converted/", views_roi.funnel_converted, name="funnel-converted"),
    path("roi/", views_roi.roi, name="roi"),
    path("roi.csv", views_roi.roi_export, name="roi-export"),
    path("report/", views_report.report, name="report"),
    path("report/subscription/", views_report.report_subscription, name="report-subscription"),
    path("timezone/", views.timezone_set, name="timezone"),
    path("mentions/", views.mentions, name="mentions"),
    path("mentions.csv", views.mentions_export, name="mentions-export"),
    path("corrections.csv", views.corrections_export, name="corrections-export"),
    path("explorer/", explorer_views.explorer, name="explorer"),
    path("explorer.csv", explorer_views.explorer_export, name="explorer-export"),
]
