from django.urls import path

from wangge.points import views

app_name = "points"
urlpatterns = [
    path("", views.home, name="home"),
    path("mine/", views.mine, name="mine"),
    path("workers/<int:user_id>/", views.worker, name="worker"),
    path("rankings/", views.rankings, name="rankings"),
    path("rules/", views.rules, name="rules"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/<int:reward_id>/redeem/", views.redeem, name="redeem"),
]
