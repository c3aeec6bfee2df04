from django.urls import path

from wangge.perception import views

app_name = "perception"
urlpatterns = [
    path("alarms/", views.inbox, name="inbox"),
    path("alarms/all/", views.alarm_list, name="alarms"),
    path("alarms/<int:alarm_id>/", views.alarm, name="alarm"),
    path("alarms/<int:alarm_id>/contacts/", views.alarm_contacts, name="alarm_contacts"),
    path("devices/", views.device_list, name="devices"),
    path("devices/new/", views.device_new, name="device_new"),
    path("devices/import/", views.device_import, name="device_import"),
    path("devices/<int:device_pk>/", views.device, name="device"),
    path("dead-letters/", views.dead_letters, name="dead_letters"),
    path("plans/", views.plans, name="plans"),
    path("plans/<str:alarm_type>/", views.plan, name="plan"),
]
