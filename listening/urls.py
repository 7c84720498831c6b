from django.urls import path

from listening import views

app_name = "listening"

urlpatterns = [
    path("demo/feeds/<slug:name>.<str:ext>", views.demo_feed, name="demo-feed"),
    # The demo's Hacker News (Algolia) and Mastodon APIs: a source's URL is the part before
    # /api/v1/, which the connectors append themselves.
    path("demo/hn/api/v1/search_by_date", views.demo_hn_search, name="demo-hn-search"),
    path("demo/hn/api/v1/users/<str:username>", views.demo_hn_user, name="demo-hn-user"),
    path(
        "demo/mastodon/api/v1/timelines/tag/<str:tag>",
        views.demo_mastodon_tag,
        name="demo-mastodon-tag",
    ),
]
