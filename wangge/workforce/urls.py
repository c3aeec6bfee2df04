from django.urls import path

from wangge.workforce import views

app_name = "workforce"
urlpatterns = [
    path("", views.worker_list, name="list"),
    path("workers/<int:worker_id>/", views.worker_detail, name="worker"),
    path("workers/<int:worker_id>/status/", views.worker_status, name="worker_status"),
    path("assignments/<int:assignment_id>/end/", views.assignment_end, name="assignment_end"),
    path("assign/", views.assign, name="assign"),
    path("places/<str:code>/", views.team, name="team"),
    path("coverage/", views.coverage, name="coverage"),
    path("m/", views.phone, name="phone"),
    path("duty/<int:session_id>/", views.duty_detail, name="duty"),
    path("import/", views.import_page, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
    path("import/errors/<str:token>/", views.import_errors, name="import_errors"),
    path("units/", views.units, name="units"),
    path("units/<int:unit_id>/", views.unit_detail, name="unit"),
]
