from django.urls import path

from wangge.events import views

app_name = "events"
urlpatterns = [
    path("", views.home, name="home"),
    path("m/", views.phone, name="phone"),
    path("m/report/", views.report, name="report"),
    path("queue/", views.queue, name="queue"),
    path("unit/", views.unit_queue, name="unit"),
    path("spot-checks/", views.spot_checks, name="spot_checks"),
    path("inbox/", views.inbox, name="inbox"),
    path("<int:event_id>/", views.detail, name="detail"),
]
