from django.urls import path

from wangge.people import views

app_name = "people"
urlpatterns = [
    path("", views.search, name="search"),
    path("<int:resident_id>/", views.detail, name="detail"),
    path("import/", views.import_page, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
    path("import/errors/<str:token>/", views.import_errors, name="import_errors"),
    path("export/", views.export, name="export"),
]
