from django.urls import path

from listening import views

app_name = "listening"

urlpatterns = [
    path("demo/feeds/<slug:name>.<str:ext>", views.demo_feed, name="demo-feed"),
]
