from django.urls import path

from wangge.verification import views

app_name = "verification"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("rounds/new/", views.round_create, name="round_create"),
    path("rounds/<int:round_id>/", views.round_detail, name="round"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("changes/", views.changes, name="changes"),
]
