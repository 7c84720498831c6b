from django.urls import path

from demo import views

app_name = "demo"

# Mounted at /listening/demo/ (config/urls.py), where stored demo sources expect them.
urlpatterns = [
    path("feeds/<slug:name>.<str:ext>", views.demo_feed, name="feed"),
    # The demo's Hacker News (Algolia) and Mastodon APIs: a source's URL is the part before
    # /api/v1/, which the connectors append themselves.
    path("hn/api/v1/search_by_date", views.demo_hn_search, name="hn-search"),
    path("hn/api/v1/users/<str:username>", views.demo_hn_user, name="hn-user"),
    path(
        "mastodon/api/v1/timelines/tag/<str:tag>",
        views.demo_mastodon_tag,
        name="mastodon-tag",
    ),
]
