"""Tracked links' URLs, namespace "tracking": the public redirect and conversion endpoints at
the root (/r/<code>, /conversions/), the pages under /tracking/ and the case page's action
under /cases/ beside engagement's."""

from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("r/<str:code>", views.link_redirect, name="redirect"),
    path("conversions/", views.conversion_postback, name="postback"),
    path("conversions/pixel.gif", views.conversion_pixel, name="pixel"),
    path("tracking/links/", views.links, name="links"),
    path("tracking/links/export.csv", views.links_export, name="links-export"),
    path("tracking/links/new/", views.brand_link_create, name="link-create"),
    path("cases/<int:case_id>/tracked-link/", views.case_link_create, name="case-link-create"),
]
