from django.urls import path

from listening import views_hooks

app_name = "hooks"

urlpatterns = [
    path("<str:token>/", views_hooks.webhook_receive, name="receive"),
]
