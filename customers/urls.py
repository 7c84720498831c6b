from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.index, name="index"),
    path("import/", views.import_page, name="import"),
    path("matches/", views.matches, name="matches"),
    path("matches/decide/", views.match_decide_view, name="match-decide"),
    path("loyalty/", views.loyalty, name="loyalty"),
    path("loyalty.csv", views.loyalty_export, name="loyalty-export"),
    path("before-after/", views.before_after_view, name="before-after"),
]
