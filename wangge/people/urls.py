from django.urls import path

from wangge.people import views

app_name = "people"
urlpatterns = [
    path("", views.search, name="search"),
    path("<int:resident_id>/", views.detail, name="detail"),
]
