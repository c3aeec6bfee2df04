from django.urls import path

from wangge.cockpit import views

app_name = "cockpit"
urlpatterns = [
    path("", views.home, name="home"),
    path("<str:code>/", views.node, name="node"),
]
