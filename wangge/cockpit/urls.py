from django.urls import path

from wangge.cockpit import report_views, views

app_name = "cockpit"
urlpatterns = [
    path("", views.home, name="home"),
    path("<str:code>/export.<str:fmt>", report_views.export, name="export"),
    path("<str:code>/brief/", report_views.brief, name="brief"),
    path("<str:code>/", views.node, name="node"),
]
