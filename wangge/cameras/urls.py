from django.urls import path

from wangge.cameras import views

app_name = "cameras"
urlpatterns = [
    path("", views.camera_list, name="list"),
    path("new/", views.camera_create, name="create"),
    path("<int:camera_id>/", views.camera_detail, name="detail"),
    path("<int:camera_id>/edit/", views.camera_edit, name="edit"),
    path("<int:camera_id>/key/", views.camera_rotate_key, name="rotate_key"),
    path("<int:camera_id>/disable/", views.camera_disable, name="disable"),
    path("<int:camera_id>/snapshot/", views.camera_snapshot, name="snapshot"),
    path("<int:camera_id>/snapshot/upload/", views.snapshot_upload, name="snapshot_upload"),
    path("<int:camera_id>/snapshot/fetch/", views.snapshot_fetch, name="snapshot_fetch"),
    path("<int:camera_id>/zones/new/", views.zone_edit, name="zone_new"),
    path("<int:camera_id>/zones/<int:zone_id>/", views.zone_edit, name="zone_edit"),
    path(
        "episodes/<int:episode_id>/<str:which>.jpg",
        views.episode_snapshot,
        name="episode_snapshot",
    ),
]
